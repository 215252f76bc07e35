"""The lines `event import` reads: checked one by one, before anything is imported.

A line is one JSON object as `event export` writes it (Event.to_dict()). The checks are
the engine's door's (event data a JSON object within the size and depth limits, a valid
type name, context fields one line of text), repeated here so that a bad line anywhere
in the file stops the import before its first event goes in. Each problem is one line
naming the line number; the text it quotes is repr'd and cut, never printed raw.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Iterator
from dataclasses import dataclass
from typing import IO, Any

from sloth_tui import catalog
from sloth_tui.model.errors import EventRefused
from sloth_tui.model.records import EVENT_STATUSES
from sloth_tui.model.rules import MAX_DATA_BYTES, MAX_DEPTH, nesting_depth

# A line past this is not an event: the data limit is 256 KiB encoded, and a line may
# spell its non-ASCII text as \u escapes (6 bytes a character).
MAX_LINE = 2 * 1024 * 1024
TEXT_MAX = 256  # characters of a source, stack, agent or run id (engine CONTEXT_MAX)
SHOWN_MAX = 40
# The fields of Event.to_dict(). category, parent_id, depth, warnings and origin are the
# store's own and are worked out again on import (an imported event is this engine's
# own); any other key is a mistake.
KNOWN = frozenset(
    {
        "id",
        "type",
        "category",
        "data",
        "source",
        "status",
        "ts",
        "parent_id",
        "depth",
        "warnings",
        "stack",
        "agent",
        "run_id",
        "origin",
    }
)
DEFAULT_SOURCE = "import"  # a line without a source


@dataclass(frozen=True, slots=True)
class LineEvent:
    line: int  # 1-based, in the file
    key: str  # the mirror key: the same line imported twice is taken once
    type: str
    data: dict[str, Any]
    source: str
    ts: float | None
    status: str
    stack: str | None
    agent: str | None
    run_id: str | None


def import_key(event: LineEvent) -> str:
    return event.key


def _shown(value: object) -> str:
    text = value if isinstance(value, str) else repr(value)
    return repr(text[:SHOWN_MAX]) + ("…" if len(text) > SHOWN_MAX else "")


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


class LineProblem(Exception):
    """Why one line cannot be imported (one line of text)."""


def _text(field: str, value: Any, *, required: bool = False) -> str | None:
    if value is None or value == "":
        if required:
            raise LineProblem(f"{field}: missing")
        return None
    if not isinstance(value, str):
        raise LineProblem(f"{field}: text, not {type(value).__name__}")
    if len(value) > TEXT_MAX:
        raise LineProblem(f"{field}: longer than {TEXT_MAX} characters")
    if any(c < " " or c == "\x7f" for c in value):
        raise LineProblem(f"{field}: one line of text, not {_shown(value)}")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise LineProblem(f"{field}: not valid UTF-8 text (a lone surrogate)") from None
    return value


def _data(value: Any) -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise LineProblem(f"data: a JSON object, not {type(value).__name__}")
    try:
        encoded = json.dumps(value, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
        size = len(encoded.encode("utf-8"))
    except ValueError:  # inf from a number like 1e999
        raise LineProblem("data: holds a number JSON cannot carry (infinite)") from None
    except RecursionError:
        raise LineProblem(f"data: nests deeper than {MAX_DEPTH} levels") from None
    except UnicodeEncodeError:
        raise LineProblem("data: not valid UTF-8 text (a lone surrogate)") from None
    if size > MAX_DATA_BYTES:
        raise LineProblem(f"data: {size} bytes encoded; the limit is {MAX_DATA_BYTES}")
    depth = nesting_depth(value)
    if depth > MAX_DEPTH:
        raise LineProblem(f"data: nests {depth} levels deep; the limit is {MAX_DEPTH}")
    return value


def parse_line(number: int, raw: bytes, *, need_ts: bool) -> LineEvent:
    """One line, checked; LineProblem says why not."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise LineProblem(f"not UTF-8 text (byte {exc.start})") from None
    try:
        obj = json.loads(text, parse_constant=_no_constant)
    except RecursionError:
        raise LineProblem("not an event: nests too deeply") from None
    except ValueError as exc:
        raise LineProblem(f"not valid JSON: {str(exc).splitlines()[0][:80]}") from None
    if not isinstance(obj, dict):
        raise LineProblem(f"not an event: a JSON {type(obj).__name__}, not an object")
    unknown = sorted(set(obj) - KNOWN)
    if unknown:
        raise LineProblem(f"unknown field {_shown(unknown[0])}")
    type_name = obj.get("type")
    if type_name is None:
        raise LineProblem("type: missing")
    try:
        type_name = catalog.check_type_name(type_name)
    except EventRefused as exc:
        raise LineProblem(f"type: {exc}") from None
    data = _data(obj.get("data"))
    source = _text("source", obj.get("source")) or DEFAULT_SOURCE
    ts = obj.get("ts")
    if ts is None:
        if need_ts:
            raise LineProblem("ts: missing (when it happened, epoch seconds; or use --as-new)")
    elif isinstance(ts, bool) or not isinstance(ts, (int, float)) or not math.isfinite(ts):
        raise LineProblem(f"ts: epoch seconds, not {_shown(ts)}")
    elif not 0 <= ts < 1e11:
        raise LineProblem(f"ts: epoch seconds, not {ts:g}")
    status = obj.get("status") or "completed"
    if status not in EVENT_STATUSES:
        raise LineProblem(f"status: one of {', '.join(EVENT_STATUSES)}, not {_shown(status)}")
    event_id = obj.get("id")
    if event_id is not None and (isinstance(event_id, bool) or not isinstance(event_id, int)):
        raise LineProblem(f"id: a whole number, not {_shown(event_id)}")
    canonical = json.dumps(obj, sort_keys=True, ensure_ascii=True, separators=(",", ":"))
    return LineEvent(
        line=number,
        key="import:" + hashlib.sha256(canonical.encode()).hexdigest()[:40],
        type=type_name,
        data=data,
        source=source,
        ts=None if ts is None else float(ts),
        status=str(status),
        stack=_text("stack", obj.get("stack")),
        agent=_text("agent", obj.get("agent")),
        run_id=_text("run_id", obj.get("run_id")),
    )


def _lines(fh: IO[bytes]) -> Iterator[tuple[int, bytes | None]]:
    """(line number, its bytes), blank lines left out; None for a line longer than
    MAX_LINE, which is skipped a piece at a time instead of read into memory."""
    number = 0
    while raw := fh.readline(MAX_LINE + 1):
        number += 1
        if len(raw) > MAX_LINE and not raw.endswith(b"\n"):
            while (rest := fh.readline(1 << 16)) and not rest.endswith(b"\n"):
                pass
            yield number, None
        elif raw.strip():
            yield number, raw


def check_lines(
    fh: IO[bytes], *, need_ts: bool, max_problems: int = 100
) -> tuple[int, list[str], int]:
    """The first pass: (how many events, the first `max_problems` problems, how many
    lines were bad). Holds one line at a time."""
    count = bad = 0
    problems: list[str] = []
    for number, raw in _lines(fh):
        try:
            if raw is None:
                raise LineProblem(f"longer than {MAX_LINE // (1024 * 1024)} MiB")
            parse_line(number, raw, need_ts=need_ts)
            count += 1
        except LineProblem as exc:
            bad += 1
            if len(problems) < max_problems:
                problems.append(f"line {number}: {exc}")
    return count, problems, bad


def read_events(fh: IO[bytes], *, need_ts: bool) -> Iterator[LineEvent]:
    """The second pass, over lines check_lines passed: the events, one at a time."""
    for number, raw in _lines(fh):
        if raw is not None:
            yield parse_line(number, raw, need_ts=need_ts)
