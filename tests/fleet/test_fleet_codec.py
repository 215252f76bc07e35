"""The fleet codec: what an engine publishes comes back the same; what a stranger sends is
a FleetEvent/FleetRun of well-typed, storable fields or a CodecError, never another
exception (the intake refuses and counts it, and goes on)."""

from __future__ import annotations

import contextlib
import json
import math
from typing import Any

import pytest
from hostile import SAMPLES, hostile_text
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sloth_tui.fleet.codec import (
    MAX_MESSAGE_BYTES,
    CodecError,
    FleetEvent,
    FleetRun,
    decode_event,
    decode_run,
    encode_event,
    encode_run,
    event_msg_id,
    run_msg_id,
)
from sloth_tui.model.records import EVENT_STATUSES, EXEC_STATUSES, Event, Execution, LogLine

SETTINGS = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])

json_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**70), 2**70),
    st.floats(allow_nan=False, allow_infinity=False),
    hostile_text(40),
)
json_values = st.recursive(
    json_scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4), st.dictionaries(hostile_text(10), inner, max_size=4)
    ),
    max_leaves=20,
)
names = st.from_regex(r"[A-Za-z0-9][A-Za-z0-9_-]{0,20}", fullmatch=True)
types = st.sampled_from(["deploy.failed", "task.completed", "agent.heartbeat_failed", "custom"])


def sample_event(**kw: Any) -> Event:
    base: dict[str, Any] = {
        "id": 5,
        "type": "deploy.failed",
        "category": "deploy",
        "data": {"service": "api", "n": 1},
        "source": "socket",
        "ts": 1_700_000_000.25,
        "status": "pending",
    }
    base.update(kw)
    return Event(**base)


def sample_run(**kw: Any) -> Execution:
    base: dict[str, Any] = {
        "hook": "notify.slack",
        "event_id": 5,
        "status": "failed",
        "started": 1_700_000_001.0,
        "duration_ms": 12.5,
        "error": "boom at line 3",
        "error_line": 3,
        "logs": [LogLine("warn", 1_700_000_001.1, "retrying")],
        "calls": [{"fn": "http.post", "status": 500}],
        "id": 44,
        "event_type": "deploy.failed",
        "trigger": "retry",
        "attempt": 2,
    }
    base.update(kw)
    return Execution(**base)


def test_an_event_comes_back_as_it_went_out():
    event = sample_event(parent_id=4, depth=1, stack="web", agent="w1", run_id="r-1")
    fe = decode_event(encode_event("a", event, "b:9"))
    assert fe == FleetEvent("a:5", "a", fe.event, "b:9")
    assert fe.event.to_dict() == {**event.to_dict(), "origin": "a"}
    assert event_msg_id(fe.fleet_id) == "e:a:5"


def test_a_run_comes_back_as_it_went_out():
    run = sample_run()
    fr = decode_run(encode_run("b", run, "a:5"))
    assert fr == FleetRun("b:44", "b", "a:5", fr.execution)
    assert fr.execution.to_dict() == {**run.to_dict(), "origin": "b"}
    assert run_msg_id(fr.fleet_id) == "x:b:44"


@SETTINGS
@given(
    origin=names,
    local=st.integers(0, 2**62),
    type_=types,
    data=st.dictionaries(hostile_text(20), json_values, max_size=5),
    ts=st.floats(0, 4e9),
    status=st.sampled_from(EVENT_STATUSES),
    depth=st.integers(0, 50),
    parent=st.one_of(st.none(), st.tuples(names, st.integers(0, 10**9))),
)
def test_any_valid_event_round_trips_or_is_refused_for_its_text(
    origin, local, type_, data, ts, status, depth, parent
):
    category = "custom" if type_ == "custom" else type_.split(".")[0]
    event = Event(local, type_, category, data, "cli", ts, None, depth, status)
    parent_fid = None if parent is None else f"{parent[0]}:{parent[1]}"
    payload = encode_event(origin, event, parent_fid)
    try:
        fe = decode_event(payload)
    except CodecError:
        # Only text SQLite cannot store (a lone surrogate) is a reason here.
        assert not _utf8(data)
        return
    assert fe.event.data == data and fe.event.ts == ts and fe.parent_fleet_id == parent_fid
    assert fe.fleet_id == f"{origin}:{local}" and fe.event.origin == origin


def _utf8(value: Any) -> bool:
    try:
        json.dumps(value, ensure_ascii=False).encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


@SETTINGS
@given(st.binary(max_size=2000))
def test_any_bytes_decode_or_raise_codec_error(data):
    for decode in (decode_event, decode_run):
        with contextlib.suppress(CodecError):
            decode(data)


FIELDS_EVENT = list(json.loads(encode_event("z", sample_event(), "y:1")))
FIELDS_RUN = list(json.loads(encode_run("y", sample_run(), "z:5")))


@SETTINGS
@given(
    changes=st.dictionaries(
        st.one_of(st.sampled_from(FIELDS_EVENT + FIELDS_RUN), hostile_text(8)),
        json_values,
        min_size=1,
        max_size=4,
    ),
    drop=st.lists(st.sampled_from(FIELDS_EVENT + FIELDS_RUN), max_size=3),
)
def test_a_mangled_message_is_refused_or_decodes_to_storable_records(changes, drop):
    for payload, decode in (
        (json.loads(encode_event("z", sample_event(), "y:1")), decode_event),
        (json.loads(encode_run("y", sample_run(), "z:5")), decode_run),
    ):
        for key in drop:
            payload.pop(key, None)
        payload.update(changes)
        try:
            raw = json.dumps(payload).encode()
        except (ValueError, TypeError):
            continue
        try:
            decoded = decode(raw)
        except CodecError:
            continue
        _check_storable(decoded)


def _check_storable(decoded: FleetEvent | FleetRun) -> None:
    """What decode lets through is what the store and the screens can take."""
    if isinstance(decoded, FleetEvent):
        event = decoded.event
        assert isinstance(event.id, int) and not isinstance(event.id, bool)
        assert isinstance(event.data, dict) and math.isfinite(event.ts)
        assert event.status in EVENT_STATUSES and isinstance(event.source, str)
        assert event.origin == decoded.origin and decoded.fleet_id.endswith(f":{event.id}")
        for text in (event.source, event.stack, event.agent, event.run_id):
            assert text is None or all(c >= " " and c != "\x7f" for c in text)
        assert _utf8(event.to_dict())
    else:
        run = decoded.execution
        assert run.status in EXEC_STATUSES and math.isfinite(run.started)
        assert run.duration_ms >= 0 and run.dry_run is False and run.origin == decoded.engine
        assert all(isinstance(line.message, str) for line in run.logs)
        assert all(isinstance(call, dict) for call in run.calls)
        assert _utf8(run.to_dict())


@pytest.mark.parametrize("text", SAMPLES)
def test_hostile_text_in_names_is_refused_and_in_data_kept(text):
    for field in ("source", "stack", "agent", "run_id"):
        body = json.loads(encode_event("z", sample_event(), None))
        body[field] = text
        try:
            fe = decode_event(json.dumps(body).encode())
        except CodecError:
            continue
        _check_storable(fe)
    body = json.loads(encode_event("z", sample_event(data={"msg": text}), None))
    raw = json.dumps(body).encode()
    if len(raw) > MAX_MESSAGE_BYTES or not _utf8(text):
        with pytest.raises(CodecError):
            decode_event(raw)
    else:
        assert decode_event(raw).event.data == {"msg": text}


@pytest.mark.parametrize(
    "raw",
    [
        b"[" * 200_000 + b"]" * 200_000,
        b'{"a":' * 50_000 + b"1" + b"}" * 50_000,
        b'"' + b"x" * (MAX_MESSAGE_BYTES + 1) + b'"',
        b'{"fleet_id": "z:1", "origin": "z", "id": 1, "type": "deploy.failed", "data": '
        + b'{"x": "\\ud800"}, "source": "cli", "ts": 1}',
        b"",
        b"null",
        b'{"fleet_id": "a:b:c:1", "origin": "a:b:c"}',
        b'{"fleet_id": ":1", "origin": ""}',
        b'{"fleet_id": "z:-1", "origin": "z"}',
        b'{"fleet_id": "z:1", "origin": "z", "id": 1, "type": "deploy.failed", "data": {}, '
        b'"source": "cli", "ts": NaN}',
    ],
    ids=[
        "deep-list",
        "deep-object",
        "huge",
        "surrogate",
        "empty",
        "null",
        "colons",
        "blank",
        "negative",
        "nan",
    ],
)
def test_deep_huge_and_broken_messages_are_refused(raw):
    for decode in (decode_event, decode_run):
        with pytest.raises(CodecError):
            decode(raw)


def test_an_event_with_a_mismatched_origin_or_id_is_refused():
    good = json.loads(encode_event("z", sample_event(), None))
    for change in ({"origin": "y"}, {"id": 6}, {"category": "task"}, {"id": True}):
        with pytest.raises(CodecError):
            decode_event(json.dumps({**good, **change}).encode())


def test_a_dry_run_or_a_lying_engine_is_refused():
    good = json.loads(encode_run("y", sample_run(), "z:5"))
    for change in ({"dry_run": True}, {"engine": "x"}, {"status": "done"}, {"attempt": 0}):
        with pytest.raises(CodecError):
            decode_run(json.dumps({**good, **change}).encode())
