"""Engines are agents (issue 15, Build 5): heartbeats in the members bucket, each engine's
view of the others, the agent.* events recorded once fleet-wide and taken in by every
store, and one name held by one live engine. Real nats-server, real `serve` processes.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import nats
from fleetkit import Fleet, FleetEngine, wait_for
from natskit import NatsServer

from sloth_tui.engine.events import checked_parts
from sloth_tui.fleet.members import MemberRecord
from sloth_tui.model.fleet import FleetMember

FAST = "heartbeat = 0.5\n"  # down after 3 x 0.5 + 2 s


def status(engine: FleetEngine) -> dict[str, Any] | None:
    """`fleet status --json` from the engine's daemon; None when it did not answer."""
    done = engine.cli("fleet", "status", "--json")
    if done.returncode != 0:
        return None
    value: dict[str, Any] = json.loads(done.stdout)
    return value


def heartbeats(engine: FleetEngine) -> int:
    """Heartbeats the engine has sent (0 before its first, and when it did not answer)."""
    st = status(engine) or {}
    return int(st.get("counters", {}).get("heartbeats", 0))


def states(engine: FleetEngine) -> dict[str, str]:
    st = status(engine)
    return {} if st is None else {m["name"]: m["state"] for m in st["members"]}


def agent_rows(engine: FleetEngine, type_: str, name: str) -> list[tuple[Any, ...]]:
    """(origin, data, warnings) of the `type_` events about engine `name` in its store."""
    rows = engine.rows(
        "SELECT origin, data, warnings FROM events WHERE type = ? ORDER BY id", (type_,)
    )
    return [r for r in rows if (json.loads(r[1]).get("agent") or {}).get("name") == name]


def recorded(engines: list[FleetEngine], type_: str, name: str) -> int:
    """How many engines recorded it themselves (origin NULL): the fleet-wide count."""
    return sum(1 for e in engines for r in agent_rows(e, type_, name) if r[0] is None)


def test_three_engines_see_each_other_and_agent_events_are_recorded_once(
    tmp_path: Path, nats_server: NatsServer
) -> None:
    fleet = Fleet(tmp_path, nats_server.url, ["a", "b", "c"], config=FAST).start()
    engines = list(fleet)
    try:
        all_up = {"a": "up", "b": "up", "c": "up"}
        for engine in engines:
            wait_for(lambda e=engine: states(e) == all_up, 60, f"{engine.name} sees 3 up")
        for name in ("a", "b", "c"):
            for type_ in ("agent.registered", "agent.connected"):
                wait_for(
                    lambda t=type_, n=name: recorded(engines, t, n) == 1, 30, f"{type_} {name}"
                )

        fleet["c"].kill()
        for engine in engines[:2]:
            wait_for(lambda e=engine: states(e).get("c") == "down", 60, f"{engine.name}: c down")
            # Recorded by one engine, taken in by the other: one row in each store.
            wait_for(
                lambda e=engine: len(agent_rows(e, "agent.disconnected", "c")) == 1,
                60,
                f"agent.disconnected in {engine.name}'s store",
            )
        assert recorded(engines, "agent.disconnected", "c") == 1
        assert recorded(engines, "agent.disconnected", "a") == 0
        # late on the way down: one missed-heartbeat report for that silence
        assert recorded(engines, "agent.heartbeat_failed", "c") == 1

        fleet["c"].start()
        for engine in engines:
            wait_for(lambda e=engine: states(e) == all_up, 60, f"{engine.name} sees c again")
        wait_for(lambda: recorded(engines, "agent.connected", "c") == 2, 30, "c connected again")
        for engine in engines:  # every store takes in both of c's connections, once each
            wait_for(
                lambda e=engine: len(agent_rows(e, "agent.connected", "c")) == 2,
                60,
                f"c's connections in {engine.name}'s store",
            )
        # registered once: c's name was in the bucket when it came back
        assert recorded(engines, "agent.registered", "c") == 1
        assert recorded(engines, "agent.disconnected", "c") == 1

        # Every agent.* event fits the catalog: no warning stored, strict check passes.
        rows = engines[0].rows("SELECT type, data, warnings FROM events WHERE type LIKE 'agent.%'")
        assert rows
        for type_, data, warnings in rows:
            assert not warnings or json.loads(warnings) == [], (type_, warnings)
            checked_parts(type_, json.loads(data), strict=True)
    finally:
        fleet.stop()


def test_a_second_engine_with_a_live_name_refuses_to_join(
    tmp_path: Path, nats_server: NatsServer
) -> None:
    first = FleetEngine(tmp_path / "one", "twin", nats_server.url, config=FAST).start()
    second = FleetEngine(tmp_path / "two", "twin", nats_server.url, config=FAST)
    try:
        wait_for(lambda: states(first) == {"twin": "up"}, 30, "first joined")
        second.start(wait_connected=False)
        line = "another live engine is named 'twin'"
        wait_for(lambda: line in second.output(), 30, "the refusal")
        assert second.output().count(line) == 1  # one line, no traceback
        assert "serve --name NAME" in second.output()  # and how to give it another
        assert "Traceback" not in second.output()
        st = wait_for(lambda: status(second), 30, "second's status")
        assert line in st["error"] and not st["connected"]
        assert st["counters"].get("name_refused") == 1
        # the refusal is an event in its own store, and it keeps running alone
        wait_for(lambda: second.count("system.error") == 1, 30, "system.error stored")
        assert second.send({"type": "custom", "data": {"x": 1}})[0].get("ok")
        assert second.proc is not None and second.proc.poll() is None
        # the first is unaffected: still up, one incarnation, no disconnect recorded
        before = status(first)
        assert before is not None
        wait_for(
            lambda: (
                (status(first) or {}).get("counters", {}).get("heartbeats", 0)
                > before["counters"].get("heartbeats", 0) + 4
            ),
            30,
            "first keeps beating",
        )
        assert states(first) == {"twin": "up"}
        assert first.count("agent.disconnected") == 0
        assert first.count("agent.connected") == 1
        assert "refus" not in first.output()
    finally:
        second.stop()
        first.stop()


def test_a_killed_engine_restarted_under_its_name_rejoins(
    tmp_path: Path, nats_server: NatsServer
) -> None:
    """Its old record is still fresh: no heartbeat follows it, so it is taken over, and
    the dead incarnation is reported disconnected once."""
    engine = FleetEngine(tmp_path, "solo", nats_server.url, config=FAST).start()
    try:
        wait_for(lambda: states(engine) == {"solo": "up"}, 30, "joined")
        engine.kill()
        engine.start()
        wait_for(lambda: engine.count("agent.connected") == 2, 30, "second connection")
        assert "another live engine" not in engine.output()
        wait_for(lambda: engine.count("agent.disconnected") == 1, 30, "the dead one reported")
        assert engine.count("agent.registered") == 1
    finally:
        engine.stop()


async def test_a_name_contested_after_joining_is_kept_by_the_lower_incarnation(
    tmp_path: Path, nats_server: NatsServer
) -> None:
    """Another engine beating under a member's name (it took the name over while this one
    looked dead): both apply one rule, so exactly one of them leaves."""
    engine = FleetEngine(tmp_path, "dup", nats_server.url, config=FAST).start()
    nc = await nats.connect(nats_server.url)
    try:
        wait_for(lambda: states(engine) == {"dup": "up"}, 30, "joined")
        kv = await nc.jetstream().key_value("sloth_members")
        member = FleetMember("dup", "elsewhere", "0.1.0", last_heartbeat=time.time() + 3600)
        await kv.put("dup", MemberRecord(member, "f" * 32, 60.0).to_json())  # higher: ignored
        beats = heartbeats(engine)  # no counter yet before the first beat after joining
        wait_for(lambda: heartbeats(engine) > beats + 4, 30, "beating on")
        assert "another live engine" not in engine.output()
        await kv.put("dup", MemberRecord(member, "0" * 32, 60.0).to_json())  # lower: it wins
        line = "another live engine is named 'dup' on elsewhere"
        wait_for(lambda: line in engine.output(), 30, "the engine leaves")
        st = wait_for(lambda: status(engine), 30, "status")
        assert not st["connected"] and line in st["error"]
        entry = await kv.get("dup")  # the engine no longer writes its record over the other
        assert MemberRecord.from_json(entry.value).incarnation == "0" * 32
        assert engine.output().count(line) == 1 and "Traceback" not in engine.output()
        assert engine.proc is not None and engine.proc.poll() is None
    finally:
        await nc.close()
        engine.stop()
