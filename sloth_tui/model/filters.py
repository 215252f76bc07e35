"""The filter language shared by the dashboard (`/`), `event list` and `event tail`.

    free text            matches type or data
    type:deploy.*        type glob          cat:security    category
    src:watcher          source glob (`watcher` also matches `watcher:NAME`)
    status:failed        event status       hook:NAME       events that ran hook NAME
    since:10m            stored at or after a time   until:2026-11-30T12:00  before it
    field=value          a data field (dotted path), value parsed as JSON when it parses
    !term                negates any term

One Filter both matches an Event in memory (live rows, `Filter.matches`) and renders to
SQL (history, `Filter.to_sql`); both select the same events. What each term means:

Filter text is split into tokens shell-style (quotes group, `shlex`); an event matches a
filter when it matches every term, and `!term` matches exactly the events `term` does not.

Glob (`type:` and `src:`): Python's `fnmatch.fnmatchcase`, the globs of hook patterns.
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

Why the SQL agrees. Preconditions: the `data` column holds the data's compact JSON as
Python's json module writes it, non-ASCII characters as themselves (events.py) or escaped
(rows.py's fallback); types are event type names (no NUL). Every term's SQL is 0 or 1,
never NULL, so `NOT (...)` is exact. Values reach the Python functions as ASCII JSON
text, so any string (a lone surrogate too) survives the trip.

- `cat:`, `status:`, `id:`, `hook:`: `=` on the column (binary, whole length). A value
  SQLite cannot bind (a lone surrogate, an id beyond 64 bits) equals nothing stored: `0`.
- `since:`, `until:`: `ts >= ?` and `ts < ?` on the REAL column (doubles both sides, so
  the same comparison); a NaN bound (only the wire can send one) compares false: `0`.
- `type:`: SQLite's GLOB when the glob has only `*`, `?`, literal characters and classes
  of letters, digits, `_`, `.` and their ranges (GLOB's `[^x]` is fnmatch's `[!x]`; the
  rest means the same); any other glob is `sloth_glob()`, which calls `glob_matches`.
- `src:`: without `*?[`, `source = P OR (source >= 'P:' AND source < 'P;')`, in UTF-8 byte
  order exactly the strings starting with `P:`. A glob GLOB can say is `source GLOB G OR
  source GLOB 'G:*'`, but a source holding NUL (where GLOB stops) goes to `sloth_source()`,
  which calls `source_matches`, as any other glob does.
- `path=value`: first `instr` checks for text every match contains, whichever way the
  JSON was written: each key on the path followed by `:{`, the last key by `:` and the
  start of the value's JSON. Then, for null, true, false and strings
  under keys of plain printable ASCII, in rows SQLite's JSON reads as Python does (no NaN,
  Infinity, `\\u0000` or `\\ud...`), `json_type`/`json_extract`; otherwise `sloth_field()`,
  which calls `field_matches` on `json.loads(data)`.
- free text: first a LIKE on the longest run of the folded needle made of ASCII characters
  that nothing but themselves and their upper case fold into (CASEFOLD_INTO_ASCII lists
  the others, for the Unicode versions checked); then `sloth_text()`, which calls
  `text_matches` on the stored text when it has no `\\u` escape (both writers then write
  the same) and on the re-encoded data otherwise.

`register_sql_functions` adds the functions to a connection; the store calls it on every
connection it opens.
"""

from __future__ import annotations

import functools
import json
import math
import re
import shlex
import sqlite3
import time
import unicodedata
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
TIME_KINDS = frozenset({"since", "until"})

INT64_MAX = 2**63 - 1
INT64_MIN = -(2**63)


# -- the predicates: the live matcher and the SQL functions both call these -----------


def glob_matches(pattern: str, text: str) -> bool:
    return fnmatchcase(text, pattern)


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


# -- the SQL side -------------------------------------------------------------------


def _bindable(text: str) -> bool:
    """SQLite takes UTF-8 only: a lone surrogate cannot be bound (nor stored)."""
    try:
        text.encode()
    except UnicodeEncodeError:
        return False
    return True


def _wire(value: Any) -> str:
    """A term's value for an SQL function: JSON text, pure ASCII, so it always binds."""
    return json.dumps(value)


@functools.lru_cache(maxsize=256)
def _unwire(param: str) -> Any:
    return json.loads(param)


@functools.lru_cache(maxsize=256)
def _unwire_field(param: str) -> tuple[tuple[str, ...], Any]:
    path, value = json.loads(param)
    return tuple(path), value


def _sql_glob(pattern: str, text: str) -> bool:
    return glob_matches(_unwire(pattern), text)


def _sql_source(pattern: str, source: str) -> bool:
    return source_matches(_unwire(pattern), source)


def _sql_text(needle: str, type_: str, stored: str) -> bool:
    return text_matches(_unwire(needle), type_, stored_data_text(stored))


def _sql_field(spec: str, stored: str) -> bool:
    path, value = _unwire_field(spec)
    return field_matches(path, value, json.loads(stored))


def register_sql_functions(conn: sqlite3.Connection) -> None:
    """The functions Filter.to_sql uses, on one connection (deterministic: pure)."""
    conn.create_function("sloth_glob", 2, _sql_glob, deterministic=True)
    conn.create_function("sloth_source", 2, _sql_source, deterministic=True)
    conn.create_function("sloth_text", 3, _sql_text, deterministic=True)
    conn.create_function("sloth_field", 2, _sql_field, deterministic=True)


_json_ascii = json.JSONEncoder(separators=(",", ":")).encode  # what ensure_ascii writes

MAX_PATTERN = 1000  # characters of a GLOB or LIKE pattern; longer ones go to Python
# A class SQLite's GLOB reads as fnmatch does: letters, digits, `_`, `.` and ranges of them.
_SIMPLE_CLASS = re.compile(r"\[(!?)((?:[A-Za-z0-9_.](?:-[A-Za-z0-9_.])?)+)\]")


def _sqlite_glob(pattern: str) -> str | None:
    """The same glob in SQLite's GLOB syntax, or None when it could differ.

    Outside classes GLOB's `*`, `?` and literal characters (no escapes) mean what
    fnmatch's do; `[!x]` is GLOB's `[^x]`. Other classes (unclosed, `]`, `^` or `-` as
    members, empty ranges), NUL (GLOB stops there) and lone surrogates are refused.
    """
    if "\x00" in pattern or len(pattern) > MAX_PATTERN or not _bindable(pattern):
        return None
    out, i = [], 0
    while i < len(pattern):
        char = pattern[i]
        if char != "[":
            out.append(char)
            i += 1
            continue
        match = _SIMPLE_CLASS.match(pattern, i)
        if match is None:
            return None
        members = match.group(2)
        if any(
            members[k] > members[k + 2] for k in range(len(members) - 2) if members[k + 1] == "-"
        ):
            return None
        out.append("[" + ("^" if match.group(1) else "") + members + "]")
        i = match.end()
    return "".join(out)


def _type_sql(pattern: str) -> tuple[str, list[Any]]:
    glob = _sqlite_glob(pattern)
    if glob is None:
        return "sloth_glob(?, type)", [_wire(pattern)]
    return "type GLOB ?", [glob]  # types are event names: no NUL


def _source_sql(pattern: str) -> tuple[str, list[Any]]:
    if not re.search(r"[*?\[]", pattern):
        if not _bindable(pattern):
            return "0", []
        # Byte order: exactly the strings starting with `pattern:` (NUL or not).
        return "(source = ? OR (source >= ? AND source < ?))", [
            pattern,
            pattern + ":",
            pattern + ";",
        ]
    glob = _sqlite_glob(pattern)
    if glob is None:
        return "sloth_source(?, source)", [_wire(pattern)]
    # `glob:*` matches exactly the sources with a part before a `:` matching `glob`.
    sql = (
        "CASE WHEN instr(source, char(0)) > 0 THEN sloth_source(?, source) "
        "ELSE (source GLOB ? OR source GLOB ?) END"
    )
    return sql, [_wire(pattern), glob, glob + ":*"]


def _value_start(value: Any) -> str:
    """What the JSON of any value JSON-equal to `value` starts with (maybe nothing).

    A number equal to an integer n, 0 < |n| < 1e16, is written `n` or `n.0` (floats are
    written positionally below 1e16); other non-integral floats as their repr, the
    shortest text that reads back as the same float.
    """
    if value is None or isinstance(value, bool | str):
        return _json_ascii(value)
    if isinstance(value, int | float):
        if not math.isfinite(value):
            return ""
        if value == int(value):
            return str(int(value)) if 0 < abs(value) < 10**16 else ""
        return float.__repr__(float(value))
    if isinstance(value, list | tuple):
        return "[]" if not value else "["
    if isinstance(value, dict):
        return "{}" if not value else "{"
    return ""


def _needles(path: Sequence[str], value: Any) -> list[tuple[str, ...]]:
    """Text any match contains: per step, the ways it can be written (ASCII or not)."""
    last = data_text(value) if isinstance(value, str) else _value_start(value)
    steps = [(key, "{", "{") for key in path[:-1]] + [(path[-1], _value_start(value), last)]
    needles = []
    for key, start, unicode_start in steps:
        ascii_ = _json_ascii(key) + ":" + start
        unicode = data_text(key) + ":" + unicode_start
        ways = [ascii_]
        if unicode != ascii_ and _bindable(unicode):
            ways.append(unicode)
        needles.append(tuple(ways))
    return needles


# A key SQLite's JSON path `$."key"` finds as Python does: printable ASCII, never escaped.
_PLAIN_KEY = re.compile(r"[ !#-\[\]-~]+")
# Rows SQLite's JSON functions may read otherwise than Python: NaN and Infinity (not JSON,
# an error for SQLite 3.40), \u0000 (cuts strings there) and surrogates (lone ones).
_SQLITE_JSON_SAFE = (
    "instr(data, 'NaN') = 0 AND instr(data, 'Infinity') = 0 "
    "AND instr(data, '\\u0000') = 0 AND instr(data, '\\ud') = 0"
)


def _field_sql(path: Sequence[str], value: Any) -> tuple[str, list[Any]]:
    checks: list[str] = []
    params: list[Any] = []
    for ways in _needles(path, value) if path else []:
        checks.append(" OR ".join(["instr(data, ?) > 0"] * len(ways)))
        params.extend(ways)
    checks = [f"({c})" if " OR " in c else c for c in checks]
    python = "sloth_field(?, data)"
    native_ok = bool(path) and all(_PLAIN_KEY.fullmatch(key) for key in path)
    if native_ok and (value is None or isinstance(value, bool)):
        json_type = "null" if value is None else str(value).lower()
        native, native_params = (
            "json_type(data, ?) IS ?",
            ["$" + "".join(f'."{k}"' for k in path), json_type],
        )
    elif native_ok and isinstance(value, str) and "\x00" not in value and _bindable(value):
        json_path = "$" + "".join(f'."{k}"' for k in path)
        native = "(json_type(data, ?) IS 'text' AND json_extract(data, ?) = ?)"
        native_params = [json_path, json_path, value]
    else:
        checks.append(python)
        params.append(_wire([list(path), value]))
        return "(" + " AND ".join(checks) + ")", params
    checks.append(f"CASE WHEN {_SQLITE_JSON_SAFE} THEN {native} ELSE {python} END")
    params.extend([*native_params, _wire([list(path), value])])
    return "(" + " AND ".join(checks) + ")", params


# ASCII characters that some other character's casefold contains, besides their own
# upper case (U+017F long s -> s, U+212A Kelvin -> k, U+FB01 fi ligature -> fi, ...), as
# of these Unicode versions; on others no text is looked for before Python (a test checks
# the list on the Unicode version it runs with).
CASEFOLD_INTO_ASCII = "afhijklnstwy"
CASEFOLD_CHECKED = frozenset({"14.0.0", "15.0.0", "15.1.0"})
_LIKE_SAFE = frozenset(map(chr, range(0x20, 0x7F))) - set(CASEFOLD_INTO_ASCII)


def _text_sql(needle: str) -> tuple[str, list[Any]]:
    """sloth_text, behind a LIKE on the longest run of characters only ASCII case reaches.

    If the folded needle is in the folded text, such a run r is in the text up to ASCII
    case, so LIKE '%r%' finds it; the data's JSON writes ASCII characters the same either
    way. LIKE stops at NUL: a type holding one goes to Python.
    """
    python = "sloth_text(?, type, data)"
    run = ""
    if unicodedata.unidata_version in CASEFOLD_CHECKED:
        folded, start = _folded(needle), 0
        for end, char in enumerate(folded + "\x00"):  # NUL ends the last run
            if char not in _LIKE_SAFE:
                if end - start > len(run):
                    run = folded[start:end]
                start = end + 1
    run = run[:MAX_PATTERN]  # SQLite refuses LIKE patterns over 50,000 bytes
    if not run:
        return python, [_wire(needle)]
    like = "%" + re.sub(r"([\\%_])", r"\\\1", run) + "%"
    sql = (
        "((data LIKE ? ESCAPE '\\' OR type LIKE ? ESCAPE '\\' OR instr(type, char(0)) > 0) "
        f"AND {python})"
    )
    return sql, [like, like, _wire(needle)]


@dataclass(frozen=True, slots=True)
class Term:
    kind: str  # type | category | source | status | hook | id | since | until | field | text
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

    def to_sql(self) -> tuple[str, list[Any]]:
        """An SQL expression that is 1 exactly when `matches` is true, else 0."""
        sql, params = self._sql()
        return (f"NOT ({sql})" if self.negate else sql), params

    def _sql(self) -> tuple[str, list[Any]]:
        kind, value = self.kind, self.value
        if kind in ("category", "status", "hook"):
            if isinstance(value, str) and not _bindable(value):
                return "0", []
            if kind == "hook":
                sql = "id IN (SELECT event_id FROM executions WHERE hook = ? AND dry_run = 0)"
                return sql, [value]
            return f"{kind} = ?", [value]
        if kind == "id":
            if isinstance(value, int) and not INT64_MIN <= value <= INT64_MAX:
                return "0", []
            return "id = ?", [value]
        if kind in TIME_KINDS:
            if math.isnan(value):  # binds as NULL; Python's comparison is just false
                return "0", []
            return ("ts >= ?" if kind == "since" else "ts < ?"), [float(value)]
        if kind == "type":
            return _type_sql(value)
        if kind == "source":
            return _source_sql(value)
        if kind == "field":
            return _field_sql(self.path, value)
        return _text_sql(value)


_SQL_COST = {
    k: n
    for n, k in enumerate(("id", "since", "until", "category", "status", "type", "source", "hook"))
}


@dataclass(frozen=True, slots=True)
class Filter:
    terms: tuple[Term, ...] = field(default_factory=tuple)
    text: str = ""

    def __bool__(self) -> bool:
        return bool(self.terms)

    def matches(self, event: Event, hooks: Collection[str] = ()) -> bool:
        return all(term.matches(event, hooks) for term in self.terms)

    def to_sql(self) -> tuple[str, list[Any]]:
        """A WHERE clause body (`1` when empty) and its parameters.

        Needs the functions of `register_sql_functions` on the connection.
        """
        if not self.terms:
            return "1", []
        parts: list[str] = []
        params: list[Any] = []
        # Cheap column tests first, Python last: AND commutes (no term is ever NULL).
        for term in sorted(self.terms, key=lambda t: _SQL_COST.get(t.kind, len(_SQL_COST))):
            sql, p = term.to_sql()
            parts.append(sql)
            params.extend(p)
        return " AND ".join(parts), params

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
            "(use type, cat, src, status, hook, id, since or until)"
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
