"""Event names, data validation against the catalog, and construction of Events.

Validation happens once, at the engine's door, for every producer alike.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

from sloth_tui import catalog
from sloth_tui.engine.errors import EventRefused

MAX_DATA_BYTES = 256 * 1024
MAX_DEPTH = 32

_NAME_RE = re.compile(r"^[a-z0-9_]+\.[a-z0-9_]+$")
# One encoder, built once: json.dumps with options builds a new one per call.
_encode = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False, allow_nan=False).encode


def check_type_name(name: object) -> str:
    """Return the name if it is `category.action` or `custom`; raise EventRefused otherwise."""
    if not isinstance(name, str) or not name:
        raise EventRefused("event type must be a non-empty string")
    if name == "custom" or _NAME_RE.match(name):
        return name
    raise EventRefused(
        f"invalid event type {name!r}: use category.action (lowercase letters, digits, "
        "underscore, exactly one dot) or custom"
    )


def _nesting_depth(value: Any) -> int:
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


def encode_data(data: object) -> str:
    """Check `data` is a JSON object within limits; return its compact JSON encoding."""
    if not isinstance(data, dict):
        raise EventRefused(f"event data must be a JSON object, not {type(data).__name__}")
    try:
        encoded = _encode(data)
    except (TypeError, ValueError) as exc:
        raise EventRefused(f"event data is not JSON-serialisable: {exc}") from None
    except RecursionError:
        raise EventRefused(f"event data nests deeper than {MAX_DEPTH} levels") from None
    # A character is at most 4 bytes of UTF-8: short strings need no byte count.
    size = len(encoded) if len(encoded) * 4 <= MAX_DATA_BYTES else len(encoded.encode())
    if size > MAX_DATA_BYTES:
        raise EventRefused(f"event data is {size} bytes encoded; the limit is {MAX_DATA_BYTES}")
    # Cheap bound first: fewer opening brackets than the limit means shallow enough.
    if encoded.count("{") + encoded.count("[") > MAX_DEPTH:
        depth = _nesting_depth(data)
        if depth > MAX_DEPTH:
            raise EventRefused(f"event data nests {depth} levels deep; the limit is {MAX_DEPTH}")
    return encoded


# The Python types each catalog field kind accepts (a tuple: isinstance is fastest so).
_KIND_TYPES: dict[str, tuple[type, ...]] = {
    "list": (list,),
    "object": (dict,),
    "scalar": (str, int, float, bool, type(None)),
}
_MISSING = object()

# Per catalog type: (field name, key path, kind, accepted types), built once; runs per event.
_Checks = list[tuple[str, tuple[str, ...], str, tuple[type, ...]]]
_checks_cache: dict[str, _Checks] = {}


def _checks_for(type_name: str) -> _Checks | None:
    checks = _checks_cache.get(type_name)
    if checks is None:
        spec = catalog.get(type_name)
        if spec is None:  # user-defined: not cached, their number is unbounded
            return None
        checks = [(f.name, f.path, f.kind, _KIND_TYPES[f.kind]) for f in spec.fields]
        _checks_cache[type_name] = checks
    return checks


def catalog_warnings(type_name: str, data: dict[str, Any]) -> list[str]:
    """Mismatches between `data` and the catalog entry of `type_name` (none for unknown types)."""
    checks = _checks_for(type_name)
    if not checks:
        return []
    warnings: list[str] = []
    for name, path, kind, types in checks:
        value: Any = data.get(path[0], _MISSING)
        for part in path[1:]:
            value = value.get(part, _MISSING) if isinstance(value, dict) else _MISSING
        if value is _MISSING:
            warnings.append(f"missing field {name}")
        elif not isinstance(value, types):
            article = "an" if kind == "object" else "a"
            warnings.append(f"field {name} should be {article} {kind}, got {type(value).__name__}")
    return warnings


@dataclass(slots=True)
class CheckedEvent:
    """An event that passed the door: what the store needs, encoded once."""

    type: str
    category: str
    data: dict[str, Any]
    encoded: str
    warnings: list[str]


def check_event(type_name: object, data: object, *, strict: bool) -> CheckedEvent:
    name = check_type_name(type_name)
    if data is None:
        data = {}
    encoded = encode_data(data)
    assert isinstance(data, dict)
    warnings = catalog_warnings(name, data)
    if strict and warnings:
        raise EventRefused(
            f"{name} does not match the catalog (strict mode): {'; '.join(warnings)}"
        )
    return CheckedEvent(name, catalog.category_of(name), data, encoded, warnings)
