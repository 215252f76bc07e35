"""WAL checkpoints on a connection of their own, so the writer never does one.

SQLite's default (wal_autocheckpoint = 1000 pages) makes the commit that crosses the
threshold copy the whole WAL into the database file and fsync it, in the writer's
thread: every write queued behind that commit waits for the disk (issue 19: the
latency p99 of a hook run). This checkpointer runs a PASSIVE checkpoint on its own
connection and thread instead, at most once per `every` seconds and only after
commits. PASSIVE never waits for readers or blocks the writer: a writer appends to the
WAL while it copies, and SQLite starts the WAL over from its beginning once a
checkpoint has copied all of it and no reader uses it.

Under writes that never pause, a checkpoint beside the writer never copies all of it,
so the WAL would grow with everything written. The writer keeps a backstop
(store.WAL_BACKSTOP_PAGES, 16x SQLite's default threshold): past it, the commit
checkpoints the few frames this one has not copied yet, and the WAL starts over.

A checkpoint that fails (a full disk, a damaged file) is logged once per kind of
failure and tried again with the next commits: the WAL keeps every commit meanwhile,
so nothing is lost, the file only grows. When the store closes, the last connection
closed (the writer) checkpoints what is left, as SQLite does on close.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sqlite3

from sloth_tui.engine.sqlite_thread import SqliteThread

EVERY = 1.0  # seconds between two checkpoints while commits come
CLOSE_TIMEOUT = 5.0  # a checkpoint stuck on a hung disk is left behind (a daemon thread)
log = logging.getLogger("sloth_tui.store")


def _passive(conn: sqlite3.Connection) -> tuple[int, int, int]:
    """(busy, WAL frames, frames checkpointed), as SQLite reports them."""
    row = conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
    return int(row[0]), int(row[1]), int(row[2])


class Checkpointer:
    """Checkpoints a store's WAL after its commits (see the module doc)."""

    def __init__(self, conn: SqliteThread, every: float = EVERY) -> None:
        self._conn = conn
        self.every = every
        self._dirty = asyncio.Event()  # a commit since the last checkpoint
        self._task = asyncio.create_task(self._run(), name="store-checkpointer")
        self.checkpoints = 0  # done, for tests and the curious
        self._failing: str | None = None  # the failure said last, until one succeeds

    @classmethod
    async def open(cls, target: str, every: float = EVERY) -> Checkpointer:
        conn = await SqliteThread.connect(target, name="sloth-store-checkpointer")
        try:
            await conn.call(lambda c: c.execute("PRAGMA busy_timeout=5000").fetchall())
        except BaseException:
            await conn.close()
            raise
        return cls(conn, every)

    def committed(self) -> None:
        """On the loop, after a commit: a checkpoint is due within `every` seconds."""
        self._dirty.set()

    async def _run(self) -> None:
        while True:
            await self._dirty.wait()
            await asyncio.sleep(self.every)  # commits meanwhile share this checkpoint
            self._dirty.clear()
            try:
                await self._conn.call(_passive)
            except (sqlite3.Error, ValueError) as exc:  # ValueError: closed meanwhile
                said = " ".join(str(exc).split()) or type(exc).__name__
                if said != self._failing:
                    self._failing = said
                    log.warning("WAL checkpoint failed (kept for the next one): %s", said)
                continue
            self._failing = None
            self.checkpoints += 1

    async def close(self) -> None:
        """Stop checkpointing and close the connection (before the writer closes, so
        that the writer, closing last, checkpoints the rest)."""
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task
        with contextlib.suppress(sqlite3.Error, ValueError, TimeoutError):
            await asyncio.wait_for(self._conn.close(), CLOSE_TIMEOUT)
