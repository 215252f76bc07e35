"""Hook patterns and the matcher that maps an event type to the hooks it runs."""

from __future__ import annotations

import re
from fnmatch import translate

from sloth_tui.catalog import pattern_matches_catalog as pattern_matches_catalog
from sloth_tui.model.records import Event, Hook
from sloth_tui.model.rules import check_hook_name as check_hook_name
from sloth_tui.model.rules import check_pattern as check_pattern


class Matcher:
    """Enabled hooks by event type, with a per-type cache rebuilt when hooks change.

    A hook with a stack runs only on events of that stack (Sloth Runner's rule); one
    without runs on every event its patterns match, with a stack or without. A hook with
    a condition (its policy's `when`) runs only on the events that hold it: admit()."""

    def __init__(self) -> None:
        self._hooks: list[tuple[Hook, re.Pattern[str]]] = []
        self._cache: dict[str, list[Hook]] = {}
        self._any_stack = False  # some enabled hook has a stack: filter per event
        self.conditional = False  # some enabled hook has a condition: admit() per event

    def load(self, hooks: list[Hook]) -> None:
        compiled = []
        for hook in hooks:
            if hook.enabled:
                regex = "|".join(f"(?:{translate(p)})" for p in hook.events)
                compiled.append((hook, re.compile(regex)))
        self._hooks = compiled
        self._cache = {}
        self._any_stack = any(hook.stack is not None for hook, _ in compiled)
        self.conditional = any(hook.policy.condition is not None for hook, _ in compiled)

    def match(self, event_type: str, stack: str | None = None) -> list[Hook]:
        """The hooks for an event of this type and stack. The list may be shared with
        the cache: callers never mutate it."""
        hit = self._by_type(event_type)
        if self._any_stack:
            return [hook for hook in hit if hook.stack is None or hook.stack == stack]
        return hit

    def admit(self, hooks: list[Hook], event: Event) -> list[Hook]:
        """Of `hooks` (match()'s), those whose condition holds for `event`: the same list
        when all do (no copy), a new one otherwise. A hook whose condition fails does not
        run and records nothing, as one whose pattern does not match."""
        if not self.conditional:
            return hooks
        kept = [
            hook
            for hook in hooks
            if hook.policy.condition is None or hook.policy.condition.matches(event)
        ]
        return hooks if len(kept) == len(hooks) else kept

    def _by_type(self, event_type: str) -> list[Hook]:
        hit = self._cache.get(event_type)
        if hit is None:
            hit = [hook for hook, regex in self._hooks if regex.match(event_type)]
            if len(self._cache) > 4096:  # user-defined types are unbounded
                self._cache.clear()
            self._cache[event_type] = hit
        return hit
