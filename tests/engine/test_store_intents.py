"""The store's intent-level calls (what the engine asks instead of writing SQL), and the
connection threads under it, on a real SQLite file."""

from __future__ import annotations

import asyncio
import sqlite3
import threading
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from test_store import make_event

from sloth_tui.engine.sqlite_thread import SqliteThread
from sloth_tui.engine.store import Store
from sloth_tui.model.errors import NotFound
from sloth_tui.model.records import Execution, Hook


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[Store]:
    s = await Store.open(tmp_path / "sloth.db")
    yield s
    await s.close()


def _run(hook: str, event_id: int, *, dry_run: bool = False, status: str = "success") -> Execution:
    return Execution(hook, event_id, status, 1.0, dry_run=dry_run)


async def test_delete_event_takes_its_executions_and_nothing_else(store: Store) -> None:
    await store.write_event(make_event(1))
    await store.write_events([(make_event(2), None)])
    await store.record_execution(_run("h", 1))
    await store.record_execution(_run("h", 2))
    await store.delete_event(1)
    with pytest.raises(NotFound):
        await store.get_event(1)
    assert (await store.get_event(2)).id == 2
    assert [x.event_id for x in await store.executions()] == [2]


async def test_cleanup_counts_then_deletes_what_is_older(store: Store) -> None:
    await store.write_events([(make_event(i), None) for i in range(1, 11)])  # ts 1001..1010
    await store.record_execution(_run("h", 3))
    assert await store.count_older_than(1006.0) == 5
    await store.delete_older_than(1006.0)
    assert [e.id for e in await store.query_events(limit=100)] == list(range(10, 5, -1))
    assert await store.executions() == []
    assert await store.count_older_than(1006.0) == 0


async def test_trim_later_keeps_dry_runs(store: Store) -> None:
    await store.write_events([(make_event(i), None) for i in range(1, 6)])
    await store.record_execution(_run("h", 2))
    await store.record_execution(_run("h", 2, dry_run=True))
    store.trim_later(3)
    await store.flush()
    assert [e.id for e in await store.query_events()] == [5, 4]
    assert [x.dry_run for x in await store.executions()] == [True]


async def test_recorded_runs_of_unfinished_events_only_real_ones(store: Store) -> None:
    await store.write_events(
        [
            (make_event(1, status="pending"), None),
            (make_event(2, status="processing"), None),
            (make_event(3, status="completed"), None),
        ]
    )
    for hook, event_id, dry in [("a", 1, False), ("b", 1, True), ("a", 2, False), ("c", 3, False)]:
        await store.record_execution(_run(hook, event_id, dry_run=dry))
    await store.record_execution(_run("b", 2, status="error"))  # failed, then retried:
    await store.record_execution(_run("b", 2))  # its latest run's status counts
    await store.record_execution(_run("c", 2, status="error"))
    assert await store.recorded_runs_of_unfinished() == {
        1: {"a": "success"},
        2: {"a": "success", "b": "success", "c": "error"},
    }


async def test_status_and_run_records_go_with_the_next_round(store: Store) -> None:
    await store.save_hook(Hook(name="h", events=["*"], file="/x.lua"))
    await store.write_events([(make_event(1, status="pending"), None)])
    store.set_status_later(1, "failed")
    store.record_later(Execution("h", 1, "error", 42.0), "h")
    store.execution_later(Execution("h", 1, "skipped", 43.0))
    await store.flush()
    assert (await store.get_event(1)).status == "failed"
    assert [x.status for x in await store.executions()] == ["skipped", "error"]
    (hook,) = await store.list_hooks()
    assert (hook.run_count, hook.last_run) == (1, 42.0)  # the skipped run does not count


async def test_state_writes_and_delete_hook(store: Store) -> None:
    await store.save_hook(Hook(name="h", events=["*"], file="/x.lua"))
    await store.save_hook(Hook(name="other", events=["*"], file="/y.lua"))
    await store.write_state("h", "n", "add", 2)
    await store.write_state("h", "n", "add", 3)
    await store.write_state("h", "gone", "set", {"a": 1})
    await store.write_state("h", "gone", "del", None)
    await store.write_state("other", "k", "set", "v")
    assert await store.state_get("h", "n") == 5
    assert await store.state_get("h", "gone") is None
    await store.delete_hook("h")
    assert [h.name for h in await store.list_hooks()] == ["other"]
    assert await store.state_get("h", "n") is None
    assert await store.state_get("other", "k") == "v"


async def test_http_marks_are_kept_until_read(store: Store) -> None:
    await store.mark_http(7, "h", 1.0)
    await store.mark_http(7, "h", 2.0)  # once per run
    assert await store.http_marks() == {(7, "h")}


async def test_a_connection_thread_is_a_daemon_and_refuses_calls_once_closed(
    tmp_path: Path,
) -> None:
    conn = await SqliteThread.connect(str(tmp_path / "t.db"), name="test-conn")
    names = {t.name: t.daemon for t in threading.enumerate()}
    assert names.get("test-conn") is True
    assert await conn.call(lambda c, n: c.execute("SELECT ?", (n,)).fetchone()[0], 3) == 3
    with pytest.raises(sqlite3.OperationalError):
        await conn.call(lambda c: c.execute("SELECT nope FROM nowhere"))
    assert await conn.call(lambda c: c.execute("SELECT 1").fetchone()[0]) == 1  # lives on
    await conn.close()
    with pytest.raises(ValueError, match="closed"):
        await conn.call(lambda c: None)


async def test_a_connection_that_cannot_open_stops_its_thread(tmp_path: Path) -> None:
    before = threading.active_count()
    with pytest.raises(sqlite3.OperationalError):
        await SqliteThread.connect(str(tmp_path / "no" / "such" / "dir.db"), name="bad")
    deadline = time.monotonic() + 5  # the thread ends right after the failure
    while threading.active_count() != before and time.monotonic() < deadline:
        await asyncio.sleep(0.01)
    assert threading.active_count() == before
