"""The rules a name, a pattern or an event's data must follow, checked where they enter:
by the engine, by the socket's protocol before a request reaches it, and by the
dashboard's forms as the operator types."""

from __future__ import annotations

import re
from typing import Any

from sloth_tui.model.errors import HookError

MAX_DATA_BYTES = 256 * 1024  # an event's data, encoded as JSON
MAX_DEPTH = 32  # nested containers in an event's data


def nesting_depth(value: Any) -> int:
    """Depth of nested containers, iteratively (a hostile payload must not blow the stack)."""
    deepest = 0
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict):
            deepest = max(deepest, depth)
            stack.extend((v, depth + 1) for v in item.values())
        elif isinstance(item, list):
            deepest = max(deepest, depth)
            stack.extend((v, depth + 1) for v in item)
    return deepest


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
