"""A real run's effects (state writes, dispatched events) commit with its execution
record, in one write after the run: a real engine on a temp home, a real loopback HTTP
server to hold a hook in the middle of its run, the store read meanwhile."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator, Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from gatekit import Gate

from sloth_tui.config import Settings
from sloth_tui.engine.engine import Engine
from sloth_tui.engine.store import INSERT_EVENT, Store, event_row
from sloth_tui.model.records import Event, Execution

LuaFile = Callable[..., Path]
# What a run commits before its first http request (store.INSERT_HTTP_MARK).
INSERT_HTTP_MARK = "INSERT INTO http_marks (event_id, hook, ts) VALUES (?, ?, ?)"


@pytest.fixture
async def real(settings: Settings) -> AsyncIterator[Engine]:
    engine = await Engine.open(settings)
    yield engine
    await engine.close()


async def _stored(engine: Engine, sql: str, *params: Any) -> list[Any]:
    """What a reader of the database sees now (committed rows only)."""
    rows = await engine.store.run_readonly(lambda c: c.execute(sql, params).fetchall())
    return list(rows)


async def _wait_for(flag: threading.Event) -> None:
    assert await asyncio.to_thread(flag.wait, 20), "the hook never reached the gate"


async def test_effects_wait_for_the_end_of_the_run_and_commit_with_its_record(
    real: Engine, lua_file: LuaFile, gate: Gate
) -> None:
    code = f"""
function on_event()
  state.set("k", {{n = 1}})
  state.set("gone", "x")
  state.delete("gone")
  local a = state.incr("count", 2)
  local ok, child = event.dispatch("myapp.child", {{from = "parent"}})
  http.get("{gate.url}")
  return {{state.get("k").n, state.get("gone") == nil, a, state.get("count"), child}}
end
"""
    await real.add_hook("h", ["myapp.ping"], lua_file(code))
    event = await real.dispatch("myapp.ping", {})
    await _wait_for(gate.entered)
    try:
        # Mid-run: the hook has written and dispatched, and nothing of it is stored.
        assert await _stored(real, "SELECT key FROM state WHERE hook = 'h'") == []
        assert await _stored(real, "SELECT id FROM events WHERE type = 'myapp.child'") == []
        assert await _stored(real, "SELECT id FROM executions WHERE event_id = ?", event.id) == []
    finally:
        gate.gate.set()
    assert await real.wait_idle()
    (run,) = await real.executions_of(event.id)
    assert run.status == "success", run.error
    n, gone, a, count, child_id = run.result
    assert (n, gone, a, count) == (1, True, 2, 2)  # the run read its own writes
    (child,) = await real.child_events(event.id)
    assert child.id == child_id and child.data == {"from": "parent"}
    assert await real.store.state_get("h", "k") == {"n": 1}
    assert await real.store.state_get("h", "gone") is None
    assert await real.store.state_get("h", "count") == 2
    # The run finished, so its http mark went with its commit.
    assert await _stored(real, "SELECT * FROM http_marks") == []


async def test_http_mark_is_committed_before_the_request(
    real: Engine, lua_file: LuaFile, gate: Gate
) -> None:
    code = f'function on_event() http.get("{gate.url}") return {{event.redelivered}} end'
    await real.add_hook("h", ["myapp.ping"], lua_file(code))
    event = await real.dispatch("myapp.ping", {})
    await _wait_for(gate.entered)
    try:
        marks = await _stored(real, "SELECT event_id, hook FROM http_marks")
    finally:
        gate.gate.set()
    assert marks == [(event.id, "h")]
    assert await real.wait_idle()
    (run,) = await real.executions_of(event.id)
    assert (run.status, run.result) == ("success", [False])
    assert await _stored(real, "SELECT * FROM http_marks") == []


async def test_rerun_after_a_crash_mid_http_is_redelivered(
    settings: Settings, lua_file: LuaFile
) -> None:
    code = "function on_event() return {event.redelivered} end"
    engine = await Engine.open(settings)
    await engine.add_hook("h", ["myapp.ping"], lua_file(code))
    await engine.close()
    # What a kill -9 leaves: two events still processing, one of whose run had
    # started an http call (its mark is committed; its record is not).
    store = await Store.open(settings.db_path)
    marked = Event(1000, "myapp.ping", "myapp", {}, status="processing")
    plain = Event(1001, "myapp.ping", "myapp", {}, status="processing")
    await store.write(
        (INSERT_EVENT, event_row(marked)),
        (INSERT_EVENT, event_row(plain)),
        (INSERT_HTTP_MARK, (marked.id, "h", 1.0)),
    )
    await store.close()

    engine = await Engine.open(settings)
    try:
        assert await engine.wait_idle()
        ((first,), (second,)) = [await engine.executions_of(i) for i in (1000, 1001)]
        assert (first.status, first.result) == ("success", [True])
        assert (second.status, second.result) == ("success", [False])
        # Complete now: the mark went with the rerun's commit.
        assert await _stored(engine, "SELECT * FROM http_marks") == []
    finally:
        await engine.close()
    # A dry run never says redelivered.
    engine = await Engine.open(settings)
    try:
        ex = await engine.test_hook("h")
        assert (ex.dry_run, ex.result) == (True, [False])
    finally:
        await engine.close()


async def test_sequential_runs_read_what_the_last_run_wrote(
    settings: Settings, lua_file: LuaFile
) -> None:
    """One worker takes queued events in batches; each run still reads the state the
    run before it wrote, though that run's commit may not have landed yet."""
    code = 'function on_event() state.set("seen", (state.get("seen") or 0) + 1) end'
    engine = await Engine.open(replace(settings, concurrency=1))
    try:
        await engine.add_hook("h", ["myapp.tick"], lua_file(code))
        await engine.dispatch_batch([("myapp.tick", {}, "test", None)] * 60)
        assert await engine.wait_idle(60)
        assert await engine.store.state_get("h", "seen") == 60
    finally:
        await engine.close()


async def test_incr_is_exact_and_distinct_under_concurrent_runs(
    settings: Settings, lua_file: LuaFile
) -> None:
    code = """
function on_event()
  local a = state.incr("n")
  local x = 0
  for i = 1, 20000 do x = x + i end  -- overlap the runs
  local b = state.incr("n", 0.5)
  return {a, b, state.get("n")}
end
"""
    engine = await Engine.open(replace(settings, concurrency=4))
    try:
        await engine.add_hook("count", ["myapp.tick"], lua_file(code))
        events = await engine.dispatch_batch([("myapp.tick", {}, "test", None)] * 40)
        assert await engine.wait_idle(60)
        runs: list[Execution] = []
        for e in events:
            assert isinstance(e, Event)
            runs += await engine.executions_of(e.id)
        assert [r.status for r in runs] == ["success"] * 40
        seen = [v for r in runs for v in r.result[:2]]
        assert len(set(seen)) == 80  # no two increments saw the same total
        assert all(r.result[2] == r.result[1] for r in runs)  # reads its own incr
        assert await engine.store.state_get("count", "n") == 60  # 40 * 1.5, none lost
    finally:
        await engine.close()


async def test_dispatch_past_the_queue_bound_is_refused_and_recorded(
    settings: Settings, lua_file: LuaFile
) -> None:
    parent = """
function on_event()
  local out = {}
  for i = 1, 5 do
    local ok, res = event.dispatch("myapp.child", {i = i})
    out[i] = ok and "ok" or res
  end
  return out
end
"""
    engine = await Engine.open(replace(settings, queue_size=2))
    try:
        await engine.add_hook("parent", ["myapp.ping"], lua_file(parent))
        await engine.add_hook("child", ["myapp.child"], lua_file("function on_event() end"))
        # An event whose type no hook takes needs no room: never refused for it.
        await engine.add_hook("free", ["myapp.ping"], lua_file(parent.replace("child", "free")))
        event, runs = await engine.dispatch_and_run("myapp.ping", {})
        by_hook = {r.hook: r for r in runs}
        result = by_hook["parent"].result
        assert result[:2] == ["ok", "ok"]
        for message in result[2:]:
            assert "queue is full" in message and "queue_size = 2" in message
        refused = [c for c in by_hook["parent"].calls if c["fn"] == "event.dispatch" and c["error"]]
        assert len(refused) == 3 and all("queue is full" in c["error"] for c in refused)
        assert by_hook["free"].result == ["ok"] * 5
        assert await engine.wait_idle(30)
        children = await engine.child_events(event.id)
        assert sorted(c.type for c in children) == ["myapp.child"] * 2 + ["myapp.free"] * 5
        assert all(c.status == "completed" for c in children)
    finally:
        await engine.close()


async def test_self_dispatching_chain_stays_within_the_bound(
    settings: Settings, lua_file: LuaFile
) -> None:
    """A hook that dispatches its own type twice per run: refused at the bound, never
    waiting for room (a wait here would deadlock), and the engine comes to rest."""
    code = """
function on_event()
  event.dispatch("myapp.loop", {})
  event.dispatch("myapp.loop", {})
end
"""
    engine = await Engine.open(replace(settings, queue_size=4, concurrency=2, max_depth=12))
    try:
        await engine.add_hook("loop", ["myapp.loop"], lua_file(code))
        await engine.dispatch("myapp.loop", {})
        assert engine._dispatcher is not None
        most = 0
        for _ in range(2000):
            most = max(most, engine._dispatcher.depth)
            if await engine.wait_idle(0.01):
                break
        assert await engine.wait_idle(30)
        assert most <= 4 + 2 * 4  # the bound, plus the jobs two workers have taken
        refused = await _stored(
            engine, "SELECT COUNT(*) FROM executions WHERE calls LIKE '%queue is full%'"
        )
        assert refused[0][0] > 0
    finally:
        await engine.close()
