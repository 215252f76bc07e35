"""Hook patterns and the matcher that maps an event type to the hooks it runs."""

from __future__ import annotations

import re
from fnmatch import fnmatchcase, translate

from sloth_tui import catalog
from sloth_tui.model.errors import HookError
from sloth_tui.model.records import Hook

_PATTERN_RE = re.compile(r"^[a-z0-9_*?\[\]!.-]+$")
_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")


def check_hook_name(name: str) -> str:
    if not _NAME_RE.match(name or ""):
        raise HookError(
            f"invalid hook name {name!r}: use letters, digits, '-', '_' or '.', "
            "at most 64 characters"
        )
    return name


def check_pattern(pattern: str) -> str:
    """An exact type or a glob (`deploy.*`, `*.failed`, `*`)."""
    if not pattern or not _PATTERN_RE.match(pattern):
        raise HookError(
            f"invalid event pattern {pattern!r}: an event type such as deploy.failed, "
            "or a glob such as deploy.*, *.failed or *"
        )
    return pattern


def pattern_matches_catalog(pattern: str) -> bool:
    """False means the pattern matches no catalog type: worth a warning, still allowed."""
    return any(fnmatchcase(name, pattern) for name in catalog.type_names())


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
