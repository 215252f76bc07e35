"""Fan-out of engine notices to subscribers through bounded queues.

The engine never waits for a subscriber: when one's queue is full, the notice
is dropped for it alone, counted, and the count is delivered as a `dropped`
notice ahead of the next one it receives.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any


@dataclass(slots=True, frozen=True)
class Notice:
    kind: str  # event | event_status | execution | hooks | stats | log | dropped | shutdown
    payload: Any


class Subscription:
    def __init__(self, bus: Bus, maxsize: int) -> None:
        self._bus = bus
        self._queue: asyncio.Queue[Notice] = asyncio.Queue(maxsize)
        self.dropped_total = 0
        self._unreported = 0
        self._held: Notice | None = None

    def offer(self, notice: Notice) -> None:
        try:
            self._queue.put_nowait(notice)
        except asyncio.QueueFull:
            self.dropped_total += 1
            self._unreported += 1

    async def get(self) -> Notice:
        if self._held is not None:
            notice, self._held = self._held, None
            return notice
        notice = await self._queue.get()
        return self._report_drops(notice)

    def get_nowait(self) -> Notice | None:
        """The next notice, or None when none is waiting (for tick-based consumers)."""
        if self._held is not None:
            notice, self._held = self._held, None
            return notice
        try:
            notice = self._queue.get_nowait()
        except asyncio.QueueEmpty:
            if self._unreported:
                count, self._unreported = self._unreported, 0
                return Notice("dropped", count)
            return None
        return self._report_drops(notice)

    def drain(self, limit: int = 100_000) -> list[Notice]:
        out: list[Notice] = []
        while len(out) < limit:
            notice = self.get_nowait()
            if notice is None:
                break
            out.append(notice)
        return out

    def _report_drops(self, notice: Notice) -> Notice:
        if self._unreported:
            count, self._unreported = self._unreported, 0
            self._held = notice
            return Notice("dropped", count)
        return notice

    def close(self) -> None:
        self._bus.unsubscribe(self)

    def __aiter__(self) -> Subscription:
        return self

    async def __anext__(self) -> Notice:
        return await self.get()


class Bus:
    def __init__(self) -> None:
        self._subs: list[Subscription] = []
        self._stir: asyncio.Future[None] | None = None  # wait_stirred()'s, while it waits

    def subscribe(self, maxsize: int = 10_000) -> Subscription:
        sub = Subscription(self, maxsize)
        self._subs.append(sub)
        self._stirred()
        return sub

    def unsubscribe(self, sub: Subscription) -> None:
        if sub in self._subs:
            self._subs.remove(sub)
            self._stirred()

    async def wait_stirred(self) -> None:
        """Until something is published to a subscriber, or one comes or goes: what the
        engine's figures loop sleeps on while nothing changes (one waiter at a time)."""
        stir = self._stir = asyncio.get_running_loop().create_future()
        try:
            await stir
        finally:
            if self._stir is stir:
                self._stir = None

    @property
    def awaiting_stir(self) -> bool:
        return self._stir is not None

    def _stirred(self) -> None:
        stir = self._stir
        if stir is not None:
            self._stir = None
            if not stir.done():
                stir.set_result(None)

    @property
    def subscriber_count(self) -> int:
        return len(self._subs)

    @property
    def dropped_total(self) -> int:
        return sum(s.dropped_total for s in self._subs)

    def publish(self, kind: str, payload: Any) -> None:
        if self._subs:
            notice = Notice(kind, payload)
            for sub in self._subs:
                sub.offer(notice)
            if self._stir is not None:
                self._stirred()
