"""A webhook's mapping: from an incoming JSON payload to event types and data.

The mapping is data, never code: paths into the payload, constants, and equality tests.

- A path is a root and dotted keys: `payload.repository.full_name`, `item.labels.alertname`
  (`item` is the current element when the webhook has `each`), `headers.X-GitHub-Event`
  (one header, any case). A key of digits indexes a list (`payload.commits.0.id`).
- A field is a path (required: a payload without it is refused, naming the path), a
  {path, default} (the default when the path is missing; `path` may be a list: the first
  present wins), a {value} (a constant), or a table of fields (nested event data).
- A case is {when, event, data} or {when, ignore}: the first case whose every `when`
  path equals its value (or one of its values) gives the type and the data; a webhook's
  own `event`/`data` is the last case, taken when no other holds.

Resolving never evaluates payload text: it only looks keys up and copies values.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping as AbcMapping
from dataclasses import dataclass
from typing import Any

ROOTS = ("payload", "item", "headers")
MAX_PATH_CHARS = 512
MAX_SEGMENTS = 32
# One header name: RFC 9110's token characters.
_HEADER_RE = re.compile(r"^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$")
_FIELD_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,63}$")
_INDEX_RE = re.compile(r"^[0-9]{1,9}$")
_MISSING = object()


class MappingError(Exception):
    """A payload the mapping cannot map (a required path is missing): refused with 422."""


class SpecError(ValueError):
    """A mapping in config.toml that is not well formed; the message names the key."""


@dataclass(frozen=True, slots=True)
class Path:
    """A parsed path: its root and its keys, and the text it was written as."""

    text: str
    root: str
    keys: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Field:
    """One event data field: paths (first present wins), else default, else required.
    A constant is a Field with no paths and a default."""

    paths: tuple[Path, ...]
    default: Any = _MISSING

    @property
    def required(self) -> bool:
        return self.default is _MISSING


# A data mapping: field name -> Field, or a nested DataSpec (a table of fields).
DataSpec = tuple[tuple[str, "Field | DataSpec"], ...]


@dataclass(frozen=True, slots=True)
class Case:
    when: tuple[tuple[Path, tuple[Any, ...]], ...]  # all must hold; each: one of the values
    event: str | None  # None: ignore (answer 200, record nothing)
    data: DataSpec


@dataclass(frozen=True, slots=True)
class Mapping:
    each: Path | None  # one event per element of this array
    cases: tuple[Case, ...]  # the first case that holds wins


@dataclass(frozen=True, slots=True)
class Mapped:
    """The result for one payload: the events to dispatch, and how many items were ignored."""

    events: tuple[tuple[str, dict[str, Any]], ...]
    ignored: int


# -- parsing (config time) ---------------------------------------------------------------


def parse_path(text: object, *, allow_item: bool) -> Path:
    """A path as config.toml writes it; SpecError says what is wrong with it."""
    if not isinstance(text, str) or not text:
        raise SpecError("a path must be text such as payload.repository.full_name")
    if len(text) > MAX_PATH_CHARS:
        raise SpecError(f"a path is longer than {MAX_PATH_CHARS} characters")
    if any(c < " " or c == "\x7f" for c in text):
        raise SpecError("a path must not contain control characters")
    root, _, rest = text.partition(".")
    if root not in ROOTS:
        raise SpecError(f"path {text!r} must start with payload., item. or headers.")
    if root == "item" and not allow_item:
        raise SpecError(f'path {text!r} uses item, which needs each = "payload.LIST"')
    keys = tuple(rest.split(".")) if rest else ()
    if any(not key for key in keys):
        raise SpecError(f"path {text!r} has an empty key (two dots, or a dot at an end)")
    if len(keys) > MAX_SEGMENTS:
        raise SpecError(f"path {text!r} has more than {MAX_SEGMENTS} keys")
    if root == "headers":
        if len(keys) != 1 or not _HEADER_RE.fullmatch(keys[0]):
            raise SpecError(f"path {text!r}: write headers.NAME with one header name")
        keys = (keys[0].lower(),)
    return Path(text, root, keys)


def check_constant(value: object, where: str) -> Any:
    """A constant from TOML, as JSON can carry it (no dates, no NaN)."""
    if isinstance(value, bool | str | int):
        return value
    if isinstance(value, float):
        if not math.isfinite(value):
            raise SpecError(f"{where}: {value} is not a number JSON can carry")
        return value
    if isinstance(value, list):
        return [check_constant(v, where) for v in value]
    if isinstance(value, dict):
        return {str(k): check_constant(v, where) for k, v in value.items()}
    raise SpecError(f"{where}: a {type(value).__name__} is not a JSON value")


def parse_field(raw: object, where: str, *, allow_item: bool) -> Field | DataSpec:
    """One field of `data`: "PATH", {path, default}, {value}, or a table of fields."""
    if isinstance(raw, str):
        return Field(paths=(_path(raw, where, allow_item),))
    if not isinstance(raw, dict):
        raise SpecError(
            f'{where}: write a path ("payload.x"), {{ path = "payload.x", default = ... }} '
            "or { value = ... }"
        )
    if "value" in raw:
        if set(raw) != {"value"}:
            raise SpecError(f"{where}: value takes no other keys")
        return Field(paths=(), default=check_constant(raw["value"], where))
    if "path" in raw:
        unknown = set(raw) - {"path", "default"}
        if unknown:
            raise SpecError(f"{where}: unknown key {sorted(unknown)[0]!r} (path, default)")
        given = raw["path"]
        texts = given if isinstance(given, list) else [given]
        if not texts:
            raise SpecError(f"{where}: path is an empty list")
        paths = tuple(_path(text, where, allow_item) for text in texts)
        if "default" in raw:
            return Field(paths=paths, default=check_constant(raw["default"], where))
        return Field(paths=paths)
    return parse_data(raw, where, allow_item=allow_item)


def parse_data(raw: object, where: str, *, allow_item: bool) -> DataSpec:
    """A table of fields (`data`); nested tables make nested event data."""
    if not isinstance(raw, dict):
        raise SpecError(f"{where}: must be a table of fields")
    fields: list[tuple[str, Field | DataSpec]] = []
    for name, value in raw.items():
        if not _FIELD_RE.fullmatch(name):
            raise SpecError(
                f"{where}: field name {name!r} must be letters, digits and _ (64 at most)"
            )
        fields.append((name, parse_field(value, f"{where}.{name}", allow_item=allow_item)))
    return tuple(fields)


def parse_when(
    raw: object, where: str, *, allow_item: bool
) -> tuple[tuple[Path, tuple[Any, ...]], ...]:
    """`when = { "PATH" = VALUE or [VALUES] }`: every path must equal one of its values."""
    if not isinstance(raw, dict) or not raw:
        raise SpecError(f'{where}: write when = {{ "payload.action" = "completed" }}')
    tests: list[tuple[Path, tuple[Any, ...]]] = []
    for text, wanted in raw.items():
        path = _path(text, where, allow_item)
        values = wanted if isinstance(wanted, list) else [wanted]
        if not values or any(isinstance(v, list | dict) for v in values):
            raise SpecError(
                f"{where}: {text} must equal text, a number, true/false or a list of them"
            )
        tests.append((path, tuple(check_constant(v, where) for v in values)))
    return tuple(tests)


def _path(text: object, where: str, allow_item: bool) -> Path:
    try:
        return parse_path(text, allow_item=allow_item)
    except SpecError as exc:
        raise SpecError(f"{where}: {exc}") from None


# -- resolving (request time) --------------------------------------------------------------


def lookup(path: Path, payload: Any, item: Any, headers: AbcMapping[str, str]) -> Any:
    """The value at `path`, or _MISSING. Only looks keys up: nothing is evaluated."""
    if path.root == "headers":
        return headers.get(path.keys[0], _MISSING)
    value = item if path.root == "item" else payload
    for key in path.keys:
        if isinstance(value, dict):
            value = value.get(key, _MISSING)
        elif isinstance(value, list) and _INDEX_RE.fullmatch(key):
            index = int(key)
            value = value[index] if index < len(value) else _MISSING
        else:
            return _MISSING
        if value is _MISSING:
            return _MISSING
    return value


def _same(got: Any, wanted: Any) -> bool:
    """JSON equality that keeps true apart from 1 (Python's True == 1 does not)."""
    if isinstance(got, bool) or isinstance(wanted, bool):
        return isinstance(got, bool) and isinstance(wanted, bool) and got == wanted
    if isinstance(got, int | float) and isinstance(wanted, int | float):
        return got == wanted
    return type(got) is type(wanted) and bool(got == wanted)


def _holds(case: Case, payload: Any, item: Any, headers: AbcMapping[str, str]) -> bool:
    for path, values in case.when:
        got = lookup(path, payload, item, headers)
        if got is _MISSING or not any(_same(got, v) for v in values):
            return False
    return True


def _fill(spec: DataSpec, payload: Any, item: Any, headers: AbcMapping[str, str]) -> dict[str, Any]:
    data: dict[str, Any] = {}
    for name, field in spec:
        if not isinstance(field, Field):
            data[name] = _fill(field, payload, item, headers)
            continue
        value: Any = _MISSING
        for path in field.paths:
            value = lookup(path, payload, item, headers)
            if value is not _MISSING:
                break
        if value is _MISSING:
            if field.required:
                raise MappingError(f"the payload has no {field.paths[0].text}")
            value = field.default
        data[name] = value
    return data


def resolve(
    mapping: Mapping, payload: Any, headers: AbcMapping[str, str], *, max_items: int
) -> Mapped:
    """The events `payload` maps to. MappingError (one line naming the path) when a
    required path is missing, `each` is not a list, no case holds, or there are more than
    `max_items` items. `headers` must have lower-case names."""
    if mapping.each is None:
        items: list[Any] = [payload]
    else:
        found = lookup(mapping.each, payload, None, headers)
        if not isinstance(found, list):
            raise MappingError(f"the payload has no list at {mapping.each.text}")
        if len(found) > max_items:
            raise MappingError(
                f"{mapping.each.text} has {len(found)} elements; at most {max_items} per request"
            )
        items = found
    events: list[tuple[str, dict[str, Any]]] = []
    ignored = 0
    for index, item in enumerate(items):
        case = next((c for c in mapping.cases if _holds(c, payload, item, headers)), None)
        if case is None:
            where = f" (element {index} of {mapping.each.text})" if mapping.each else ""
            raise MappingError(f"no case of the mapping matches the payload{where}")
        if case.event is None:
            ignored += 1
            continue
        try:
            events.append((case.event, _fill(case.data, payload, item, headers)))
        except MappingError as exc:
            if mapping.each is None:
                raise
            raise MappingError(f"{exc} (element {index} of {mapping.each.text})") from None
    return Mapped(tuple(events), ignored)
