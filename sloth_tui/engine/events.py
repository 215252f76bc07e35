"""Event names, data validation against the catalog, and construction of Events.

Validation happens once, at the engine's door, for every producer alike.
"""

from __future__ import annotations

import json
import json.encoder
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sloth_tui import catalog
from sloth_tui.catalog import TYPO_RATIO as TYPO_RATIO  # the naming rules live in catalog
from sloth_tui.catalog import check_type_name as check_type_name
from sloth_tui.catalog import unknown_type_warning as unknown_type_warning
from sloth_tui.model.errors import EventRefused
from sloth_tui.model.rules import MAX_DATA_BYTES as MAX_DATA_BYTES
from sloth_tui.model.rules import MAX_DEPTH as MAX_DEPTH
from sloth_tui.model.rules import nesting_depth as nesting_depth


def _not_json(value: object) -> None:
    raise TypeError(f"Object of type {type(value).__name__} is not JSON serializable")


def _build_encoder() -> Callable[[object], str]:
    """One compact encoder, built once: json.dumps with options builds a new one per call,
    and JSONEncoder.encode still builds a C encoder per call (half the cost for small
    events). No circular-reference markers (a shared dict would keep stale entries after
    an error): a cycle ends in RecursionError, which encode_data refuses like deep nesting.
    """
    make = getattr(json.encoder, "c_make_encoder", None)  # not in typeshed
    if make is None:  # an interpreter without the C accelerator
        return json.JSONEncoder(separators=(",", ":"), ensure_ascii=False, allow_nan=False).encode
    chunks = make(
        None, _not_json, json.encoder.encode_basestring, None, ":", ",", False, False, False
    )
    return lambda value: "".join(chunks(value, 0))


_encode = _build_encoder()


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
    if encoded.isascii():
        size = len(encoded)
    else:
        try:
            size = len(encoded.encode())
        except UnicodeEncodeError:  # a lone surrogate, as json.loads('"\\ud800"') makes
            raise EventRefused(
                "event data is not valid UTF-8 text (it holds a lone surrogate)"
            ) from None
    if size > MAX_DATA_BYTES:
        raise EventRefused(f"event data is {size} bytes encoded; the limit is {MAX_DATA_BYTES}")
    # Cheap bound first: fewer opening brackets than the limit means shallow enough.
    if encoded.count("{") + encoded.count("[") > MAX_DEPTH:
        depth = nesting_depth(data)
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


@dataclass(frozen=True, slots=True)
class _FieldCheck:
    name: str  # as the seed writes it: `failed_tasks[]`, `metadata.owner`
    key: str  # first key of the path into event data
    rest: tuple[str, ...]  # the rest of the path, for nested fields
    kind: str
    types: tuple[type, ...]  # what the kind accepts, for isinstance


@dataclass(frozen=True, slots=True)
class _TypeRule:
    """What the door needs to know about one (valid) type name, worked out once."""

    category: str
    checks: tuple[_FieldCheck, ...]  # empty for user-defined types
    unknown: str | None  # a type the catalog lacks in a category it has: the warning


# Valid type names seen so far. Runs per event, so no regex or catalog walk after the
# first time; user-defined names are unbounded, so the cache is cleared when it grows.
_rules: dict[str, _TypeRule] = {}
_RULES_MAX = 4096


def _rule_for(type_name: object) -> tuple[str, _TypeRule]:
    rule = _rules.get(type_name) if isinstance(type_name, str) else None
    if rule is not None:
        return type_name, rule  # type: ignore[return-value]
    name = check_type_name(type_name)
    spec = catalog.get(name)
    checks = tuple(
        _FieldCheck(f.name, f.path[0], f.path[1:], f.kind, _KIND_TYPES[f.kind])
        for f in (spec.fields if spec else ())
    )
    rule = _TypeRule(catalog.category_of(name), checks, unknown_type_warning(name))
    if len(_rules) >= _RULES_MAX:
        _rules.clear()
    _rules[name] = rule
    return name, rule


def _warnings(checks: tuple[_FieldCheck, ...], data: dict[str, Any]) -> list[str]:
    warnings: list[str] = []
    for check in checks:
        value: Any = data.get(check.key, _MISSING)
        for part in check.rest:
            value = value.get(part, _MISSING) if isinstance(value, dict) else _MISSING
        if value is _MISSING:
            warnings.append(f"missing field {check.name}")
        elif not isinstance(value, check.types):
            article = "an" if check.kind == "object" else "a"
            warnings.append(
                f"field {check.name} should be {article} {check.kind}, got {type(value).__name__}"
            )
    return warnings


def catalog_warnings(type_name: str, data: dict[str, Any]) -> list[str]:
    """Mismatches between `data` and the catalog entry of `type_name`; for a type the
    catalog lacks in one of its categories (a likely typo), that warning alone."""
    rule = _rule_for(type_name)[1]
    if rule.checks:
        return _warnings(rule.checks, data)
    return [rule.unknown] if rule.unknown else []


@dataclass(slots=True)
class CheckedEvent:
    """An event that passed the door: what the store needs, encoded once."""

    type: str
    category: str
    data: dict[str, Any]
    encoded: str
    warnings: list[str]


def checked_parts(
    type_name: object, data: object, *, strict: bool
) -> tuple[str, str, dict[str, Any], str, list[str]]:
    """check_event as a plain tuple (type, category, data, encoded, warnings): the
    engine's per-event path, where building a CheckedEvent costs more than it gives."""
    rule = _rules.get(type_name) if type(type_name) is str else None
    if rule is None:
        type_name, rule = _rule_for(type_name)
    if data is None:
        data = {}
    encoded = encode_data(data)
    if rule.checks:
        warnings = _warnings(rule.checks, data)  # type: ignore[arg-type]
    else:
        warnings = [rule.unknown] if rule.unknown else []
    if strict and warnings:
        raise EventRefused(
            f"{type_name} does not match the catalog (strict mode): {'; '.join(warnings)}"
        )
    return type_name, rule.category, data, encoded, warnings  # type: ignore[return-value]


def check_event(type_name: object, data: object, *, strict: bool) -> CheckedEvent:
    return CheckedEvent(*checked_parts(type_name, data, strict=strict))


CONTEXT_MAX = 256  # characters in a stack, agent or run id


def check_context(field: str, value: object) -> str | None:
    """A stack, agent or run id as given by a producer: None (or "") for none, else one
    line of storable text. Refused with a one-line reason; the text itself is data."""
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise EventRefused(f"{field} must be text, not {type(value).__name__}")
    if len(value) > CONTEXT_MAX:
        raise EventRefused(f"{field} is longer than {CONTEXT_MAX} characters")
    if any(c < " " or c == "\x7f" for c in value):
        raise EventRefused(f"{field} must be one line of text (no control characters)")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise EventRefused(f"{field} is not valid UTF-8 text (a lone surrogate)") from None
    return value
