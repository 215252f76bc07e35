"""Helpers for the polled watchers' tests: a recording engine and a driven clock."""

from __future__ import annotations

import asyncio
from typing import Any

from sloth_tui.engine.events import catalog_warnings, encode_data
from sloth_tui.model.errors import SlothError


class Api:
    """The part of the EngineAPI a watcher uses: dispatch. It checks each event at the
    engine's door (plain JSON within the limit) and against the catalog's fields."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, dict[str, Any], str]] = []

    async def dispatch(self, type: str, data: dict[str, Any], *, source: str) -> None:
        encode_data(data)  # raises EventRefused as the engine would
        problems = catalog_warnings(type, data)
        if problems:
            raise SlothError(f"{type}: {problems}")
        self.sent.append((type, data, source))

    def of(self, event_type: str) -> list[dict[str, Any]]:
        return [d for t, d, _ in self.sent if t == event_type]

    def types(self) -> list[str]:
        return [t for t, _, _ in self.sent]


class Clock:
    """The watcher's `sleep`: each sleep waits until the test calls step(), so a look
    happens exactly when the test says, and no test waits out an interval."""

    def __init__(self) -> None:
        self._wake: asyncio.Future[None] | None = None
        self._asleep = asyncio.Event()
        self.slept: list[float] = []

    async def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self._wake = asyncio.get_running_loop().create_future()
        self._asleep.set()
        await self._wake

    async def settled(self, timeout: float = 20.0) -> None:
        """Until the watcher sleeps again (its look is done)."""
        await asyncio.wait_for(self._asleep.wait(), timeout)

    async def step(self, timeout: float = 20.0) -> None:
        """Let one interval pass: the watcher looks once; return when the look is done."""
        await self.settled(timeout)
        assert self._wake is not None
        self._asleep.clear()
        self._wake.set_result(None)
        await self.settled(timeout)
