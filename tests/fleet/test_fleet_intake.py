"""The intake: other engines' events and runs land in each store once, with their origin;
what is not a valid event or run is refused and counted. Real nats-server, real serve
processes (fleetkit), messages of strangers published with nats-py."""

from __future__ import annotations

import asyncio
import json
import socket
from pathlib import Path
from typing import Any

from fleetkit import Fleet, FleetEngine, wait_for
from natskit import NatsServer

from sloth_tui.fleet import subjects
from sloth_tui.fleet.codec import encode_event, encode_run
from sloth_tui.model.records import Event, Execution, LogLine

DEPLOY = "sloth.events.deploy.failed"


def fleet_status(engine: FleetEngine) -> dict[str, Any]:
    """The socket op `fleet_status` (the CLI's `fleet status` is not there yet)."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.settimeout(30)
        sock.connect(str(engine.socket))
        sock.sendall(b'{"op": "fleet_status"}\n')
        reply = json.loads(sock.makefile("rb").readline())
    assert reply.get("ok"), reply
    return dict(reply["fleet"])


def counter(engine: FleetEngine, name: str) -> int:
    return int(fleet_status(engine)["counters"].get(name, 0))


def publish(url: str, *messages: tuple[str, bytes, str | None]) -> None:
    """(subject, payload, message id) to JetStream, each acked."""

    async def go() -> None:
        import nats

        nc = await nats.connect(url)
        js = nc.jetstream()
        for subject, payload, msg_id in messages:
            headers = {"Nats-Msg-Id": msg_id} if msg_id else None
            await js.publish(subject, payload, headers=headers, timeout=10)
        await nc.close()

    asyncio.run(go())


def events_of(engine: FleetEngine, origin: str) -> list[tuple[Any, ...]]:
    return engine.rows(
        "SELECT type, data, ts, source, depth, parent_id, status FROM events "
        "WHERE origin = ? ORDER BY ts, id",
        (origin,),
    )


def stranger_event(origin: str, local: int, type_: str = "deploy.failed", **kw: Any) -> Event:
    return Event(local, type_, type_.split(".")[0], {"n": local}, "cli", 1_700_000_000.5, **kw)


def test_events_cross_both_ways_once_with_their_origin(tmp_path: Path, nats_server: NatsServer):
    fleet = Fleet(tmp_path, nats_server.url, ["a", "b"]).start()
    try:
        sent_a = [{"type": "deploy.failed", "data": {"i": i}} for i in range(40)]
        sent_b = [{"type": "task.completed", "data": {"i": i}} for i in range(30)]
        assert all(r.get("ok") for r in fleet["a"].send(*sent_a))
        assert all(r.get("ok") for r in fleet["b"].send(*sent_b))
        # (the membership's agent.* events cross too: counted by type here)
        wait_for(lambda: fleet["b"].count("deploy.*", origin="a") == 40, what="a's on b")
        wait_for(lambda: fleet["a"].count("task.*", origin="b") == 30, what="b's on a")
        wait_for(lambda: fleet["a"].rows("SELECT COUNT(*) FROM fleet_outbox")[0][0] == 0)
        # Same type, data, time and source as stored where they happened; once each.
        here = fleet["a"].rows(
            "SELECT type, data, ts, source FROM events WHERE origin IS NULL "
            "AND type = 'deploy.failed' ORDER BY id"
        )
        there = fleet["b"].rows(
            "SELECT type, data, ts, source FROM events WHERE origin = 'a' "
            "AND type = 'deploy.failed' ORDER BY id"
        )
        assert here == there and len(there) == 40
        assert {json.loads(d)["i"] for _t, d, _ts, _s in there} == set(range(40))
        # Once each: one key per event, and no event twice.
        keys = fleet["b"].rows("SELECT COUNT(*), COUNT(DISTINCT key) FROM mirrored")[0]
        assert keys[0] == keys[1] == fleet["b"].count(origin="a")
        # Nothing taken in goes out again (its origin is set: no outbox row, no echo).
        assert fleet["b"].count("deploy.*") == 40 and fleet["a"].count("task.*") == 30
        own_a = fleet["a"].rows("SELECT COUNT(*) FROM events WHERE origin IS NULL")[0][0]
        wait_for(lambda: counter(fleet["a"], "own_skipped") >= 40, what="a skips its own")
        status = fleet_status(fleet["b"])
        assert status["counters"]["published"] >= 30
        assert status["counters"]["taken_in"] == fleet["b"].count(origin="a") <= own_a
        assert status["counters"].get("refused", 0) == 0
    finally:
        fleet.stop()


def test_parent_depth_and_runs_of_other_engines(tmp_path: Path, nats_server: NatsServer):
    """Strangers' messages published by hand (the runner is another part): a chain from z
    keeps its parent and depth; y's runs on z's events are stored whole with origin y and
    move the event's status; a run that arrives before its event waits for it; a run by
    the receiver itself is skipped."""
    a = FleetEngine(tmp_path, "a", nats_server.url).start()
    try:
        p = nats_server.url
        prefix = "sloth"
        parent = stranger_event("z", 1, status="pending")
        child = stranger_event("z", 2, "task.failed", parent_id=1, depth=1, status="pending")
        run_late = Execution(
            "notify", 2, "error", 1_700_000_001.0, 12.5, error="boom", id=9, event_type="x.y"
        )
        run_ok = Execution(
            "notify",
            1,
            "success",
            1_700_000_001.5,
            3.0,
            result={"sent": True},
            logs=[LogLine("info", 1_700_000_001.6, "posted")],
            calls=[{"fn": "http.post", "status": 200}],
            trigger="retry",
            attempt=2,
            id=8,
            event_type="deploy.failed",
        )
        # The run on z:2 comes before z:2 itself.
        publish(
            p,
            (subjects.run_subject(prefix, "notify"), encode_run("y", run_late, "z:2"), None),
            (
                subjects.event_subject(prefix, "deploy.failed"),
                encode_event("z", parent, None),
                None,
            ),
            (subjects.run_subject(prefix, "notify"), encode_run("y", run_ok, "z:1"), None),
            (subjects.run_subject(prefix, "notify"), encode_run("a", run_ok, "z:1"), None),
        )
        wait_for(lambda: len(events_of(a, "z")) == 1, what="z:1")
        publish(
            p,
            (subjects.event_subject(prefix, "task.failed"), encode_event("z", child, "z:1"), None),
        )
        wait_for(lambda: len(events_of(a, "z")) == 2, what="z:2")
        wait_for(lambda: len(a.rows("SELECT 1 FROM executions")) == 2, what="y's two runs")
        rows = a.rows("SELECT id, type, parent_id, depth, source FROM events WHERE origin = 'z'")
        by_type = {r[1]: r for r in rows}
        assert by_type["task.failed"][2] == by_type["deploy.failed"][0]  # parent mapped here
        assert by_type["task.failed"][3] == 1
        assert by_type["deploy.failed"][4] == "cli"  # its own source, not "fleet"
        runs = a.rows(
            "SELECT x.status, x.origin, x.trigger, x.attempt, x.duration_ms, x.error, x.logs, "
            "x.calls, x.result, e.type FROM executions x JOIN events e ON e.id = x.event_id "
            "ORDER BY x.started"
        )
        late, ok = runs
        assert late[:2] == ("error", "y") and late[5] == "boom" and late[9] == "task.failed"
        assert ok[:5] == ("success", "y", "retry", 2, 3.0)
        assert json.loads(ok[6])[0]["message"] == "posted"
        assert json.loads(ok[7]) == [{"fn": "http.post", "status": 200}]
        assert json.loads(ok[8]) == {"sent": True} and ok[9] == "deploy.failed"
        wait_for(
            lambda: (
                dict(a.rows("SELECT type, status FROM events WHERE origin = 'z'"))
                == {"deploy.failed": "completed", "task.failed": "failed"}
            ),
            what="statuses from the runs",
        )
        status = fleet_status(a)["counters"]
        assert status["runs_taken_in"] == 2 and status["taken_in"] == 2
        # Published again (a redelivery, a retried publish): nothing more.
        publish(
            p,
            (
                subjects.event_subject(prefix, "deploy.failed"),
                encode_event("z", parent, None),
                None,
            ),
            (subjects.run_subject(prefix, "notify"), encode_run("y", run_ok, "z:1"), None),
        )
        publish(p, (subjects.event_subject(prefix, "custom"), b"not json", None))
        wait_for(lambda: counter(a, "refused") == 1, what="the marker message")
        assert len(events_of(a, "z")) == 2 and len(a.rows("SELECT 1 FROM executions")) == 2
    finally:
        a.stop()


BAD: list[tuple[str, bytes]] = [
    ("sloth.events.deploy.failed", b"\x00\xff garbage \xfe"),
    ("sloth.events.deploy.failed", b"[1, 2, 3]"),
    ("sloth.events.deploy.failed", b'{"fleet_id": "z:1"}'),
    ("sloth.events.deploy.failed", b'{"type": "deploy.failed", "data": {}}'),
    ("sloth.events.deploy.failed", b"[" * 5000 + b"]" * 5000),
    ("sloth.events.deploy.failed", b'{"a": ' * 200 + b"1" + b"}" * 200),
    ("sloth.events.custom._", b'"' + b"x" * 900_000 + b'"'),
    ("sloth.executions.h", b'{"fleet_id": "y:1", "engine": "y"}'),
    ("sloth.executions.h", b"\xc3\x28"),
]


def _bad_events() -> list[tuple[str, bytes]]:
    """Well-formed JSON that lies or carries what a store cannot keep."""
    good = json.loads(encode_event("z", stranger_event("z", 5), None))
    out = []
    for change in (
        {"origin": "y"},  # not the engine its fleet id names
        {"id": 6},  # not the id its fleet id names
        {"fleet_id": "z:five", "id": "five"},
        {"data": [1, 2]},
        {"ts": "yesterday"},
        {"source": "line\nbreak"},
        {"stack": "\x1b[31mred"},
        {"type": "Deploy.Failed"},
        {"type": "task.failed"},  # not its subject's type
        {"data": {"s": "\ud800"}},  # a lone surrogate (json.dumps writes it as \\ud800)
        {"fleet_id": "a:999999", "origin": "a", "id": 999999},  # a liar: the receiver
        {"depth": -1},
        {"id": True, "fleet_id": "z:1"},
    ):
        body = {**good, **change}
        out.append(("sloth.events.deploy.failed", json.dumps(body).encode()))
    return out


def test_invalid_messages_are_refused_counted_and_the_intake_goes_on(
    tmp_path: Path, nats_server: NatsServer
):
    a = FleetEngine(tmp_path, "a", nats_server.url).start()
    try:
        bad = BAD + _bad_events()
        publish(nats_server.url, *((s, b, None) for s, b in bad))
        good = stranger_event("z", 7)
        publish(
            nats_server.url, ("sloth.events.deploy.failed", encode_event("z", good, None), None)
        )
        wait_for(lambda: len(events_of(a, "z")) == 1, what="the good event after the bad ones")
        wait_for(lambda: counter(a, "refused") == len(bad), what="every bad message counted")
        # Nothing else stored (a's own events aside: its membership's agent.*).
        assert a.rows("SELECT COUNT(*) FROM events WHERE origin IS NOT NULL")[0][0] == 1
        assert a.rows("SELECT COUNT(*) FROM executions")[0][0] == 0
        assert a.proc is not None and a.proc.poll() is None
        # One log line, not one per message.
        assert a.output().count("fleet: refused a message") <= 2
    finally:
        a.stop()


def test_a_deleted_intake_consumer_is_made_again(tmp_path: Path, nats_server: NatsServer):
    """An operator (or a lost NATS store) deletes b's consumer: b makes it again, and
    what came meanwhile still arrives, once."""
    fleet = Fleet(tmp_path, nats_server.url, ["a", "b"]).start()
    try:

        async def delete() -> bool:
            import nats
            from nats.js.errors import NotFoundError

            nc = await nats.connect(nats_server.url)
            try:
                js = nc.jetstream()
                return bool(await js.delete_consumer("SLOTH_EVENTS", subjects.intake_consumer("b")))
            except NotFoundError:
                return False  # b has not made it yet
            finally:
                await nc.close()

        wait_for(lambda: asyncio.run(delete()), 30, "b's consumer, deleted")
        fleet["a"].send(*({"type": "deploy.failed", "data": {"i": i}} for i in range(10)))
        wait_for(lambda: fleet["b"].count("deploy.*", origin="a") == 10, 60, "a's 10 on b")
        keys = fleet["b"].rows("SELECT COUNT(*), COUNT(DISTINCT key) FROM mirrored")[0]
        assert keys[0] == keys[1]
    finally:
        fleet.stop()
