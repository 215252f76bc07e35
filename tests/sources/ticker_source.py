"""A test-only source: the whole of what adding a producer takes (plus one registry line).

It dispatches a `custom` event every `every` seconds; on stop it sends a last one and
notes what it saw (was the socket still up, was its last event accepted), so a test
can check that producers stop before the engine and the socket do.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

from sloth_tui.config import Settings
from sloth_tui.engine.api import EngineAPI
from sloth_tui.model.errors import SlothError
from sloth_tui.model.stats import SourceHealth
from sloth_tui.sources.options import SourceOptions
from sloth_tui.sources.status import Status

stops: list[dict[str, Any]] = []  # what each ticker saw when it stopped, in stop order


class TickerSource:
    def __init__(self, settings: Settings, every: float = 0.02, fail: str = "") -> None:
        self.settings = settings
        self.every = every
        self.fail = fail  # a reason: start() fails with it
        self.name = "ticker"
        self.ticks = 0
        self._api: EngineAPI | None = None
        self._task: asyncio.Task[None] | None = None
        self._status = Status(self.name, "ticker")

    async def start(self, api: EngineAPI) -> None:
        if self.fail:
            raise self._status.failed(SlothError(self.fail))
        self._api = api
        self._task = asyncio.create_task(self._run(), name="ticker")
        self._status.running()

    async def _run(self) -> None:
        while True:
            await self._tick("tick")
            await asyncio.sleep(self.every)

    async def _tick(self, message: str) -> int:
        assert self._api is not None
        event = await self._api.dispatch(
            "custom", {"name": "ticker", "message": message}, source="ticker"
        )
        self.ticks += 1
        return event.id

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
            seen: dict[str, Any] = {"socket_up": self.settings.socket_path.is_socket()}
            seen["last_id"] = await self._tick("last tick")  # the engine still takes it
            stops.append(seen)
        self._status.stopped()

    def health(self) -> SourceHealth:
        return self._status.health(f"{self.ticks} ticks")


def ticker_sources(settings: Settings, options: SourceOptions) -> list[TickerSource]:
    """Its registry line's factory."""
    return [TickerSource(settings)]
