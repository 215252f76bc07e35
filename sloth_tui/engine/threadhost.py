"""The engine's side of HostAPI: hook threads call in, work hops onto the event loop."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Coroutine
from typing import TYPE_CHECKING, Any

from sloth_tui.engine.errors import EventRefused
from sloth_tui.engine.records import Event

if TYPE_CHECKING:
    from sloth_tui.engine.engine import Engine

CALL_TIMEOUT = 30.0
UPSERT_STATE = "INSERT OR REPLACE INTO state (hook, key, value) VALUES (?, ?, ?)"


class ThreadHost:
    def __init__(self, engine: Engine, loop: asyncio.AbstractEventLoop) -> None:
        self._engine = engine
        self._loop = loop
        self._incr_lock = asyncio.Lock()

    def _call(self, coro: Coroutine[Any, Any, Any]) -> Any:
        try:
            return asyncio.run_coroutine_threadsafe(coro, self._loop).result(CALL_TIMEOUT)
        except RuntimeError as exc:  # loop closed: the engine is stopping
            coro.close()
            raise EventRefused(f"engine stopping: {exc}") from None

    def dispatch(self, type: str, data: dict[str, Any], *, parent: Event, source: str) -> int:
        return self._call(self._engine.dispatch(type, data, source=source, parent=parent)).id

    def state_get(self, hook: str, key: str) -> Any:
        return self._call(self._engine.store.state_get(hook, key))

    def state_set(self, hook: str, key: str, value: Any) -> None:
        self._call(self._engine.store.write((UPSERT_STATE, (hook, key, json.dumps(value)))))

    def state_delete(self, hook: str, key: str) -> None:
        op = ("DELETE FROM state WHERE hook = ? AND key = ?", (hook, key))
        self._call(self._engine.store.write(op))

    def state_incr(self, hook: str, key: str, by: float) -> float:
        async def incr() -> float:
            # Two hook threads may incr at once: the lock makes read-modify-write atomic.
            async with self._incr_lock:
                return await self._incr(hook, key, by)

        return self._call(incr())

    async def _incr(self, hook: str, key: str, by: float) -> float:
        current = await self._engine.store.state_get(hook, key)
        value = (current if isinstance(current, int | float) else 0) + by
        await self._engine.store.write((UPSERT_STATE, (hook, key, json.dumps(value))))
        return value
