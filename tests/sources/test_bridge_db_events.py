"""db.connected / db.disconnected from the Sloth Runner bridge (issue 16.4).

A real upstream hooks.db (upstreamkit.py) that appears, vanishes and comes back while
the bridge's own loop follows it into a real engine: one event per change, never one
per retry, and a writer's lock is no disconnection.
"""

from __future__ import annotations

import asyncio
import sqlite3
import time
from pathlib import Path

from sourcekit import async_wait_for
from upstreamkit import UpstreamDB

from sloth_tui.engine.engine import Engine
from sloth_tui.model.records import Event
from sloth_tui.sources.sloth_runner import EVENT_SOURCE, BridgeSettings, SlothRunnerBridge


async def db_events(engine: Engine) -> list[Event]:
    events = await engine.query_events(limit=500)
    return [e for e in reversed(events) if e.category == "db"]


async def test_connected_and_disconnected_once_per_change(engine: Engine, tmp_path: Path) -> None:
    path = tmp_path / "sr" / "hooks.db"
    bridge = SlothRunnerBridge(BridgeSettings(db=str(path), poll_interval=0.05))
    await bridge.start(engine)
    try:
        await async_wait_for(lambda: bridge.health().state == "retrying")
        assert await db_events(engine) == []  # never connected: nothing lost either
        db = UpstreamDB(path)
        db.event()
        await async_wait_for(lambda: bridge.events == 1, timeout=40, what="the file")
        polls = bridge.polls
        await async_wait_for(lambda: bridge.polls > polls + 3, what="more polls")
        (connected,) = await db_events(engine)
        assert connected.type == "db.connected" and connected.source == EVENT_SOURCE
        assert connected.data == {
            "database": str(path),
            "connection_pool_size": 1,
            "mode": "read-only",
        }
        assert connected.warnings == []

        db.close()
        path.unlink()
        events = await wait_for_events(engine, 2)
        disconnected = events[1]
        assert disconnected.type == "db.disconnected" and disconnected.source == EVENT_SOURCE
        assert disconnected.data == {"database": str(path), "reason": f"{path}: no such file"}
        retries = bridge.health().detail
        assert "no such file" in retries

        again = UpstreamDB(path)
        again.event()
        await async_wait_for(lambda: bridge.events == 2, timeout=40, what="the file again")
        events = await wait_for_events(engine, 3)
        assert [e.type for e in events] == ["db.connected", "db.disconnected", "db.connected"]
        again.close()
    finally:
        await bridge.stop()
    assert [e.type for e in await db_events(engine)][-1] == "db.connected"  # a stop is silent


async def wait_for_events(engine: Engine, n: int) -> list[Event]:
    found: list[Event] = []

    async def enough() -> bool:
        found[:] = await db_events(engine)
        return len(found) >= n

    deadline = time.monotonic() + 20
    while not await enough():
        assert time.monotonic() < deadline, [e.type for e in found]
        await asyncio.sleep(0.05)
    assert len(found) == n, [e.type for e in found]  # once per change, not per retry
    return found


async def test_a_locked_file_is_not_a_disconnection(engine: Engine, tmp_path: Path) -> None:
    db = UpstreamDB(tmp_path / "sr" / "hooks.db")
    db.event()
    bridge = SlothRunnerBridge(BridgeSettings(db=str(db.path), poll_interval=0.05,
                                              busy_timeout=0.1))  # fmt: skip
    await bridge.start(engine)
    holder = sqlite3.connect(db.path, isolation_level=None)
    try:
        await async_wait_for(lambda: bridge.events == 1, timeout=40, what="the file")
        holder.execute("BEGIN EXCLUSIVE")
        await async_wait_for(lambda: "locked" in bridge.problem, what="the lock")
        holder.execute("ROLLBACK")
        db.event()
        await async_wait_for(lambda: bridge.events == 2, timeout=40, what="the lock to go")
        assert [e.type for e in await db_events(engine)] == ["db.connected"]
    finally:
        holder.close()
        db.close()
        await bridge.stop()
