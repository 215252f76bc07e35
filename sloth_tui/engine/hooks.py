"""Hook patterns and the matcher that maps an event type to the hooks it runs."""

from __future__ import annotations

import re
from fnmatch import translate

from sloth_tui.catalog import pattern_matches_catalog as pattern_matches_catalog
from sloth_tui.model.records import Hook
from sloth_tui.model.rules import check_hook_name as check_hook_name
from sloth_tui.model.rules import check_pattern as check_pattern


class Matcher:
    """Enabled hooks by event type, with a per-type cache rebuilt when hooks change."""

    def __init__(self) -> None:
        self._hooks: list[tuple[Hook, re.Pattern[str]]] = []
        self._cache: dict[str, list[Hook]] = {}

    def load(self, hooks: list[Hook]) -> None:
        compiled = []
        for hook in hooks:
            if hook.enabled:
                regex = "|".join(f"(?:{translate(p)})" for p in hook.events)
                compiled.append((hook, re.compile(regex)))
        self._hooks = compiled
        self._cache = {}

    def match(self, event_type: str) -> list[Hook]:
        hit = self._cache.get(event_type)
        if hit is None:
            hit = [hook for hook, regex in self._hooks if regex.match(event_type)]
            if len(self._cache) > 4096:  # user-defined types are unbounded
                self._cache.clear()
            self._cache[event_type] = hit
        return hit
