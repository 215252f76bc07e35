"""One sqlite3 connection owned by one daemon thread; the event loop hands it calls.

The store's two connections (the writer and the reader) each live on one of these.
A call is a function of the connection: `await conn.call(fn, *args)` runs
`fn(connection, *args)` in the thread, so many statements cost one hop. This is the
shape aiosqlite has inside, but aiosqlite exposes no public call for a whole function,
and reaching for its private `_execute`/`_conn` would tie the store to its internals.

The thread is a daemon: a connection some error path failed to close, or one stuck in
SQLite on a hung disk, must not keep the process from exiting. A write cut off that way
is a crash, which WAL recovers from.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import sqlite3
import threading
from collections.abc import Callable
from queue import SimpleQueue
from typing import Any, Concatenate, ParamSpec, TypeVar

P = ParamSpec("P")
T = TypeVar("T")

# (the caller's future, the call); None stops the thread.
_Item = tuple["asyncio.Future[Any]", Callable[[], Any]] | None


def _settle(future: asyncio.Future[Any], error: BaseException | None, result: Any) -> None:
    """On the loop: hand the thread's answer over (unless the caller gave up)."""
    if future.done():
        return
    if error is None:
        future.set_result(result)
    else:
        future.set_exception(error)


def _work(calls: SimpleQueue[_Item]) -> None:
    while True:
        item = calls.get()
        if item is None:
            return
        future, call = item
        error: BaseException | None = None
        result: Any = None
        try:
            result = call()
        except BaseException as exc:  # handed to the caller, whatever it is
            error = exc
        # RuntimeError: the loop is closed, nobody is left to answer.
        with contextlib.suppress(RuntimeError):
            future.get_loop().call_soon_threadsafe(_settle, future, error, result)
        del future, call, error, result  # drop references before waiting again


class SqliteThread:
    """A sqlite3 connection used only from its own thread (see the module doc)."""

    def __init__(self, name: str) -> None:
        self._calls: SimpleQueue[_Item] = SimpleQueue()
        self._conn: sqlite3.Connection | None = None
        self._open = True
        self._thread = threading.Thread(target=_work, args=(self._calls,), name=name, daemon=True)
        self._thread.start()

    @classmethod
    async def connect(cls, target: str, *, name: str, **kwargs: Any) -> SqliteThread:
        """sqlite3.connect(target, **kwargs), made in the new thread (it is used only
        there). On failure the thread stops and the error is raised."""
        self = cls(name)
        try:
            self._conn = await self._submit(functools.partial(sqlite3.connect, target, **kwargs))
        except BaseException:
            self._stop()
            raise
        return self

    def _submit(self, call: Callable[[], T]) -> asyncio.Future[T]:
        future: asyncio.Future[T] = asyncio.get_running_loop().create_future()
        self._calls.put((future, call))
        return future

    def _connection(self) -> sqlite3.Connection:
        if self._conn is None:
            raise ValueError("the database connection is closed")
        return self._conn

    async def call(
        self,
        fn: Callable[Concatenate[sqlite3.Connection, P], T],
        *args: P.args,
        **kwargs: P.kwargs,
    ) -> T:
        """fn(connection, *args, **kwargs) in the connection's thread."""
        if not self._open:
            raise ValueError("the database connection is closed")
        conn = self._connection()
        return await self._submit(functools.partial(fn, conn, *args, **kwargs))

    async def close(self) -> None:
        """Close the connection after the calls queued before, and end the thread."""
        if not self._open:
            return
        self._open = False
        conn = self._conn
        try:
            if conn is not None:
                await self._submit(conn.close)
        finally:
            self._conn = None
            self._stop()

    def _stop(self) -> None:
        self._open = False
        self._calls.put(None)
