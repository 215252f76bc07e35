"""WAL checkpoints off the writer (engine/wal_checkpoint.py), on a real SQLite file."""

from __future__ import annotations

import asyncio
import logging
import os
import sqlite3
from pathlib import Path

import pytest
from waiting import eventually

from sloth_tui.engine import store as store_module
from sloth_tui.engine.store import INSERT_EVENT, WAL_BACKSTOP_PAGES, Store, event_row
from sloth_tui.model.records import Event

ROUNDS = 40
PER_ROUND = 400  # events of ~1 KiB each: a round is ~0.5 MB of WAL


def rows(start: int) -> list[tuple[object, ...]]:
    return [
        event_row(
            Event(i, "deploy.failed", "deploy", {"blob": "x" * 900, "n": i}, "cli", 1000.0 + i),
            "{}",
        )
        for i in range(start, start + PER_ROUND)
    ]


def ops(start: int) -> list[tuple[str, tuple[object, ...]]]:
    return [(INSERT_EVENT, row) for row in rows(start)]


def wal_bytes(path: Path) -> int:
    wal = Path(f"{path}-wal")
    return wal.stat().st_size if wal.exists() else 0


async def test_the_checkpointer_keeps_the_wal_small(tmp_path: Path) -> None:
    """The writer checkpoints only past its backstop; below it the checkpointer copies
    the WAL after commits, so SQLite starts it over instead of letting it grow with
    everything written."""
    path = tmp_path / "sloth.db"
    store = await Store.open(path)
    try:
        checkpointer = store._checkpointer
        assert checkpointer is not None
        checkpointer.every = 0.01
        setting = await store._writer.call(  # type: ignore[union-attr]
            lambda c: c.execute("PRAGMA wal_autocheckpoint").fetchone()[0]
        )
        assert setting == WAL_BACKSTOP_PAGES
        written = 0
        for k in range(ROUNDS):
            await store.write(*ops(k * PER_ROUND + 1))
            written = max(written, wal_bytes(path))
            before = checkpointer.checkpoints
            await eventually(lambda before=before: checkpointer.checkpoints > before)
        total = os.path.getsize(path)
        # Everything is in the database file, and the WAL never held more than a few
        # rounds: without checkpoints it would hold all of them (as large as the file).
        assert written < total / 4, (written, total)
    finally:
        await store.close()
    conn = sqlite3.connect(path)
    assert conn.execute("SELECT COUNT(*) FROM events").fetchone()[0] == ROUNDS * PER_ROUND
    conn.close()
    assert wal_bytes(path) == 0  # the last close checkpointed the rest and removed it


async def test_sustained_writes_the_checkpointer_never_catches_keep_the_wal_bounded(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Writes that never pause: a checkpoint beside the writer never copies all of the
    WAL, so SQLite would never start it over, and the WAL grew with everything written
    (186 MB in 8 s in a probe). The writer's backstop bounds it. Here the checkpointer
    never runs at all, the worst case. The backstop is lowered to 1000 pages so that
    the test writes tens of MB, not hundreds (the default is checked above)."""
    monkeypatch.setattr(store_module, "WAL_BACKSTOP_PAGES", 1000)
    path = tmp_path / "sloth.db"
    store = await Store.open(path)
    try:
        checkpointer = store._checkpointer
        assert checkpointer is not None
        checkpointer.every = 3600.0  # never, within this test
        page = await store._writer.call(  # type: ignore[union-attr]
            lambda c: c.execute("PRAGMA page_size").fetchone()[0]
        )
        backstop = 1000 * page
        largest = rounds = 0
        # Until the database holds two backstops' worth (the backstop has worked twice),
        # or the WAL alone holds three (it did not work).
        while os.path.getsize(path) < 2 * backstop and largest < 3 * backstop:
            await store.write(*ops(rounds * PER_ROUND + 1))
            rounds += 1
            largest = max(largest, wal_bytes(path))
        assert checkpointer.checkpoints == 0
        assert largest < backstop * 1.5, (largest, backstop)
        assert os.path.getsize(path) >= 2 * backstop
    finally:
        await store.close()
    conn = sqlite3.connect(path)
    assert conn.execute("SELECT COUNT(*) FROM events").fetchone()[0] == rounds * PER_ROUND
    conn.close()


async def test_an_idle_store_does_no_checkpoint(tmp_path: Path) -> None:
    store = await Store.open(tmp_path / "sloth.db")
    try:
        checkpointer = store._checkpointer
        assert checkpointer is not None
        checkpointer.every = 0.01
        await store.write(*ops(1))
        await eventually(lambda: checkpointer.checkpoints == 1)
        await asyncio.sleep(0.2)  # twenty periods with no commit: no checkpoint came
        assert checkpointer.checkpoints == 1
    finally:
        await store.close()


async def test_a_failing_checkpoint_is_said_once_and_loses_nothing(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A checkpoint that fails (a disk error, simulated at the one seam this is about:
    the checkpointer's call into its connection) is logged once, commits go on into the
    WAL, and the first checkpoint after the fault does its work."""
    path = tmp_path / "sloth.db"
    store = await Store.open(path)
    checkpointer = store._checkpointer
    assert checkpointer is not None
    checkpointer.every = 0.01
    try:
        await store.write(*ops(1))
        await eventually(lambda: checkpointer.checkpoints == 1)
        calls: list[str] = []

        def broken(conn: sqlite3.Connection) -> None:
            calls.append("x")
            raise sqlite3.OperationalError("disk I/O error")

        original = checkpointer._conn.call

        async def failing(fn, *args, **kwargs):  # type: ignore[no-untyped-def]
            return await original(broken)

        checkpointer._conn.call = failing  # type: ignore[method-assign]
        with caplog.at_level(logging.WARNING, logger="sloth_tui.store"):
            for k in range(3):
                await store.write(*ops(1 + (k + 1) * PER_ROUND))
                await eventually(lambda k=k: len(calls) > k)
        said = [r for r in caplog.records if "WAL checkpoint failed" in r.getMessage()]
        assert len(said) == 1 and "disk I/O error" in said[0].getMessage()
        checkpointer._conn.call = original  # type: ignore[method-assign]
        await store.write(*ops(1 + 4 * PER_ROUND))
        await eventually(lambda: checkpointer.checkpoints == 2)
    finally:
        await store.close()
    conn = sqlite3.connect(path)
    assert conn.execute("SELECT COUNT(*) FROM events").fetchone()[0] == 5 * PER_ROUND
    conn.close()
