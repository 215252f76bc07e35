"""The filter language (model/filters.py) rendered to SQL, for the store's queries.

`filter_sql(flt)` is a WHERE clause body that selects exactly the events
`flt.matches` accepts. The predicates themselves stay in model/filters.py: the SQL
functions registered here call them, so both sides share one definition.

Why the SQL agrees. Preconditions: the `data` column holds the data's compact JSON as
Python's json module writes it, non-ASCII characters as themselves (events.py) or escaped
(rows.py's fallback); types are event type names (no NUL). Every term's SQL is 0 or 1,
never NULL, so `NOT (...)` is exact. Values reach the Python functions as ASCII JSON
text, so any string (a lone surrogate too) survives the trip.

- `cat:`, `status:`, `id:`, `hook:`: `=` on the column (binary, whole length); a status
  among the four names as a literal (so the partial indexes on status can serve it). A
  value SQLite cannot bind (a lone surrogate, an id beyond 64 bits) equals nothing: `0`.
- `since:`, `until:`: `ts >= ?` and `ts < ?` on the REAL column (doubles both sides, so
  the same comparison); a NaN bound (only the wire can send one) compares false: `0`.
- `type:`: SQLite's GLOB when the glob has only `*`, `?`, literal characters and classes
  of letters, digits, `_`, `.` and their ranges (GLOB's `[^x]` is fnmatch's `[!x]`; the
  rest means the same); any other glob is `sloth_glob()`, which calls `glob_matches`.
- `src:`: without `*?[`, `source = P OR (source >= 'P:' AND source < 'P;')`, in UTF-8 byte
  order exactly the strings starting with `P:`. A glob GLOB can say is `source GLOB G OR
  source GLOB 'G:*'`, but a source holding NUL (where GLOB stops) goes to `sloth_source()`,
  which calls `source_matches`, as any other glob does.
- `stack:`, `agent:`, `run:`: NULL (no such context) is `0`; else `col GLOB ?` when
  `type:` would use GLOB and the value holds no NUL, `sloth_glob()` otherwise.
- `origin:`: `@local` is `origin IS NULL`; a name without `*?[` is `origin = ?` (the
  partial index events_origin serves it: `=` implies NOT NULL); a glob is as `stack:`.
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
import sqlite3
import unicodedata
from collections.abc import Sequence
from typing import Any

from sloth_tui.model.filters import (
    CONTEXT_KINDS,
    INT64_MAX,
    INT64_MIN,
    LOCAL_ORIGIN,
    TIME_KINDS,
    Filter,
    Term,
    data_text,
    field_matches,
    glob_matches,
    source_matches,
    stored_data_text,
    text_matches,
)
from sloth_tui.model.records import EVENT_STATUSES


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
    """The functions filter_sql uses, on one connection (deterministic: pure)."""
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


def _context_sql(column: str, pattern: str) -> tuple[str, list[Any]]:
    """A stack/agent/run_id glob: never NULL (an absent value matches nothing)."""
    glob = _sqlite_glob(pattern)
    if glob is None:
        return f"({column} IS NOT NULL AND sloth_glob(?, {column}))", [_wire(pattern)]
    return (
        f"(CASE WHEN {column} IS NULL THEN 0 WHEN instr({column}, char(0)) > 0 "
        f"THEN sloth_glob(?, {column}) ELSE {column} GLOB ? END)",
        [_wire(pattern), glob],
    )


def _origin_sql(pattern: str) -> tuple[str, list[Any]]:
    """`@local`: no origin; a plain name: equality (fnmatch's meaning without `*?[`),
    which the partial index events_origin serves; a glob: as a context glob."""
    if pattern == LOCAL_ORIGIN:
        return "origin IS NULL", []
    if not re.search(r"[*?\[]", pattern):
        if not _bindable(pattern):
            return "0", []
        return "(origin IS NOT NULL AND origin = ?)", [pattern]  # never NULL
    return _context_sql("origin", pattern)


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


def _value_ways(value: Any) -> tuple[str, str]:
    """What any match's value JSON starts with: written ASCII-escaped, and written as is."""
    start = _value_start(value)
    return start, (data_text(value) if isinstance(value, str) else start)


def _needles(path: Sequence[str], value: Any) -> list[tuple[str, ...]]:
    """Text any match contains: per step, the ways it can be written (ASCII or not)."""
    start, last = _value_ways(value)
    steps = [(key, "{", "{") for key in path[:-1]] + [(path[-1], start, last)]
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


def _like_run(needle: str) -> str:
    """The longest run of the folded needle made of characters only ASCII case reaches
    (see _text_sql); empty when there is none or the Unicode version is unchecked."""
    run = ""
    if unicodedata.unidata_version in CASEFOLD_CHECKED:
        folded, start = needle.casefold(), 0
        for end, char in enumerate(folded + "\x00"):  # NUL ends the last run
            if char not in _LIKE_SAFE:
                if end - start > len(run):
                    run = folded[start:end]
                start = end + 1
    return run[:MAX_PATTERN]  # SQLite refuses LIKE patterns over 50,000 bytes


def _text_sql(needle: str) -> tuple[str, list[Any]]:
    """sloth_text, behind a LIKE on the longest run of characters only ASCII case reaches.

    If the folded needle is in the folded text, such a run r is in the text up to ASCII
    case, so LIKE '%r%' finds it; the data's JSON writes ASCII characters the same either
    way. LIKE stops at NUL: a type holding one goes to Python.
    """
    python = "sloth_text(?, type, data)"
    run = _like_run(needle)
    if not run:
        return python, [_wire(needle)]
    like = "%" + re.sub(r"([\\%_])", r"\\\1", run) + "%"
    sql = (
        "((data LIKE ? ESCAPE '\\' OR type LIKE ? ESCAPE '\\' OR instr(type, char(0)) > 0) "
        f"AND {python})"
    )
    return sql, [like, like, _wire(needle)]


def term_sql(term: Term) -> tuple[str, list[Any]]:
    """An SQL expression that is 1 exactly when `term.matches` is true, else 0."""
    sql, params = _term_sql(term)
    return (f"NOT ({sql})" if term.negate else sql), params


def _term_sql(term: Term) -> tuple[str, list[Any]]:
    kind, value = term.kind, term.value
    if kind in ("category", "status", "hook"):
        if isinstance(value, str) and not _bindable(value):
            return "0", []
        if kind == "status" and value in EVENT_STATUSES:
            # A literal (one of four fixed names), so that the planner may use the
            # partial index for it (events_failed, events_unfinished): a bound
            # parameter cannot be proved to satisfy an index's WHERE.
            return f"status = '{value}'", []
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
    if kind in CONTEXT_KINDS:
        return _context_sql(kind, value)
    if kind == "origin":
        return _origin_sql(value)
    if kind == "field":
        return _field_sql(term.path, value)
    return _text_sql(value)


_SQL_COST = {
    k: n
    for n, k in enumerate(
        (
            "id",
            "since",
            "until",
            "category",
            "status",
            "type",
            "source",
            "stack",
            "agent",
            "run_id",
            "origin",
            "hook",
        )
    )
}


def filter_sql(flt: Filter | None) -> tuple[str, list[Any]]:
    """A WHERE clause body (`1` when empty or None) and its parameters.

    Needs the functions of `register_sql_functions` on the connection.
    """
    if flt is None or not flt.terms:
        return "1", []
    parts: list[str] = []
    params: list[Any] = []
    # Cheap column tests first, Python last: AND commutes (no term is ever NULL).
    for term in sorted(flt.terms, key=lambda t: _SQL_COST.get(t.kind, len(_SQL_COST))):
        sql, p = term_sql(term)
        parts.append(sql)
        params.extend(p)
    return " AND ".join(parts), params


# -- the text index (text_index.py) ---------------------------------------------------

MAX_TRIGRAMS = 8  # per text: more only adds doclists to merge, each a cost
MIN_TRIGRAM_TEXT = 3  # the trigram tokenizer finds nothing in shorter text


def _trigrams(text: str) -> str:
    """An FTS5 query for rows holding every trigram of `text` (up to MAX_TRIGRAMS of
    them, spread over it): all a row holding `text` must hold, case aside.

    Each trigram is its own quoted string, so `AND` of single tokens (the index keeps no
    positions, so it cannot answer a phrase); `"` is doubled inside one.
    """
    grams = list(dict.fromkeys(text[i : i + 3] for i in range(len(text) - 2)))
    if len(grams) > MAX_TRIGRAMS:
        step = (len(grams) - 1) / (MAX_TRIGRAMS - 1)
        grams = [grams[round(k * step)] for k in range(MAX_TRIGRAMS)]
    return " AND ".join('"' + gram.replace('"', '""') + '"' for gram in grams)


_UNINDEXABLE = re.compile("[\x00\ud800-\udfff]")  # never in a trigram the index asks for


def _clean_part(text: str) -> str:
    """The longest part of `text` without NUL or a lone surrogate: what the index holds
    as is (text_index.py writes '?' for a surrogate; NUL is left to nobody's guess)."""
    return max(_UNINDEXABLE.split(text), key=len)


def _term_trigrams(term: Term) -> str | None:
    """What the index can ask for a row `term` may match, or None (it cannot help).

    The index holds each row's casefolded type, stored data text, and decoded data
    text (text_index.py). Casefolding goes character by character, so text inside a
    row's text is, folded, inside its folded text.
    """
    if term.negate:
        return None
    if term.kind == "text":
        # text_matches: the folded needle is in the folded type or decoded data text.
        part = _clean_part(term.value.casefold())
        return _trigrams(part) if len(part) >= MIN_TRIGRAM_TEXT else None
    if term.kind == "field" and term.path:
        # The value part of the last needle _field_sql looks for with instr in the
        # stored text, each way it may be written. The keys are left out: in every
        # row, they narrow nothing.
        key = term.path[-1]
        start, unicode_start = _value_ways(term.value)
        values = [start]
        unicode = data_text(key) + ":" + unicode_start
        if unicode != _json_ascii(key) + ":" + start and _bindable(unicode):
            values.append(unicode_start)
        parts = list(dict.fromkeys(_clean_part(v.casefold()) for v in values))
        if any(len(part) < MIN_TRIGRAM_TEXT for part in parts):
            return None
        return " OR ".join(f"({_trigrams(part)})" for part in parts)
    return None


def text_index_match(flt: Filter | None) -> str | None:
    """An FTS5 query over text_index.py's index that every event `flt` matches passes,
    or None when no term of it can use the index (then the index is no help).

    A superset, never exact: the query still applies filter_sql.
    """
    if flt is None:
        return None
    parts = [q for q in map(_term_trigrams, flt.terms) if q is not None]
    if not parts:
        return None
    return " AND ".join(f"({q})" for q in parts)
