"""The engine's side of HostAPI: hook threads call in, work hops onto the event loop.

A hook thread never builds the awaitable itself: it hands a coroutine function and its
arguments over, and the call is made on the loop (Store.write, for one, touches the
store's rounds and makes a future of the running loop, so it only works there). The
hook thread then waits for the answer, at most CALL_TIMEOUT. The other way round the
loop never blocks on a hook thread (Dispatcher.stop joins its pool off the loop), so
the two cannot wait on each other.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import json
from collections.abc import Awaitable, Callable
from typing import Any, ParamSpec, Protocol, TypeVar

from sloth_tui.engine.errors import EventRefused
from sloth_tui.engine.records import Event
from sloth_tui.engine.store import Store

CALL_TIMEOUT = 30.0
UPSERT_STATE = "INSERT OR REPLACE INTO state (hook, key, value) VALUES (?, ?, ?)"
DELETE_STATE = "DELETE FROM state WHERE hook = ? AND key = ?"

P = ParamSpec("P")
T = TypeVar("T")


class DispatchFn(Protocol):
    """Engine.dispatch, as the host uses it."""

    def __call__(
        self, type: str, data: dict[str, Any] | None = ..., *, source: str, parent: Event | None
    ) -> Awaitable[Event]: ...


class ThreadHost:
    """HostAPI for hooks run in worker threads, answered on `loop`.

    Without `dispatch` the host is read-only (an engine that runs no hooks, only dry
    runs): state reads work; dispatch and state writes are refused.
    """

    def __init__(
        self, store: Store, loop: asyncio.AbstractEventLoop, dispatch: DispatchFn | None = None
    ) -> None:
        self._store = store
        self._loop = loop
        self._dispatch = dispatch
        self._incr_lock = asyncio.Lock()  # binds to the loop on first use, on the loop

    def _call(self, fn: Callable[P, Awaitable[T]], *args: P.args, **kwargs: P.kwargs) -> T:
        """Run fn(*args, **kwargs) on the loop and wait for its result in this thread."""
        loop = self._loop
        try:
            on_loop_thread = asyncio.get_running_loop() is loop
        except RuntimeError:  # no loop in this thread: the normal case
            on_loop_thread = False
        if on_loop_thread:  # waiting here would block the very loop that must answer
            raise RuntimeError("host call made on the engine's event loop thread")
        if not loop.is_running():
            raise EventRefused("the engine is stopping")

        async def call() -> T:
            return await fn(*args, **kwargs)

        coro = call()
        try:
            future = asyncio.run_coroutine_threadsafe(coro, loop)
        except RuntimeError:  # the loop closed meanwhile
            coro.close()
            raise EventRefused("the engine is stopping") from None
        try:
            return future.result(CALL_TIMEOUT)
        except concurrent.futures.TimeoutError:
            future.cancel()
            raise TimeoutError(f"the engine did not answer within {CALL_TIMEOUT:g} s") from None
        except concurrent.futures.CancelledError:  # the loop cancelled it while stopping
            raise EventRefused("the engine is stopping") from None

    def _writable(self) -> DispatchFn:
        if self._dispatch is None:
            raise EventRefused("this engine is read-only: another engine owns the data dir")
        return self._dispatch

    def dispatch(self, type: str, data: dict[str, Any], *, parent: Event, source: str) -> int:
        event = self._call(self._writable(), type, data, source=source, parent=parent)
        return event.id

    def state_get(self, hook: str, key: str) -> Any:
        return self._call(self._store.state_get, hook, key)

    def state_set(self, hook: str, key: str, value: Any) -> None:
        self._writable()
        self._call(self._store.write, (UPSERT_STATE, (hook, key, json.dumps(value))))

    def state_delete(self, hook: str, key: str) -> None:
        self._writable()
        self._call(self._store.write, (DELETE_STATE, (hook, key)))

    def state_incr(self, hook: str, key: str, by: float) -> float:
        self._writable()
        return self._call(self._incr, hook, key, by)

    async def _incr(self, hook: str, key: str, by: float) -> float:
        # Two hook threads may incr at once: the lock makes read-modify-write atomic.
        async with self._incr_lock:
            current = await self._store.state_get(hook, key)
            numeric = isinstance(current, int | float) and not isinstance(current, bool)
            value: float = (current if numeric else 0) + by
            await self._store.write((UPSERT_STATE, (hook, key, json.dumps(value))))
            return value
