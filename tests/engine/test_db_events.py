"""The store's own events (issue 16.4): db.migration, db.query_slow, db.error and
state.corrupted, from an engine that serves, on real SQLite files.

A full disk is SQLite's own SQLITE_FULL (PRAGMA max_page_count on the writer, as
test_faults.py does); an old store is built from the first migrations, as
test_event_context.py does; a damaged state value is written with sqlite3 directly.
The slow-event rate bound runs on the store's injectable clock.
"""

from __future__ import annotations

import asyncio
import sqlite3
import time
from collections.abc import Callable
from pathlib import Path

from sloth_tui.config import Settings
from sloth_tui.engine import store as store_module
from sloth_tui.engine.engine import Engine
from sloth_tui.engine.schema import MIGRATIONS, SCHEMA_VERSION
from sloth_tui.engine.store import Store, migration_name
from sloth_tui.model.errors import DiskFull
from sloth_tui.model.records import Event

DATA = {"name": "n", "message": "m" * 2000}
LuaFile = Callable[..., Path]


async def of_type(engine: Engine, prefix: str) -> list[Event]:
    events = await engine.query_events(limit=1000)
    return [e for e in reversed(events) if e.type.startswith(prefix)]


async def wait_events(engine: Engine, prefix: str, n: int, timeout: float = 20) -> list[Event]:
    deadline = time.monotonic() + timeout
    while True:
        found = await of_type(engine, prefix)
        if len(found) >= n:
            return found
        assert time.monotonic() < deadline, f"{prefix}: {len(found)} of {n}"
        await asyncio.sleep(0.02)


def old_store(path: Path, version: int) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    conn = sqlite3.connect(path)
    conn.executescript(";".join(MIGRATIONS[:version]) + f"; PRAGMA user_version = {version};")
    conn.close()


# -- db.migration ----------------------------------------------------------------------


async def test_opening_an_old_store_records_each_migration(settings: Settings) -> None:
    old_store(settings.db_path, 4)
    engine = await Engine.open(settings, lifecycle=True)
    try:
        migrations = await of_type(engine, "db.migration")
    finally:
        await engine.close()
    assert [e.data for e in migrations] == [
        {
            "database": str(settings.db_path),
            "version": v,
            "migration_name": migration_name(v),
            "from_version": v - 1,
        }
        for v in range(5, SCHEMA_VERSION + 1)
    ]
    assert migration_name(5) == "sloth_runner_context"
    assert all(e.source == "system" and e.warnings == [] for e in migrations)
    # The next start migrates nothing, and says nothing.
    engine = await Engine.open(settings, lifecycle=True)
    try:
        assert len(await of_type(engine, "db.migration")) == len(migrations)
    finally:
        await engine.close()


async def test_a_new_store_is_made_not_migrated(settings: Settings) -> None:
    engine = await Engine.open(settings, lifecycle=True)
    try:
        assert await of_type(engine, "db.") == []
        assert [e.type for e in await engine.query_events()] == ["system.startup"]
    finally:
        await engine.close()


# -- db.query_slow ---------------------------------------------------------------------


class Clock:
    def __init__(self) -> None:
        self.now = 50.0

    def __call__(self) -> float:
        return self.now


async def test_slow_operations_are_said_at_most_once_per_interval(settings: Settings) -> None:
    engine = await Engine.open(settings, lifecycle=True)
    clock = Clock()
    try:
        store = engine.store
        store.clock = clock
        store.slow_threshold = 0.0  # every operation is "slow"
        for _ in range(20):
            await engine.dispatch("custom", DATA)
            await engine.count_events()
        (slow,) = await wait_events(engine, "db.query_slow", 1)
        assert set(slow.data) == {"database", "query", "duration", "threshold", "duration_ms"}
        assert slow.data["database"] == str(settings.db_path)
        assert slow.data["threshold"] == "0s" and slow.data["duration"].endswith("s")
        assert slow.warnings == []
        for _ in range(20):  # still within the interval: counted, not said
            await engine.count_events()
        assert len(await of_type(engine, "db.query_slow")) == 1
        clock.now += store.slow_every
        await engine.dispatch("custom", DATA)
        second = (await wait_events(engine, "db.query_slow", 2))[1]
        assert second.data["slow_since_last"] >= 20
    finally:
        await engine.close()


# -- db.error ---------------------------------------------------------------------------


async def _set_max_pages(store: Store, pages: int | None) -> None:
    assert store._writer is not None
    value = "2147483646" if pages is None else str(pages)
    sql = f"PRAGMA max_page_count = {value}"
    await store_module._in_thread(store._writer, lambda c: c.execute(sql).fetchone())


async def _page_count(store: Store) -> int:
    assert store._writer is not None
    row = await store_module._in_thread(
        store._writer, lambda c: c.execute("PRAGMA page_count").fetchone()
    )
    return int(row[0])


async def test_a_full_disk_is_one_db_error_stored_when_space_returns(settings: Settings) -> None:
    engine = await Engine.open(settings, lifecycle=True)
    try:
        await engine.dispatch("custom", DATA)
        await engine.store.flush()
        await _set_max_pages(engine.store, await _page_count(engine.store))
        refused = 0
        for _ in range(40):
            try:
                await engine.dispatch("custom", DATA)
            except DiskFull:
                refused += 1
        assert refused >= 10
        assert await of_type(engine, "db.error") == []  # nothing can be stored meanwhile
        await _set_max_pages(engine.store, None)  # space returns; the engine went on
        await engine.dispatch("custom", DATA)
        (error,) = await wait_events(engine, "db.error", 1)
        assert error.source == "system" and error.warnings == []
        assert error.data["database"] == str(settings.db_path)
        assert error.data["operation"] == "INSERT INTO events"
        assert error.data["error"].startswith(f"the disk holding {settings.home} is full")
        assert error.data["stored_late"] is True and error.data["refused_writes"] >= refused
        await engine.dispatch("custom", DATA)
        await engine.store.flush()
        assert len(await of_type(engine, "db.error")) == 1  # one per episode
    finally:
        await engine.close()


# -- state.corrupted ------------------------------------------------------------------


def put_state(path: Path, hook: str, key: str, value: str) -> None:
    conn = sqlite3.connect(path, timeout=10)
    conn.execute("INSERT OR REPLACE INTO state (hook, key, value) VALUES (?, ?, ?)",
                 (hook, key, value))  # fmt: skip
    conn.commit()
    conn.close()


async def test_damaged_state_values_are_found_at_start_and_at_get(
    settings: Settings, lua_file: LuaFile
) -> None:
    engine = await Engine.open(settings, lifecycle=True)
    await engine.close()
    put_state(settings.db_path, "reader", "at-start", "{not json")
    put_state(settings.db_path, "reader", "fine", "Infinity")  # Python's json reads it
    engine = await Engine.open(settings, lifecycle=True)
    try:
        (first,) = await wait_events(engine, "state.corrupted", 1)
        assert first.data == {
            "state_key": "at-start",
            "namespace": "reader",
            "corruption_type": "invalid_json",
        }
        assert first.source == "system" and first.warnings == []
        code = """
        function on_event(event)
          local ok, err = pcall(state.get, event.data.key)
          return err
        end
        """
        await engine.add_hook("reader", ["custom"], lua_file(code))
        put_state(settings.db_path, "reader", "later", "\x01garbage")
        for _ in range(2):  # said once, however often it is read
            _, (run,) = await engine.dispatch_and_run("custom", {**DATA, "key": "later"})
            assert run.status == "success"
            assert run.result.endswith(
                "state.get: the stored value of 'later' is damaged (not JSON); "
                "state.set a new value to replace it"
            ), run.result
        found = await wait_events(engine, "state.corrupted", 2)
        await engine.store.flush()
        assert [e.data["state_key"] for e in await of_type(engine, "state.corrupted")] == [
            "at-start",
            "later",
        ]
        assert found[1].data["namespace"] == "reader"
    finally:
        await engine.close()


async def test_a_one_shot_engine_records_none_of_these(settings: Settings) -> None:
    old_store(settings.db_path, 4)
    engine = await Engine.open(settings)
    try:
        engine.store.slow_threshold = 0.0
        await engine.dispatch("custom", DATA)
        await engine.count_events()
        await engine.store.flush()
        assert [e.type for e in await engine.query_events()] == ["custom"]
    finally:
        await engine.close()
