"""The filter language shared by the dashboard (`/`), `event list` and `event tail`.

    free text            matches type or data
    type:deploy.*        type glob          cat:security    category
    src:watcher          source glob (`watcher` also matches `watcher:NAME`)
    stack:prod-*         stack glob      agent:web-?     agent glob     run:R42  run id glob
    origin:web-*         the fleet engine it came from   origin:@local  this engine's own
    status:failed        event status       hook:NAME       events that ran hook NAME
    since:10m            stored at or after a time   until:2026-11-30T12:00  before it
    field=value          a data field (dotted path), value parsed as JSON when it parses
    !term                negates any term

One Filter both matches an Event in memory (live rows, `Filter.matches`) and renders to
SQL (history: the store's `filter_sql` in engine/filter_sql.py); both select the same
events. What each term means:

Filter text is split into tokens shell-style (quotes group, `shlex`); an event matches a
filter when it matches every term, and `!term` matches exactly the events `term` does not.

Glob (`type:`, `src:`, `stack:`, `agent:`, `run:`): Python's `fnmatch.fnmatchcase`, the
globs of hook patterns.
`*` matches any run of characters (none too), `?` exactly one character, `[abc]` or `[a-z]`
one character of the set, `[!abc]` one character not in it (`[^abc]` is the set `^abc`);
a `[` with no closing `]` is a literal `[`; there is no escape character (`[*]` is a
literal `*`); case-sensitive; the pattern must match the whole string.

- `type:GLOB`    the event type matches GLOB.
- `cat:NAME`     the category is NAME (equality, no glob).
- `src:GLOB`     the source matches GLOB, or a part of it that ends just before a `:` does:
                 `src:watcher` matches `watcher` and `watcher:etc`, `src:socket:ci` matches
                 `socket:ci` and `socket:ci:x`, `src:hook:*`, `src:hook:deploy-*`, `src:h*`
                 match `hook:deploy-alert`.
- `stack:GLOB`, `agent:GLOB`, `run:GLOB`  the event's stack, agent or run id (Sloth
                 Runner's context) matches GLOB; an event without one matches none of
                 them (so `!stack:*` is the events with no stack).
- `origin:GLOB`  the event came from a fleet engine (serve --nats) whose name matches
                 GLOB; `origin:@local` (`@` is in no engine's name) is this engine's own
                 events, those with no origin (so `!origin:@local` is every other
                 engine's, and outside a fleet `origin:@local` is every event). As with
                 `stack:`, an event with no origin matches no glob (`origin:*`).
- `status:NAME`  the status is NAME, one of pending, processing, completed, failed.
- `id:N`         the id is N: decimal digits, at most 2**63-1 (SQLite's largest integer).
- `hook:NAME`    a real run (not a dry run) of the hook named exactly NAME exists.
- `since:TIME`   the event's time (`ts`) is at or after TIME; `until:TIME`: strictly before
                 it (the store's `query_events(since=, until=)` and `--since`/`--until`
                 mean the same). TIME is either an age, a number and a unit (`s`, `m`,
                 `h`, `d`, `w`), several adding up (`1h30m`), counted back from the moment
                 the filter is parsed (a live view parsed at 12:00 with `since:10m` keeps
                 11:50 as its bound: reapply it for a fresh one); or an ISO 8601 date or
                 date-time (`2026-11-30`, `2026-11-30T12:00`, `2026-11-30 12:00:05.5`) in
                 the local time zone, as `event list` prints times, unless it ends in `Z`
                 or an offset (`2026-11-30T12:00Z`, `...T12:00+01:00`).
- `path=value`   `path` is keys separated by dots (none empty); the data has the first key,
                 its value is an object with the next key and so on (arrays are not
                 indexed), and the value reached is JSON-equal to `value`. `value` is JSON
                 when it parses as JSON (`3`, `2.5`, `true`, `null`, `"3"`, `[1]`, `{}`),
                 except that NaN, Infinity and numbers beyond a float's range stay plain
                 strings, as does anything that is not JSON. JSON-equal: null only equals
                 null; true and false only equal themselves (`ok=1` does not match true,
                 `n=true` does not match 1); numbers are equal when numerically equal
                 (`n=3` matches 3 and 3.0, exactly, big integers too); strings when they
                 are the same characters (case and normalisation count); arrays when of the
                 same length and equal item by item; objects when they have the same keys
                 with equal values (order does not count).
- free text      case-insensitive (`str.casefold` of both sides) substring of the event
                 type or of the data's compact JSON text: `{"k":"v","n":[1,2.5]}`, no
                 spaces, non-ASCII characters as themselves, `"`, `\\` and control
                 characters escaped as Python's json module writes them. The source is not
                 searched (`src:` is for that). `café` and `CAFÉ` both match "Café".

How the SQL side (sloth_tui/engine/filter_sql.py) renders each term, and why it selects
the same events, is told there.
"""

from __future__ import annotations

import functools
import json
import math
import re
import shlex
import time
from collections.abc import Collection, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from fnmatch import fnmatchcase
from typing import Any

from sloth_tui.model.errors import SlothError
from sloth_tui.model.records import EVENT_STATUSES, Event


class FilterError(SlothError):
    pass


class IncompleteFilter(FilterError):
    """A term that is not finished yet (`type:`, `!`, an open quote): the dashboard shows
    it as still being typed, the CLI refuses it like any other error."""


KEYS = {"type": "type", "cat": "category", "category": "category", "src": "source"}
KEYS |= {"source": "source", "status": "status", "hook": "hook", "id": "id"}
KEYS |= {"since": "since", "until": "until"}
KEYS |= {"stack": "stack", "agent": "agent", "run": "run_id"}
KEYS |= {"origin": "origin"}
TIME_KINDS = frozenset({"since", "until"})
# Sloth Runner's context fields: optional texts on the event, matched by glob.
CONTEXT_KINDS = frozenset({"stack", "agent", "run_id"})
# `origin:@local`: this engine's own events (origin None). `@` cannot start or be in an
# engine's name (fleet/settings.NAME), so no fleet member is shadowed by it.
LOCAL_ORIGIN = "@local"

INT64_MAX = 2**63 - 1
INT64_MIN = -(2**63)


# -- the predicates: the live matcher and the SQL functions both call these -----------


def glob_matches(pattern: str, text: str) -> bool:
    return fnmatchcase(text, pattern)


def context_matches(pattern: str, value: str | None) -> bool:
    """A stack, agent or run id matches the glob; an absent one matches nothing."""
    return value is not None and fnmatchcase(value, pattern)


def origin_matches(pattern: str, origin: str | None) -> bool:
    """`@local` is an event with no origin (this engine's own); any other pattern is a
    glob on the origin, which an event with none never matches."""
    if pattern == LOCAL_ORIGIN:
        return origin is None
    return origin is not None and fnmatchcase(origin, pattern)


def source_matches(pattern: str, source: str) -> bool:
    """The source matches the glob, or a part of it ending just before a `:` does."""
    if fnmatchcase(source, pattern):
        return True
    colon = source.find(":")
    while colon >= 0:
        if fnmatchcase(source[:colon], pattern):
            return True
        colon = source.find(":", colon + 1)
    return False


@functools.lru_cache(maxsize=256)
def _folded(needle: str) -> str:
    return needle.casefold()


def text_matches(needle: str, type_: str, data_text: str) -> bool:
    """Free text: a case-insensitive substring of the type or of the data's JSON text."""
    folded = _folded(needle)
    return folded in type_.casefold() or folded in data_text.casefold()


_encode_text = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode


def data_text(data: Any) -> str:
    """The data's compact JSON text with non-ASCII characters as themselves."""
    return _encode_text(data)


def stored_data_text(stored: str) -> str:
    """data_text of the data whose JSON the store holds, written either way.

    Without a `\\u` escape the two ways (ensure_ascii or not) write the same text.
    """
    if "\\u" not in stored:
        return stored
    return _encode_text(json.loads(stored))


def json_equal(a: Any, b: Any) -> bool:
    """JSON equality: bools are not numbers, numbers compare by value, no other mixing."""
    if a is None or b is None:
        return a is None and b is None
    if isinstance(a, bool) or isinstance(b, bool):
        return a is b
    if isinstance(a, int | float):
        return isinstance(b, int | float) and a == b
    if isinstance(a, str):
        return isinstance(b, str) and a == b
    if isinstance(a, list | tuple):
        return (
            isinstance(b, list | tuple)
            and len(a) == len(b)
            and all(json_equal(x, y) for x, y in zip(a, b, strict=True))
        )
    if isinstance(a, dict):
        return (
            isinstance(b, dict)
            and a.keys() == b.keys()
            and all(json_equal(item, b[key]) for key, item in a.items())
        )
    return False


_MISSING = object()


def field_matches(path: Sequence[str], value: Any, data: Any) -> bool:
    current = data
    for part in path:
        if not isinstance(current, dict):
            return False
        current = current.get(part, _MISSING)
        if current is _MISSING:
            return False
    return json_equal(current, value)


@dataclass(frozen=True, slots=True)
class Term:
    # type | category | source | stack | agent | run_id | origin | status | hook | id |
    # since | until | field | text
    kind: str
    value: Any
    negate: bool = False
    path: tuple[str, ...] = ()  # for field terms

    def matches(self, event: Event, hooks: Collection[str] = ()) -> bool:
        return self._test(event, hooks) != self.negate

    def _test(self, event: Event, hooks: Collection[str]) -> bool:
        kind, value = self.kind, self.value
        if kind == "type":
            return glob_matches(value, event.type)
        if kind == "category":
            return bool(event.category == value)
        if kind == "source":
            return source_matches(value, event.source)
        if kind == "status":
            return bool(event.status == value)
        if kind == "stack":
            return context_matches(value, event.stack)
        if kind == "agent":
            return context_matches(value, event.agent)
        if kind == "run_id":
            return context_matches(value, event.run_id)
        if kind == "origin":
            return origin_matches(value, event.origin)
        if kind == "id":
            return bool(event.id == value)
        if kind == "since":
            return bool(event.ts >= value)
        if kind == "until":
            return bool(event.ts < value)
        if kind == "hook":
            return value in hooks
        if kind == "field":
            return field_matches(self.path, value, event.data)
        return text_matches(value, event.type, data_text(event.data))


@dataclass(frozen=True, slots=True)
class Filter:
    terms: tuple[Term, ...] = field(default_factory=tuple)
    text: str = ""

    def __bool__(self) -> bool:
        return bool(self.terms)

    def matches(self, event: Event, hooks: Collection[str] = ()) -> bool:
        return all(term.matches(event, hooks) for term in self.terms)

    def needs_hooks(self) -> bool:
        return any(t.kind == "hook" for t in self.terms)

    def with_terms(self, *terms: Term) -> Filter:
        return Filter(self.terms + terms, self.text)


def _refuse_constant(name: str) -> Any:
    raise ValueError(name)


def _finite(value: Any) -> bool:
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, float) and not math.isfinite(item):
            return False
        if isinstance(item, list):
            stack.extend(item)
        elif isinstance(item, dict):
            stack.extend(item.values())
    return True


def _parse_value(raw: str) -> Any:
    """JSON when it parses, except NaN, Infinity and overflowing numbers; else the text."""
    try:
        value = json.loads(raw, parse_constant=_refuse_constant)
    except (ValueError, RecursionError):
        return raw
    return value if _finite(value) else raw


def _shown(text: str, limit: int = 40) -> str:
    """A value for an error message: quoted, escaped, one line, not too long."""
    return repr(text) if len(text) <= limit else repr(text[:limit]) + "..."


_DIGITS = re.compile(r"[0-9]+")


_AGE_PART = re.compile(r"([0-9]+(?:\.[0-9]+)?)([smhdw])")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
MAX_AGE = 200 * 365 * 86400.0  # seconds: longer ages are typos, and would leave the epoch
TIME_HINT = "an age like 10m, 2h, 7d or a date like 2026-11-30T12:00"


def parse_age(text: str) -> float | None:
    """`10m`, `1h30m`, `2.5d` -> seconds; None when `text` is not an age."""
    pos, total = 0, 0.0
    for match in _AGE_PART.finditer(text):
        if match.start() != pos:
            return None
        total += float(match.group(1)) * _UNITS[match.group(2)]
        pos = match.end()
    return total if text and pos == len(text) else None


def parse_time(text: str, now: float | None = None) -> float:
    """An age (back from `now`, default the current time) or an ISO date/date-time,
    local time unless it ends in Z or an offset, as epoch seconds; ValueError (with the
    reason, one line) when it is neither."""
    age = parse_age(text)
    if age is not None:
        if age > MAX_AGE:
            raise ValueError(f"{_shown(text)} is too long ago (at most 200 years)")
        return (time.time() if now is None else now) - age
    if not _ISO_START.match(text):
        raise ValueError(f"{_shown(text)} is not {TIME_HINT}")
    try:
        # A naive date-time is local: astimezone() reads it so (DST included).
        return datetime.fromisoformat(text).astimezone().timestamp()
    except (ValueError, OverflowError, OSError):
        raise ValueError(f"{_shown(text)} is not a valid date or time ({TIME_HINT})") from None


# Only the extended forms `fromisoformat` reads (a 4-digit year, a dash): a bare number
# is refused, since `since:10` (no unit) is more likely a typo than the year 10.
_ISO_START = re.compile(r"[0-9]{4}-[0-9]{2}")


_EXAMPLES = {
    "type": "type:deploy.*",
    "category": "cat:security",
    "source": "src:watcher",
    "stack": "stack:prod",
    "agent": "agent:web-*",
    "run_id": "run:R42",
    "origin": "origin:web-1 or origin:@local",
    "status": "status:failed",
    "hook": "hook:NAME",
    "id": "id:42",
    "since": "since:10m",
    "until": "until:2026-11-30T12:00",
}


def parse_term(token: str, now: float | None = None) -> Term:
    negate = token.startswith("!")
    body = token[1:] if negate else token
    if not body:
        raise IncompleteFilter("incomplete term '!': it must be followed by a term (!src:demo)")
    key, sep, value = body.partition(":")
    if sep and key in KEYS:
        kind = KEYS[key]
        if not value:
            raise IncompleteFilter(
                f"incomplete term {_shown(token)}: {key}: needs a value ({_EXAMPLES[kind]})"
            )
        if kind == "status" and value not in EVENT_STATUSES:
            raise FilterError(
                f"unknown status {_shown(value)} (one of: {', '.join(EVENT_STATUSES)})"
            )
        if kind == "id":
            if not _DIGITS.fullmatch(value):
                raise FilterError(f"id: needs a number, not {_shown(value)}")
            if len(value.lstrip("0")) > len(str(INT64_MAX)) or int(value) > INT64_MAX:
                raise FilterError(f"id: {_shown(value)} is too large (at most {INT64_MAX})")
            return Term("id", int(value), negate)
        if kind in TIME_KINDS:
            try:
                return Term(kind, parse_time(value, now), negate)
            except ValueError as exc:
                raise FilterError(f"{key}: {exc}") from None
        return Term(kind, value, negate)
    if sep and key.isidentifier():
        raise FilterError(
            f"unknown filter key {_shown(key)} "
            "(use type, cat, src, stack, agent, run, origin, status, hook, id, since or until)"
        )
    name, eq, raw = body.partition("=")
    if eq:
        path = tuple(name.split("."))
        if not name or not all(p for p in path):
            raise FilterError(f"bad field name in {_shown(body)}")
        return Term("field", _parse_value(raw), negate, path)
    return Term("text", body, negate)


def expand_saved(text: str, saved: Sequence[tuple[str, str]]) -> str:
    """`@NAME` (the whole text) is the saved filter NAME's text (config.toml `[filters]`);
    any other text is itself. FilterError for a name not saved."""
    stripped = text.strip()
    if not stripped.startswith("@") or any(c.isspace() for c in stripped):
        return text
    name = stripped[1:]
    for saved_name, saved_text in saved:
        if saved_name == name:
            return saved_text
    known = ", ".join(n for n, _ in saved) or "none; add them under [filters] in config.toml"
    raise FilterError(f"no saved filter named {_shown(name)} (saved: {known})")


def parse_filter(text: str, now: float | None = None) -> Filter:
    """Parse the filter language; raise FilterError with a readable one-line message
    (IncompleteFilter for a term not finished yet). Ages (`since:10m`) count back from
    `now`, by default the time of this call."""
    try:
        tokens = shlex.split(text)
    except ValueError as exc:
        if "closing quotation" in str(exc):
            raise IncompleteFilter("incomplete filter: a quote is not closed") from None
        raise IncompleteFilter("incomplete filter: it ends in a lone backslash") from None
    now = time.time() if now is None else now  # one moment for every term
    return Filter(tuple(parse_term(t, now) for t in tokens if t), text)
