"""A thin EngineAPI around the engine a source is started with, counting what that
source hands in: events taken, when the last one was, and how many were refused.

The wiring (sources/wiring.py) starts each source with its own CountingAPI, so every
source gets the dashboard's events, last event and errors figures without counting
anything itself. Only the ways events enter an engine are counted (dispatch,
dispatch_and_run, dispatch_batch, mirror); every other member is the engine's own
(`__getattr__`), so a member added to EngineAPI reaches the sources unchanged.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from sloth_tui.model.errors import EventRefused, SlothError

if TYPE_CHECKING:
    from sloth_tui.engine.api import EngineAPI, EventLine
    from sloth_tui.model.mirror import MirrorBatch, MirrorResult
    from sloth_tui.model.records import Event, Execution


class CountingAPI:
    """`api` as the source sees it; the figures are read by SourceSet.health()."""

    def __init__(self, api: EngineAPI, clock: Callable[[], float] = time.time) -> None:
        self.api = api
        self.clock = clock
        self.events = 0  # taken by the engine
        self.errors = 0  # refused, or failed on the way in
        self.last_event: float | None = None  # epoch seconds of the last one taken

    def __getattr__(self, name: str) -> Any:
        # Only reached for what this class does not define: the engine's own member.
        return getattr(self.api, name)

    def _took(self, n: int) -> None:
        if n > 0:
            self.events += n
            self.last_event = self.clock()

    async def dispatch(self, type: str, data: dict[str, Any] | None = None, **kw: Any) -> Event:
        try:
            event = await self.api.dispatch(type, data, **kw)
        except SlothError:
            self.errors += 1
            raise
        self._took(1)
        return event

    async def dispatch_and_run(
        self, type: str, data: dict[str, Any] | None = None, **kw: Any
    ) -> tuple[Event, list[Execution]]:
        try:
            result = await self.api.dispatch_and_run(type, data, **kw)
        except SlothError:
            self.errors += 1
            raise
        self._took(1)
        return result

    async def dispatch_batch(self, items: list[EventLine]) -> list[Event | EventRefused]:
        try:
            results = await self.api.dispatch_batch(items)
        except SlothError:
            self.errors += len(items)
            raise
        refused = sum(1 for r in results if isinstance(r, EventRefused))
        self.errors += refused
        self._took(len(results) - refused)
        return results

    async def mirror(self, batch: MirrorBatch) -> MirrorResult:
        try:
            result = await self.api.mirror(batch)
        except SlothError:
            self.errors += 1
            raise
        self.errors += len(result.refused)
        self._took(result.events_added)
        return result
