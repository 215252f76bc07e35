"""Issue 19's batched recording of hook runs (engine/dispatcher.py _landed/_gather):
the records of many runs and their events' statuses go to the store as one write per
round. What must hold however they are batched: every run recorded, every counter
moved, every event finished durably, and never finished before its runs are recorded.
"""

from __future__ import annotations

import asyncio
import sqlite3
import time
from collections.abc import Callable
from pathlib import Path

from sloth_tui.bench import (
    _dispatch_rate,
    _hook_rate,
    bench_sqlite,
    bench_sqlite_executions,
    bench_sqlite_hook_events,
)
from sloth_tui.config import Settings
from sloth_tui.engine.engine import Engine
from sloth_tui.engine.schema import MIGRATIONS
from sloth_tui.engine.store import (
    UPDATE_HOOK_RUN,
    UPDATE_HOOK_RUNS,
    Store,
    execution_row,
    runs_ops,
    statuses_ops,
)
from sloth_tui.model.records import Event, Execution, Hook

LuaFile = Callable[..., Path]


def rows(db: Path, sql: str, *params: object) -> list[tuple[object, ...]]:
    """What another process would read: a connection of its own."""
    with sqlite3.connect(db) as conn:
        return conn.execute(sql, params).fetchall()


async def test_many_runs_from_many_producers_are_all_recorded(
    engine: Engine, settings: Settings, lua_file: LuaFile
) -> None:
    ok = lua_file("function on_event() return true end")
    bad = lua_file("function on_event() if event.data.n % 3 == 0 then error('no') end end")
    await engine.add_hook("ok", ["myapp.*"], ok)
    await engine.add_hook("bad", ["myapp.*"], bad)

    async def produce(base: int) -> None:
        for i in range(25):
            await engine.dispatch("myapp.tick", {"n": base + i})

    await asyncio.gather(*(produce(k * 25) for k in range(8)))
    assert await engine.wait_idle(60)
    db = settings.db_path
    assert rows(db, "SELECT hook, COUNT(*) FROM executions GROUP BY hook ORDER BY hook") == [
        ("bad", 200),
        ("ok", 200),
    ]
    # Counted per hook in memory, written once per round: every run counts, and
    # last_run is the latest run's start, as one update per run would leave it.
    for name in ("ok", "bad"):
        ((count, last),) = rows(db, "SELECT run_count, last_run FROM hooks WHERE name = ?", name)
        ((latest,),) = rows(db, "SELECT MAX(started) FROM executions WHERE hook = ?", name)
        assert (count, last) == (200, latest)
        assert (await engine.get_hook(name)).run_count == 200
    # Every event finished, each with the status its runs give it (bad fails on n % 3 = 0).
    by_n = "SELECT DISTINCT json_extract(data, '$.n') % 3 = 0, status FROM events"
    assert sorted(rows(db, by_n)) == [(0, "completed"), (1, "failed")]


async def test_wait_is_answered_only_once_runs_and_status_are_committed(
    engine: Engine, settings: Settings, lua_file: LuaFile
) -> None:
    await engine.add_hook("ok", ["myapp.*"], lua_file("function on_event() log.info('hi') end"))
    for _ in range(20):
        event, (run,) = await engine.dispatch_and_run("myapp.tick", {})
        # Read at once by another connection: no flush, no wait_idle.
        assert rows(settings.db_path, "SELECT status FROM events WHERE id = ?", event.id) == [
            ("completed",)
        ]
        ((logs,),) = rows(settings.db_path, "SELECT logs FROM executions WHERE id IS NOT NULL "
                          "AND event_id = ?", event.id)  # fmt: skip
        assert "hi" in str(logs)
        assert run.status == "success"


async def test_an_event_is_never_finished_when_its_runs_could_not_be_recorded(
    settings: Settings, lua_file: LuaFile
) -> None:
    """The records and the status commit in one transaction. A store that refuses the
    execution rows (a trigger here) leaves the event unfinished, for recovery, and the
    next start, once the rows can go in, runs the hook again and finishes it.

    Before issue 19 the status was a write of its own and went in alone: the event was
    `completed` with no execution recorded, and recovery never looked at it again."""
    hook = lua_file("function on_event() return true end")
    engine = await Engine.open(settings)
    await engine.add_hook("h", ["myapp.*"], hook)
    with sqlite3.connect(settings.db_path) as conn:
        conn.execute(
            "CREATE TRIGGER refuse BEFORE INSERT ON executions "
            "BEGIN SELECT RAISE(ABORT, 'refused'); END"
        )
    event = await engine.dispatch("myapp.tick", {})
    assert await engine.wait_idle(30)
    await engine.close()
    db = settings.db_path
    assert rows(db, "SELECT COUNT(*) FROM executions") == [(0,)]
    ((status,),) = rows(db, "SELECT status FROM events WHERE id = ?", event.id)
    assert status in ("pending", "processing")

    with sqlite3.connect(db) as conn:
        conn.execute("DROP TRIGGER refuse")
    engine = await Engine.open(settings)
    try:
        deadline = time.monotonic() + 30
        while rows(db, "SELECT status FROM events WHERE id = ?", event.id) != [("completed",)]:
            assert time.monotonic() < deadline, "recovery did not finish the event"
            await asyncio.sleep(0.02)
        assert rows(db, "SELECT hook, event_id, trigger FROM executions") == [
            ("h", event.id, "recovery")
        ]
    finally:
        await engine.close()


async def test_runs_ops_and_statuses_ops_on_a_real_store(tmp_path: Path) -> None:
    store = await Store.open(tmp_path / "s.db")
    try:
        await store.save_hook(Hook(name="a", events=["*"], file="/a.lua"))
        await store.save_hook(Hook(name="b", events=["*"], file="/b.lua"))
        ids = list(range(1, 1001))
        await store.write_events([(Event(i, "x.y", "x", {}, status="pending"), None) for i in ids])
        runs = [Execution("a" if i % 2 else "b", i, "success", float(i)) for i in ids]
        # Runs the gate skipped are recorded but do not count (their hook did not run).
        ran = [(x.hook, x.started) for x in runs if x.event_id % 10]
        ops = runs_ops([execution_row(x) for x in runs], ran)
        for status, chunk in (("completed", ids[:997]), ("failed", ids[997:])):
            split = statuses_ops(chunk, status)
            assert len(split) <= 12  # chunks of powers of two, at most 256 ids each
            ops.extend(split)
        await store.write(*ops)
        counts = {h.name: (h.run_count, h.last_run) for h in await store.list_hooks()}
        assert counts == {"a": (500, 999.0), "b": (400, 998.0)}
        assert len(await store.executions(limit=5000)) == 1000
        by_status = await store.run_readonly(
            lambda c: c.execute("SELECT status, COUNT(*) FROM events GROUP BY 1").fetchall()
        )
        assert sorted(by_status) == [("completed", 997), ("failed", 3)]
    finally:
        await store.close()


async def test_hook_limits_follow_an_update(engine: Engine, lua_file: LuaFile) -> None:
    """The engine keeps each hook's Limits built (engine._LimitsCache): a change to the
    hook's own limits must still reach its next run."""
    spin = lua_file("function on_event() local n = 0 for i = 1, 300000 do n = n + i end end")
    await engine.add_hook("spin", ["myapp.spin"], spin, max_instructions=100_000, timeout=5)
    _, (ex,) = await engine.dispatch_and_run("myapp.spin", {})
    assert (ex.status, ex.limit) == ("error", "instructions")
    await engine.update_hook("spin", max_instructions=50_000_000)
    _, (ex,) = await engine.dispatch_and_run("myapp.spin", {})
    assert ex.status == "success"


def test_hook_ratio_baseline_writes_execution_rows(tmp_path: Path) -> None:
    path = tmp_path / "raw.db"
    assert bench_sqlite_executions(path, 700, batch=300) > 0
    assert rows(path, "SELECT COUNT(*), MIN(hook), MAX(status) FROM executions") == [
        (700, "trivial", "success")
    ]


def test_dispatch_ratio_baseline_writes_event_rows(tmp_path: Path) -> None:
    path = tmp_path / "raw.db"
    assert bench_sqlite(path, 650, batch=300) > 0
    assert rows(path, "SELECT COUNT(*), MIN(id), MAX(id), MAX(status) FROM events") == [
        (650, 1, 650, "completed")
    ]


def test_hook_ceiling_writes_a_durable_hook_runs_rows(tmp_path: Path) -> None:
    """hook_ratio_ceiling's rows: every event, its one execution, and its final status
    (the last batch short, so no id is skipped or written twice)."""
    path = tmp_path / "raw.db"
    assert bench_sqlite_hook_events(path, 650, batch=300) > 0
    assert rows(path, "SELECT COUNT(*), MIN(id), MAX(id), MIN(status) FROM events") == [
        (650, 1, 650, "completed")
    ]
    assert rows(
        path,
        "SELECT COUNT(*), COUNT(DISTINCT event_id), MIN(event_id), MAX(event_id) "
        "FROM executions JOIN events ON events.id = executions.event_id",
    ) == [(650, 650, 1, 650)]


async def test_hook_rate_runs_each_event_once_whatever_the_producers(
    engine: Engine, lua_file: LuaFile
) -> None:
    """The bench's hook figures: `events` events split over the producers (more
    producers than events: one each), every run recorded before the rate is taken."""
    await engine.add_hook("trivial", ["*"], lua_file("function on_event() return true end"))
    for events, producers in ((37, 8), (5, 1024), (64, 64)):
        before = len(await engine.executions(hook="trivial", limit=1000))
        assert await _hook_rate(engine, events, producers) > 0
        assert len(await engine.executions(hook="trivial", limit=1000)) - before == events


async def test_dispatch_rate_sends_every_event_with_more_producers_than_events(
    engine: Engine,
) -> None:
    """`bench --events 1000` once sent nothing (1000 // 1024 per producer) and printed
    dispatch_events_per_s 0."""
    for events, producers in ((5, 1024), (1000, 1024), (37, 8)):
        before = engine.stats().events_total
        assert await _dispatch_rate(engine, events, producers) > 0
        assert engine.stats().events_total - before == events


def test_last_run_is_the_latest_start_whatever_the_order_runs_are_written(
    settings: Settings,
) -> None:
    """Pool threads end runs, and batches commit, out of the order the runs started in:
    last_run keeps the latest start (CI once saw an earlier one win, 40 us apart)."""
    assert runs_ops([], [("h", 5.0), ("h", 3.0)]) == [
        (UPDATE_HOOK_RUNS, (2, 5.0, "h")),
    ]
    conn = sqlite3.connect(settings.home / "last_run.db", isolation_level=None)
    for migration in MIGRATIONS:
        conn.executescript(migration)
    conn.execute(
        "INSERT INTO hooks (name, events, file, enabled, timeout, run_count, created) "
        "VALUES ('h', '[]', 'h.lua', 1, 5, 0, 0)"
    )
    for op in (*runs_ops([], [("h", 9.0)]), *runs_ops([], [("h", 4.0), ("h", 7.0)])):
        conn.execute(*op)
    conn.execute(UPDATE_HOOK_RUN, (8.0, "h"))
    assert conn.execute("SELECT run_count, last_run FROM hooks").fetchall() == [(4, 9.0)]
    conn.close()
