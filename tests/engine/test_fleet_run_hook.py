"""FleetPort.run_hook on a real Engine(fleet=True): admission stores a matching event
pending and runs nothing; run_hook runs one hook once, records trigger "event" and
answers after the commit; None for what does not run here."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest

from sloth_tui.config import Settings
from sloth_tui.engine.engine import Engine

LuaFile = Callable[..., Path]
COUNTING = 'function on_event() state.incr("runs", 1) log.info("ran " .. event.type) end'


@pytest.fixture
async def fleet_engine(settings: Settings) -> AsyncIterator[Engine]:
    engine = await Engine.open(settings, fleet=True)
    yield engine
    await engine.close()


async def _stored_runs(engine: Engine, event_id: int) -> list[tuple[str, str, str, int | None]]:
    def read(conn: object) -> list[tuple[str, str, str, int | None]]:
        rows = conn.execute(  # type: ignore[attr-defined]
            "SELECT hook, status, COALESCE(trigger, 'event'), id FROM executions "
            "WHERE event_id = ? ORDER BY id",
            (event_id,),
        ).fetchall()
        return [tuple(r) for r in rows]

    result: list[tuple[str, str, str, int | None]] = await engine.store.run_readonly(read)
    return result


async def test_admission_leaves_the_hook_to_the_fleet(
    fleet_engine: Engine, lua_file: LuaFile
) -> None:
    await fleet_engine.add_hook("count", ["deploy.*"], lua_file(COUNTING))
    event = await fleet_engine.dispatch("deploy.failed", {"service": "api"})
    assert await fleet_engine.wait_idle(10)
    stored = await fleet_engine.get_event(event.id)
    assert stored.status == "pending"
    assert await _stored_runs(fleet_engine, event.id) == []

    port = fleet_engine.fleet_port()
    execution = await port.run_hook(event.id, "count")
    assert execution is not None
    assert execution.id is not None  # read back from the store: the record is durable
    assert (execution.hook, execution.status, execution.trigger) == ("count", "success", "event")
    assert execution.logs[0].message == "ran deploy.failed"
    # Committed before the answer: a fresh read sees it, once.
    assert await _stored_runs(fleet_engine, event.id) == [
        ("count", "success", "event", execution.id)
    ]
    assert (await fleet_engine.get_event(event.id)).status == "completed"
    assert (await fleet_engine.get_hook("count")).run_count == 1


async def test_what_does_not_run_here_is_none_and_records_nothing(
    fleet_engine: Engine, lua_file: LuaFile
) -> None:
    code = lua_file(COUNTING)
    await fleet_engine.add_hook("deploys", ["deploy.*"], code)
    await fleet_engine.add_hook("off", ["deploy.*"], code, enabled=False)
    await fleet_engine.add_hook("staged", ["deploy.*"], code, stack="prod")
    event = await fleet_engine.dispatch("deploy.failed", {}, stack="dev")
    other = await fleet_engine.dispatch("task.failed", {})
    port = fleet_engine.fleet_port()

    assert await port.run_hook(event.id, "off") is None  # disabled
    assert await port.run_hook(event.id, "nosuch") is None  # missing
    assert await port.run_hook(event.id, "staged") is None  # another stack
    assert await port.run_hook(other.id, "deploys") is None  # its pattern does not match
    assert await port.run_hook(10_000, "deploys") is None  # no such event
    assert await _stored_runs(fleet_engine, event.id) == []
    assert await _stored_runs(fleet_engine, other.id) == []

    # Enabled meanwhile: it runs, as any run on this engine.
    await fleet_engine.set_hook_enabled("off", True)
    execution = await port.run_hook(event.id, "off")
    assert execution is not None and execution.status == "success"


async def test_a_failing_hook_is_recorded_as_failed(
    fleet_engine: Engine, lua_file: LuaFile
) -> None:
    await fleet_engine.add_hook(
        "boom", ["deploy.*"], lua_file('function on_event() error("x") end')
    )
    event = await fleet_engine.dispatch("deploy.failed", {})
    execution = await fleet_engine.fleet_port().run_hook(event.id, "boom")
    assert execution is not None and execution.status == "error" and execution.id is not None
    assert (await fleet_engine.get_event(event.id)).status == "failed"


async def test_own_runs_since_names_the_runs_the_fleet_handed_out(
    fleet_engine: Engine, lua_file: LuaFile
) -> None:
    await fleet_engine.add_hook("count", ["deploy.*"], lua_file(COUNTING))
    first = await fleet_engine.dispatch("deploy.failed", {})
    second = await fleet_engine.dispatch("deploy.started", {})
    port = fleet_engine.fleet_port()
    ran = [await port.run_hook(e.id, "count") for e in (first, second)]
    await fleet_engine.rerun(first.id, ["count"])  # a rerun is not the fleet's
    runs = await port.own_runs_since(0.0)
    assert sorted(runs) == sorted(
        ("count", x.id, e.id, None) for x, e in zip(ran, (first, second), strict=True) if x and x.id
    )
    assert await port.own_runs_since(ran[1].started + 1 if ran[1] else 0.0) == []
