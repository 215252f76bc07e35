"""The fleet's messages <-> records. What comes in is a stranger's: every field is checked,
and a message that is not a valid event or run raises CodecError (one line), never
anything else, so a consumer refuses it, counts it, and goes on.

Payloads (fleet_common.md): an event is `Event.to_dict()` plus "fleet_id", "origin" and
"parent_fleet_id"; a run is `Execution.to_dict()` plus "fleet_id" (the run's),
"event_fleet_id" and "engine". Checked on the way in, beyond the JSON shape:
- size (MAX_MESSAGE_BYTES) before anything else, then nesting (MAX_NESTING) and no lone
  surrogate anywhere (SQLite could not store it: a whole batch would fail);
- fleet ids are ENGINE:ID with a valid engine name, the origin (or engine) is the one
  the fleet id names, the event's id is the one the fleet id names;
- names (engine, hook, source, stack...) are one line of text within limits; a status,
  trigger or level is one the engine knows; numbers are finite numbers, not booleans.
The event's data is checked again by the engine's own door (size, depth) when stored.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass
from typing import Any

from sloth_tui.catalog import category_of
from sloth_tui.fleet.subjects import fleet_id, parse_fleet_id
from sloth_tui.model.records import EVENT_STATUSES, EXEC_STATUSES, Event, Execution, LogLine


class CodecError(ValueError):
    pass


MAX_MESSAGE_BYTES = 1024 * 1024
MAX_NESTING = 80  # a hook result nests up to 64 (lua/encode.lua), event data 32; and the envelope
MAX_NAME = 256  # characters in a source, stack, agent, run id, level, limit name
MAX_DEPTH = 10_000  # an event chain's depth (the engine's max_depth is far lower)
ENGINE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,62}")  # fleet/settings.NAME
HOOK_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")  # model/rules check_hook_name
EVENT_TYPE = re.compile(r"[a-z0-9_]+\.[a-z0-9_]+|custom")
TRIGGERS = ("event", "rerun", "retry", "recovery", "test")  # model/policy.TRIGGERS


@dataclass(frozen=True, slots=True)
class FleetEvent:
    fleet_id: str  # "<origin>:<local id there>"
    origin: str
    event: Event  # as its origin stored it (id, parent_id are the origin's)
    parent_fleet_id: str | None


@dataclass(frozen=True, slots=True)
class FleetRun:
    fleet_id: str  # the run's: "<engine>:<execution local id there>"
    engine: str  # who ran it
    event_fleet_id: str
    execution: Execution


def event_msg_id(fid: str) -> str:
    return f"e:{fid}"


def run_msg_id(fid: str) -> str:
    return f"x:{fid}"


def encode_event(origin: str, event: Event, parent_fleet_id: str | None) -> bytes:
    body = event.to_dict()
    body["fleet_id"] = fleet_id(origin, event.id)
    body["origin"] = origin
    body["parent_fleet_id"] = parent_fleet_id
    return json.dumps(body, separators=(",", ":")).encode()


def encode_run(engine: str, execution: Execution, event_fleet_id: str) -> bytes:
    if execution.id is None:
        raise ValueError("a run is published once recorded (it has no id yet)")
    body = execution.to_dict()
    body["fleet_id"] = fleet_id(engine, execution.id)
    body["event_fleet_id"] = event_fleet_id
    body["engine"] = engine
    return json.dumps(body, separators=(",", ":")).encode()


# -- decoding -----------------------------------------------------------------------------


def decode_event(data: bytes) -> FleetEvent:
    body = _load(data)
    fid, origin, local = _fid(body, "fleet_id")
    if body.get("origin") != origin:
        raise CodecError("origin does not match fleet_id")
    parent = body.get("parent_fleet_id")
    if parent is not None:
        parent = _fid(body, "parent_fleet_id")[0]
    type_ = _text(body, "type", EVENT_TYPE)
    category = category_of(type_)  # the catalog's: restore.* is backup, dir.* is file
    if body.get("category", category) != category:
        raise CodecError("category does not match type")
    event_data = body.get("data")
    if not isinstance(event_data, dict):
        raise CodecError("data is not a JSON object")
    depth = _int(body, "depth", 0, 0, MAX_DEPTH)
    event = Event(
        id=_int(body, "id", None, 0, 2**63 - 1),
        type=type_,
        category=category,
        data=event_data,
        source=_line(body, "source", required=True) or "",
        ts=_number(body, "ts"),
        parent_id=_opt_int(body, "parent_id"),
        depth=depth,
        status=_choice(body, "status", EVENT_STATUSES, "pending"),
        warnings=_texts(body, "warnings"),
        stack=_line(body, "stack"),
        agent=_line(body, "agent"),
        run_id=_line(body, "run_id"),
        origin=origin,
    )
    if event.id != local:
        raise CodecError("id does not match fleet_id")
    return FleetEvent(fid, origin, event, parent)


def decode_run(data: bytes) -> FleetRun:
    body = _load(data)
    fid, engine, local = _fid(body, "fleet_id")
    if body.get("engine") != engine:
        raise CodecError("engine does not match fleet_id")
    event_fid = _fid(body, "event_fleet_id")[0]
    if body.get("dry_run", False) is not False:
        raise CodecError("a dry run is never published")
    error = body.get("error")
    if error is not None and not isinstance(error, str):
        raise CodecError("error is not text")
    execution = Execution(
        id=local,
        hook=_text(body, "hook", HOOK_NAME),
        event_id=_int(body, "event_id", None, 0, 2**63 - 1),
        status=_choice(body, "status", EXEC_STATUSES, None),
        started=_number(body, "started"),
        duration_ms=_number(body, "duration_ms", 0.0, low=0.0),
        result=body.get("result"),
        error=error,
        error_line=_opt_int(body, "error_line"),
        limit=_line(body, "limit"),
        logs=_logs(body.get("logs")),
        calls=_calls(body.get("calls")),
        dry_run=False,
        event_type=_line(body, "event_type") or "",
        origin=engine,
        trigger=_choice(body, "trigger", TRIGGERS, "event"),
        attempt=_int(body, "attempt", 1, 1, 1_000_000),
    )
    if body.get("id", local) != local:
        raise CodecError("id does not match fleet_id")
    return FleetRun(fid, engine, event_fid, execution)


def _load(data: bytes) -> dict[str, Any]:
    if not isinstance(data, bytes | bytearray | memoryview):
        raise CodecError("not bytes")
    if len(data) > MAX_MESSAGE_BYTES:
        raise CodecError(f"message of {len(data)} bytes is over {MAX_MESSAGE_BYTES}")
    raw = bytes(data)
    try:
        body = json.loads(raw)
    except (ValueError, RecursionError) as exc:  # UnicodeDecodeError is a ValueError
        raise CodecError(f"not JSON: {_short(exc)}") from None
    if not isinstance(body, dict):
        raise CodecError("not a JSON object")
    _check_tree(body)
    return body


def _check_tree(body: dict[str, Any]) -> None:
    """No nesting past MAX_NESTING (json.loads stops only at the interpreter's recursion
    limit, and what is that deep fails later, when stored) and no lone surrogate in any
    key or text (json.loads makes them from "\\ud800"; SQLite could not store them)."""
    stack: list[tuple[Any, int]] = [(body, 1)]
    while stack:
        item, level = stack.pop()
        if isinstance(item, str):
            if not item.isascii():
                try:
                    item.encode("utf-8")
                except UnicodeEncodeError:
                    raise CodecError("holds text that is not UTF-8 (a lone surrogate)") from None
        elif isinstance(item, dict | list):
            if level > MAX_NESTING:
                raise CodecError(f"nests deeper than {MAX_NESTING} levels")
            if isinstance(item, dict):
                stack.extend((key, level) for key in item)
                stack.extend((value, level + 1) for value in item.values())
            else:
                stack.extend((value, level + 1) for value in item)


def _short(exc: BaseException) -> str:
    return " ".join(str(exc).split())[:120] or type(exc).__name__


def _fid(body: dict[str, Any], key: str) -> tuple[str, str, int]:
    value = body.get(key)
    if not isinstance(value, str) or len(value) > 100 or not value.isascii():
        raise CodecError(f"{key} is not ENGINE:ID")
    parsed = parse_fleet_id(value)
    if parsed is None or not ENGINE_NAME.fullmatch(parsed[0]):
        raise CodecError(f"{key} is not ENGINE:ID")
    return value, parsed[0], parsed[1]


def _text(body: dict[str, Any], key: str, pattern: re.Pattern[str]) -> str:
    value = body.get(key)
    if not isinstance(value, str) or not pattern.fullmatch(value):
        raise CodecError(f"{key} is missing or not a valid name")
    return value


def _line(body: dict[str, Any], key: str, *, required: bool = False) -> str | None:
    """One line of text within MAX_NAME characters; None (or "") for none."""
    value = body.get(key)
    if value is None or value == "":
        if required:
            raise CodecError(f"{key} is missing")
        return None
    if not isinstance(value, str) or len(value) > MAX_NAME:
        raise CodecError(f"{key} is not text of at most {MAX_NAME} characters")
    if any(c < " " or c == "\x7f" for c in value):
        raise CodecError(f"{key} holds control characters")
    return value


def _texts(body: dict[str, Any], key: str) -> list[str]:
    value = body.get(key) or []
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise CodecError(f"{key} is not a list of text")
    return list(value)


def _choice(body: dict[str, Any], key: str, allowed: tuple[str, ...], default: str | None) -> str:
    value = body.get(key, default)
    if value not in allowed or not isinstance(value, str):
        raise CodecError(f"{key} is not one of {', '.join(allowed)}")
    return value


def _int(body: dict[str, Any], key: str, default: int | None, low: int, high: int) -> int:
    value = body.get(key, default)
    if type(value) is not int or not low <= value <= high:
        raise CodecError(f"{key} is not a whole number from {low} to {high}")
    return value


def _opt_int(body: dict[str, Any], key: str) -> int | None:
    value = body.get(key)
    if value is None:
        return None
    if type(value) is not int or abs(value) > 2**63 - 1:
        raise CodecError(f"{key} is not a whole number")
    return value


def _number(
    body: dict[str, Any], key: str, default: float | None = None, low: float | None = None
) -> float:
    value = body.get(key, default)
    if not isinstance(value, int | float) or isinstance(value, bool) or not math.isfinite(value):
        raise CodecError(f"{key} is not a finite number")
    if low is not None and value < low:
        raise CodecError(f"{key} is below {low}")
    return float(value)


def _logs(value: Any) -> list[LogLine]:
    if value is None:
        return []
    if not isinstance(value, list):
        raise CodecError("logs is not a list")
    out = []
    for line in value:
        if not isinstance(line, dict):
            raise CodecError("a log line is not an object")
        message = line.get("message")
        if not isinstance(message, str):
            raise CodecError("a log line's message is not text")
        level = _line(line, "level", required=True) or ""
        out.append(LogLine(level, _number(line, "ts"), message))
    return out


def _calls(value: Any) -> list[dict[str, Any]]:
    if value is None:
        return []
    if not isinstance(value, list) or not all(isinstance(c, dict) for c in value):
        raise CodecError("calls is not a list of objects")
    return list(value)
