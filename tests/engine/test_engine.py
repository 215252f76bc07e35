"""The engine end to end on a real data dir: dispatch, hooks, recovery, lock, bus (lifecycle
events: test_lifecycle.py)."""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import pytest

from sloth_tui.config import Settings
from sloth_tui.engine.engine import Engine
from sloth_tui.engine.store import INSERT_EVENT, event_row
from sloth_tui.model.errors import EngineLocked, EventRefused, HookError, NotFound
from sloth_tui.model.records import Event

LuaFile = Callable[..., Path]
HANG_GUARD = 60.0  # s: a wait that must end; only a real hang gets here


async def test_dispatch_returns_after_commit_with_warnings(engine: Engine) -> None:
    event = await engine.dispatch("deploy.failed", {"service": "api"}, source="cli")
    stored = await engine.get_event(event.id)
    assert stored.type == "deploy.failed" and stored.category == "deploy"
    assert "missing field deploy_id" in stored.warnings
    assert stored.status == "completed"  # no hooks matched


async def test_engine_shortens_the_gil_switch_interval(settings: Settings) -> None:
    import sys

    from sloth_tui.engine.engine import GIL_SWITCH_INTERVAL

    before = sys.getswitchinterval()
    sys.setswitchinterval(0.005)
    try:
        engine = await Engine.open(settings)
        # The store's writer thread must get the GIL promptly while the loop is busy.
        assert sys.getswitchinterval() == pytest.approx(GIL_SWITCH_INTERVAL)
        await engine.close()
    finally:
        sys.setswitchinterval(before)


async def test_strict_setting_refuses(settings: Settings) -> None:
    engine = await Engine.open(replace(settings, strict=True))
    try:
        with pytest.raises(EventRefused, match="strict"):
            await engine.dispatch("deploy.failed", {"service": "api"})
        assert await engine.count_events() == 0
    finally:
        await engine.close()


async def test_ids_are_sequential_across_restarts(settings: Settings) -> None:
    engine = await Engine.open(settings)
    first = await engine.dispatch("myapp.ping", {})
    await engine.close()
    engine = await Engine.open(settings)
    second = await engine.dispatch("myapp.ping", {})
    await engine.close()
    assert second.id > first.id


async def test_hooks_run_and_status_follows(engine: Engine, lua_file: LuaFile) -> None:
    ok = lua_file('function on_event() log.info("hi " .. event.data.service) return true end')
    bad = lua_file("function on_event() return false end")
    await engine.add_hook("ok", ["deploy.*"], ok)
    await engine.add_hook("bad", ["*.failed"], bad)
    event, runs = await engine.dispatch_and_run("deploy.started", {"service": "api"})
    assert [(r.hook, r.status) for r in runs] == [("ok", "success")]
    assert runs[0].logs[0].message == "hi api"
    assert runs[0].event_type == "deploy.started"
    assert (await engine.executions_of(event.id))[0].event_type == "deploy.started"
    assert (await engine.get_event(event.id)).status == "completed"
    event, runs = await engine.dispatch_and_run("deploy.failed", {"service": "api"})
    assert sorted((r.hook, r.status) for r in runs) == [("bad", "failed"), ("ok", "success")]
    assert (await engine.get_event(event.id)).status == "failed"
    hook = await engine.get_hook("ok")
    assert hook.run_count == 2 and hook.last_run
    stats = await engine.hook_stats()
    assert stats["bad"].failures == 1 and stats["ok"].runs == 2


async def test_rerun_after_fixing_a_hook(engine: Engine, lua_file: LuaFile) -> None:
    path = lua_file('function on_event() error("no route to " .. event.data.service) end')
    await engine.add_hook("notify", ["deploy.failed"], path)
    event, runs = await engine.dispatch_and_run("deploy.failed", {"service": "api"})
    assert runs[0].status == "error" and "no route to api" in (runs[0].error or "")
    assert (await engine.get_event(event.id)).status == "failed"
    path.write_text('function on_event() log.info("sent for " .. event.data.service) end')
    sub = engine.subscribe()
    again, reruns = await engine.rerun(event.id)
    assert again.id == event.id and again.status == "completed"
    assert [(r.hook, r.status, r.dry_run) for r in reruns] == [("notify", "success", False)]
    assert reruns[0].logs[0].message == "sent for api"
    # Stored beside the first run; the event's status follows the re-run; the bus saw it.
    assert [r.status for r in await engine.executions_of(event.id)] == ["error", "success"]
    assert (await engine.get_event(event.id)).status == "completed"
    assert (await engine.get_hook("notify")).run_count == 2
    assert "execution" in {n.kind for n in sub.drain()}


async def test_rerun_named_hooks_and_children(engine: Engine, lua_file: LuaFile) -> None:
    chain = lua_file('function on_event() event.dispatch("myapp.followup", {n = 1}) end')
    other = lua_file("function on_event() end")
    await engine.add_hook("chain", ["task.failed"], chain)
    await engine.add_hook("other", ["task.*"], other)
    await engine.add_hook("elsewhere", ["security.*"], other)
    event, runs = await engine.dispatch_and_run("task.failed", {})
    assert sorted(r.hook for r in runs) == ["chain", "other"]
    # Named hooks run whether or not their patterns match, in the order given, once each.
    _, reruns = await engine.rerun(event.id, ["elsewhere", "chain", "elsewhere"])
    assert [r.hook for r in reruns] == ["elsewhere", "chain"]
    await engine.wait_idle()
    children = await engine.child_events(event.id)
    assert [(c.type, c.depth) for c in children] == [("myapp.followup", 1)] * 2


async def test_rerun_refusals(engine: Engine, lua_file: LuaFile, settings: Settings) -> None:
    await engine.add_hook("off", ["*"], lua_file("function on_event() end"), enabled=False)
    event = await engine.dispatch("task.started", {})
    with pytest.raises(NotFound, match="no event with id 999"):
        await engine.rerun(999)
    with pytest.raises(HookError, match=r"no enabled hook matches task\.started"):
        await engine.rerun(event.id)
    with pytest.raises(NotFound, match="no hook named 'ghost'"):
        await engine.rerun(event.id, ["ghost"])
    with pytest.raises(HookError, match="'off' is disabled"):
        await engine.rerun(event.id, ["off"])
    with pytest.raises(HookError, match="name at least one hook"):
        await engine.rerun(event.id, [])
    assert await engine.executions_of(event.id) == []
    reader = await Engine.open(settings, readonly=True)
    try:
        with pytest.raises(EventRefused, match="not accepting events"):
            await reader.rerun(event.id)
    finally:
        await reader.close()


async def test_disabled_hook_does_not_run(engine: Engine, lua_file: LuaFile) -> None:
    await engine.add_hook("h", ["*"], lua_file("function on_event() end"), enabled=False)
    _, runs = await engine.dispatch_and_run("task.started", {})
    assert runs == []
    await engine.set_hook_enabled("h", True)
    _, runs = await engine.dispatch_and_run("task.started", {})
    assert [r.hook for r in runs] == ["h"]


async def test_hook_errors(engine: Engine, lua_file: LuaFile, tmp_path: Path) -> None:
    path = lua_file("function on_event() end")
    await engine.add_hook("h", ["*"], path)
    with pytest.raises(HookError, match="already exists"):
        await engine.add_hook("h", ["*"], path)
    with pytest.raises(HookError, match="not found"):
        await engine.add_hook("x", ["*"], tmp_path / "missing.lua")
    with pytest.raises(HookError, match="invalid event pattern"):
        await engine.add_hook("y", ["Bad Pattern"], path)
    with pytest.raises(HookError, match="at least one"):
        await engine.add_hook("z", [], path)
    with pytest.raises(NotFound):
        await engine.delete_hook("nope")
    assert (await engine.get_hook("h")).file == str(path.resolve())


async def test_missing_file_is_recorded_as_error(engine: Engine, lua_file: LuaFile) -> None:
    path = lua_file("function on_event() end")
    await engine.add_hook("h", ["*"], path)
    path.unlink()
    _, runs = await engine.dispatch_and_run("task.started", {})
    assert runs[0].status == "error" and runs[0].error


async def test_hook_chain_sets_parent_and_depth_and_is_bounded(
    engine: Engine, lua_file: LuaFile
) -> None:
    storm = lua_file('function on_event() event.dispatch("loop.again", {n = 1}) end')
    await engine.add_hook("storm", ["loop.again"], storm)
    first = await engine.dispatch("loop.again", {})
    await engine.wait_idle()
    chain = await engine.query_events(limit=100, after_id=first.id - 1)
    chain = [e for e in chain if e.type == "loop.again"]
    limit = engine.settings.max_depth
    assert [e.depth for e in chain] == list(range(limit + 1))
    for parent, child in itertools.pairwise(chain):
        assert child.parent_id == parent.id and child.source == "hook:storm"
    last_runs = await engine.executions_of(chain[-1].id)
    refused = [c for c in last_runs[0].calls if c.get("error")]
    assert refused and "too deep" in refused[0]["error"]


async def test_state_persists_per_hook(engine: Engine, lua_file: LuaFile) -> None:
    code = 'function on_event() local n = state.incr("seen", 1) log.info("n=" .. n) end'
    await engine.add_hook("counter", ["*"], lua_file(code))
    for _ in range(3):
        _, runs = await engine.dispatch_and_run("task.started", {})
    assert runs[0].logs[-1].message in ("n=3", "n=3.0")
    assert await engine.store.state_get("counter", "seen") == 3


async def test_test_hook_is_a_dry_run(engine: Engine, lua_file: LuaFile) -> None:
    code = (
        'function on_event() event.dispatch("deploy.rollback", {deploy_id = event.data.deploy_id})'
        ' state.set("k", 1) return true end'
    )
    await engine.add_hook("h", ["deploy.failed"], lua_file(code))
    before = await engine.count_events()
    ex = await engine.test_hook("h", data={"deploy_id": "d-1"})
    assert ex.dry_run and ex.status == "success"
    assert (ex.event_id, ex.event_type) == (0, "deploy.failed")  # the sample's type
    dispatch = next(c for c in ex.calls if c["fn"] == "event.dispatch")
    assert dispatch["data"] == {"deploy_id": "d-1"}
    assert await engine.count_events() == before  # nothing dispatched
    assert await engine.store.state_get("h", "k") is None  # state untouched
    assert (await engine.hook_stats()).get("h") is None  # dry runs are not stats


async def test_second_engine_on_same_dir_is_told(settings: Settings) -> None:
    engine = await Engine.open(settings)
    try:
        await engine.dispatch("myapp.ping", {})
        with pytest.raises(
            EngineLocked, match=r"another sloth-tui engine is running .* \(pid \d+\)"
        ):
            await Engine.open(settings)
        reader = await Engine.open(settings, readonly=True)  # queries still work
        assert await reader.count_events() == 1
        await reader.close()
    finally:
        await engine.close()
    engine = await Engine.open(settings)  # the lock is released on close
    await engine.close()


async def _crash_leaving(settings: Settings, status: str) -> int:
    """Commit an event as the engine would, then 'crash' before its hooks run."""
    engine = await Engine.open(settings)
    event_id = engine._next_id
    event = Event(event_id, "deploy.failed", "deploy", {"service": "x"}, status=status)
    await engine.store.write((INSERT_EVENT, event_row(event)))
    # Simulate the crash: drop the engine without running or finishing anything.
    await engine._dispatcher.stop()  # type: ignore[union-attr]
    engine._closed = True
    await engine.store.close()
    engine._lock.release()  # type: ignore[union-attr]
    return event_id


@pytest.mark.parametrize("status", ["pending", "processing"])
async def test_recovery_runs_unfinished_events_once(
    settings: Settings, lua_file: LuaFile, status: str
) -> None:
    engine = await Engine.open(settings)
    await engine.add_hook("a", ["deploy.failed"], lua_file("function on_event() end"))
    await engine.add_hook("b", ["deploy.failed"], lua_file("function on_event() end"))
    await engine.close()
    event_id = await _crash_leaving(settings, status)

    engine = await Engine.open(settings)
    await engine.wait_idle()
    runs = await engine.executions_of(event_id)
    assert sorted(r.hook for r in runs) == ["a", "b"]
    assert (await engine.get_event(event_id)).status == "completed"
    await engine.close()
    engine = await Engine.open(settings)  # a second restart runs nothing again
    await engine.wait_idle()
    assert len(await engine.executions_of(event_id)) == 2
    await engine.close()


async def test_recovery_skips_executions_already_finished(
    settings: Settings, lua_file: LuaFile
) -> None:
    from sloth_tui.engine.store import INSERT_EXECUTION, execution_row
    from sloth_tui.model.records import Execution

    engine = await Engine.open(settings)
    await engine.add_hook("a", ["deploy.failed"], lua_file("function on_event() end"))
    await engine.add_hook("b", ["deploy.failed"], lua_file("function on_event() end"))
    await engine.close()
    event_id = await _crash_leaving(settings, "processing")
    engine = await Engine.open(settings, readonly=True)
    await engine.close()
    # Hook a had finished before the crash.
    from sloth_tui.engine.store import Store

    store = await Store.open(settings.db_path)
    await store.write((INSERT_EXECUTION, execution_row(Execution("a", event_id, "success", 1.0))))
    await store.close()

    engine = await Engine.open(settings)
    await engine.wait_idle()
    runs = await engine.executions_of(event_id)
    await engine.close()
    assert sorted(r.hook for r in runs) == ["a", "b"]


@pytest.mark.parametrize("left", [["b"], []])
async def test_a_run_that_failed_before_a_crash_fails_the_recovered_event(
    settings: Settings, lua_file: LuaFile, left: list[str]
) -> None:
    """Hook a's run was recorded, failed, before the crash; recovery runs what is left
    (b, or nothing) and the event ends `failed`, not `completed` (session 21: recovery
    counted only the runs it made)."""
    from sloth_tui.engine.store import INSERT_EXECUTION, Store, execution_row
    from sloth_tui.model.records import Execution

    engine = await Engine.open(settings)
    await engine.add_hook("a", ["deploy.failed"], lua_file("function on_event() end"))
    await engine.add_hook("b", ["deploy.failed"], lua_file("function on_event() end"))
    await engine.close()
    event_id = await _crash_leaving(settings, "processing")
    store = await Store.open(settings.db_path)
    records = [Execution("a", event_id, "error", 1.0, error="boom")]
    if not left:
        records.append(Execution("b", event_id, "success", 1.0))
    await store.write(*((INSERT_EXECUTION, execution_row(x)) for x in records))
    await store.close()

    engine = await Engine.open(settings)
    try:
        await engine.wait_idle()
        await engine.store.flush()
        runs = await engine.executions_of(event_id)
        assert sorted(r.hook for r in runs) == ["a", "b"]
        assert [r.trigger for r in runs if r.hook in left] == ["recovery"] * len(left)
        assert (await engine.get_event(event_id)).status == "failed"
    finally:
        await engine.close()


async def test_slow_subscriber_does_not_slow_dispatch_and_learns_drops(engine: Engine) -> None:
    slow = engine.subscribe(maxsize=10)
    fast = engine.subscribe(maxsize=10_000)
    # Nobody reads `slow` until all 500 are in: a dispatch that waited for room in its
    # queue would wait forever (the hang guard), where one that drops says so (below).
    dispatches = (engine.dispatch("myapp.tick", {"i": i}) for i in range(500))
    await asyncio.wait_for(asyncio.gather(*dispatches), HANG_GUARD)
    first = await slow.get()
    assert first.kind == "dropped" and first.payload == 490
    kinds = [n.kind for n in slow.drain()]
    assert kinds == ["event"] * 10
    assert len([n for n in fast.drain() if n.kind == "event"]) == 500
    assert engine.stats().bus_dropped == 490
    slow.close()
    fast.close()


async def test_retention_cap(settings: Settings) -> None:
    from sloth_tui.engine import engine as engine_module

    engine = await Engine.open(replace(settings, max_events=100))
    old = engine_module.CAP_CHECK_EVERY
    engine_module.CAP_CHECK_EVERY = 50
    try:
        for i in range(300):
            await engine.dispatch("myapp.tick", {"i": i})
        await engine.store.flush()
        assert 100 <= await engine.count_events() <= 150
    finally:
        engine_module.CAP_CHECK_EVERY = old
        await engine.close()


async def test_cleanup_older_than(engine: Engine) -> None:
    await engine.dispatch("myapp.tick", {})
    assert await engine.cleanup(3600) == 0
    await asyncio.sleep(0.05)
    deleted = await engine.cleanup(0.01)
    assert deleted == 1
    assert await engine.count_events() == 0


async def test_delete_event(engine: Engine) -> None:
    event = await engine.dispatch("myapp.tick", {})
    await engine.delete_event(event.id)
    with pytest.raises(NotFound):
        await engine.get_event(event.id)
    with pytest.raises(NotFound):
        await engine.delete_event(event.id)


async def test_readonly_engine_refuses_writes(
    engine: Engine, settings: Settings, lua_file: LuaFile
) -> None:
    await engine.add_hook("h", ["*"], lua_file("function on_event() end"))
    reader = await Engine.open(settings, readonly=True)
    try:
        with pytest.raises(EventRefused, match="not accepting"):
            await reader.dispatch("myapp.tick", {})
        with pytest.raises(HookError, match="another engine"):
            await reader.set_hook_enabled("h", False)
        assert (await engine.get_hook("h")).enabled
    finally:
        await reader.close()


async def test_closed_engine_refuses_dispatch(settings: Settings) -> None:
    engine = await Engine.open(settings)
    await engine.close()
    with pytest.raises(EventRefused):
        await engine.dispatch("myapp.tick", {})


async def test_per_hook_limits(engine: Engine, lua_file: LuaFile) -> None:
    spin = lua_file("function on_event() local n = 0 while true do n = n + 1 end end")
    await engine.add_hook("spin", ["myapp.spin"], spin, max_instructions=100_000, timeout=5)
    hog = lua_file("function on_event() local t = {} for i = 1, 1e7 do t[i] = i end end")
    await engine.add_hook("hog", ["myapp.hog"], hog, max_memory_mb=2, timeout=5)
    _, (ex,) = await engine.dispatch_and_run("myapp.spin", {})
    assert (ex.status, ex.limit) == ("error", "instructions")
    _, (ex,) = await engine.dispatch_and_run("myapp.hog", {})
    assert (ex.status, ex.limit) == ("error", "memory")
    assert (await engine.get_hook("spin")).max_instructions == 100_000
    with pytest.raises(HookError, match="max-memory-mb"):
        await engine.add_hook("bad", ["*"], hog, max_memory_mb=0)
