"""The intake's way into a real Engine(fleet=True), in process: `take_in` keeps each
event's own source, origin, depth and parent (mapped here), once; runs of other engines
are stored whole and move their event's status by the documented rule; the publisher's
reverse look-up (FleetPort.fleet_ids) names only copies of other engines' events."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest

from sloth_tui.config import Settings
from sloth_tui.engine.engine import Engine
from sloth_tui.fleet.codec import FleetEvent
from sloth_tui.fleet.intake import take_in
from sloth_tui.fleet.link import FleetLink
from sloth_tui.fleet.parts import FleetContext
from sloth_tui.fleet.settings import FleetSettings
from sloth_tui.model.mirror import ForeignEvent, ForeignExecution, MirrorBatch
from sloth_tui.model.records import Event, Execution

LuaFile = Callable[..., Path]


@pytest.fixture
async def engine(settings: Settings) -> AsyncIterator[Engine]:
    engine = await Engine.open(settings, fleet=True)
    await engine.fleet_port().outbox_enable()
    yield engine
    await engine.close()


def context(engine: Engine) -> FleetContext:
    fleet = FleetSettings(servers=("nats://127.0.0.1:1",), name="a")
    return FleetContext(engine, engine.fleet_port(), FleetLink(fleet), fleet)  # type: ignore[arg-type]


def stranger(local: int, type_: str = "deploy.failed", parent: str | None = None, **kw: Any):
    event = Event(local, type_, type_.split(".")[0], {"n": local}, "http:alertmanager", 17.5, **kw)
    return FleetEvent(f"z:{local}", "z", event, parent)


async def read(engine: Engine, sql: str, *params: Any) -> list[tuple[Any, ...]]:
    def go(conn: Any) -> list[tuple[Any, ...]]:
        return [tuple(r) for r in conn.execute(sql, params).fetchall()]

    result: list[tuple[Any, ...]] = await engine.store.run_readonly(go)
    return result


async def test_take_in_keeps_source_origin_depth_and_maps_parents(engine: Engine) -> None:
    ctx = context(engine)
    own = await engine.dispatch("deploy.started", {"service": "api"})
    events = [
        stranger(1),
        stranger(2, "deploy.failed", "z:1", depth=1, parent_id=1),
        stranger(3, "task.failed", f"a:{own.id}", depth=1, parent_id=own.id),
        stranger(4, "task.failed", "q:77", depth=3, parent_id=77),  # parent never seen
        FleetEvent(f"a:{own.id}", "a", own, None),  # this engine's own: its own id
    ]
    ids = await take_in(ctx, events)
    assert ids[f"a:{own.id}"] == own.id and len(ids) == 5
    rows = {
        r[0]: r[1:]
        for r in await read(
            engine, "SELECT id, type, source, origin, parent_id, depth, ts FROM events"
        )
    }
    z1, z2, z3, z4 = (rows[ids[f"z:{n}"]] for n in (1, 2, 3, 4))
    assert z1 == ("deploy.failed", "http:alertmanager", "z", None, 0, 17.5)
    assert z2[3:5] == (ids["z:1"], 1)
    assert z3[3:5] == (own.id, 1)
    assert z4[3:5] == (None, 3)  # parent not here: none, the depth kept
    # Again (a redelivery, or the runner asking first): nothing new, the same ids.
    assert await take_in(ctx, events) == ids
    assert len(rows) == len(await read(engine, "SELECT id FROM events"))
    # Only this engine's own event waits to go out; copies never echo.
    outbox = await read(engine, "SELECT ref FROM fleet_outbox WHERE kind = 'event'")
    assert [r[0] for r in outbox] == [own.id]
    assert ctx.counters.values["taken_in"] == 4
    # The reverse look-up names the copies, never this engine's own events.
    back = await engine.fleet_port().fleet_ids([own.id, ids["z:1"], ids["z:4"]])
    assert back == {ids["z:1"]: "z:1", ids["z:4"]: "z:4"}


def run(key: str, event_key: str, status: str, **kw: Any) -> ForeignExecution:
    record = Execution("notify", 1, status, 100.0, 2.0, id=9, origin="y", **kw)
    return ForeignExecution(
        key, event_key, "notify", status == "success", 100.0, 2.0, record=record
    )


def runs(*executions: ForeignExecution, own: tuple[tuple[str, int], ...] = ()) -> MirrorBatch:
    return MirrorBatch("fleet", "fleet:runs", "1", executions=executions, local_keys=own)


async def test_runs_of_other_engines_move_their_event_status(
    engine: Engine, lua_file: LuaFile
) -> None:
    await engine.add_hook("notify", ["deploy.*"], lua_file("function on_event() end"))
    ctx = context(engine)
    mine = await engine.dispatch("deploy.failed", {"service": "api"})
    other = await engine.dispatch("deploy.started", {"service": "api"})
    assert (await engine.get_event(mine.id)).status == "pending"  # the fleet runs it
    ids = await take_in(ctx, [stranger(1, status="pending"), stranger(2, status="processing")])
    own = ((f"a:{mine.id}", mine.id), (f"a:{other.id}", other.id))
    result = await engine.mirror(
        runs(
            run("y:1", f"a:{mine.id}", "success", logs=[], calls=[{"fn": "http.get"}]),
            run("y:2", "z:1", "timeout", error="took too long", limit="timeout"),
            run("y:3", "z:2", "success"),
            own=own,
        )
    )
    assert result.executions_added == 3 and not result.missing
    status = dict(await read(engine, "SELECT id, status FROM events"))
    assert status[mine.id] == "completed"  # pending -> completed (it worked)
    assert status[ids["z:1"]] == "failed"  # pending -> failed (timeout)
    assert status[ids["z:2"]] == "completed"  # "processing" there is pending here
    # A failed run turns a completed event failed; a success never mends a failure.
    await engine.mirror(
        runs(
            run("y:4", f"a:{mine.id}", "error", error="boom"),
            run("y:5", "z:1", "success"),
            own=own,
        )
    )
    status = dict(await read(engine, "SELECT id, status FROM events"))
    assert status[mine.id] == "failed" and status[ids["z:1"]] == "failed"
    stored = await read(
        engine,
        "SELECT hook, status, origin, error, lim, calls FROM executions WHERE event_id = ? "
        "ORDER BY id",
        mine.id,
    )
    assert stored[0][:3] == ("notify", "success", "y")
    assert json.loads(stored[0][5]) == [{"fn": "http.get"}]
    assert stored[1][:4] == ("notify", "error", "y", "boom")
    # None of these runs goes out again (their origin is set).
    assert not await read(engine, "SELECT 1 FROM fleet_outbox WHERE kind = 'execution'")
    # A run whose event is not here waits; the same run twice is stored once.
    later = await engine.mirror(runs(run("y:6", "z:99", "success"), run("y:1", "a:1", "success")))
    assert later.missing == ("z:99",) and later.executions_known == 1


async def test_the_bridge_wire_form_carries_no_fleet_fields() -> None:
    """A socket client cannot pass its events off as another source or engine: the fleet
    fields stay in the process (model/mirror.py)."""
    foreign = ForeignEvent("k", "deploy.failed", {}, 1.0, source="system", origin="a", depth=2)
    back = ForeignEvent.from_dict(foreign.to_dict())
    assert (back.source, back.origin, back.depth) == (None, None, 0)
    batch = MirrorBatch("sloth-runner", "c", "1", local_keys=(("a:1", 1),))
    assert MirrorBatch.from_dict(batch.to_dict()).local_keys == ()
