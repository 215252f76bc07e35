"""The schedules' clock: wall time to compare with cron, and a wait until a wall time.

The source never calls time.time() or asyncio.sleep() itself, so a test drives it with
a ManualClock and checks a nightly schedule, DST and days of downtime in milliseconds.
The wait is *until* a wall time, not *for* a duration: a test that moves the clock
while the source is between reading it and waiting cannot make it oversleep.
"""

from __future__ import annotations

import asyncio
import time
from typing import Protocol


class Clock(Protocol):
    def now(self) -> float:
        """Wall time, epoch seconds."""
        ...

    async def sleep_until(self, when: float) -> None:
        """Return once now() >= when (or soon after)."""
        ...


class SystemClock:
    """The real one. The caller wakes at least every second or so anyway (to re-read
    the CLI's file), so a wall clock set back or forward is noticed within that."""

    def now(self) -> float:
        return time.time()

    async def sleep_until(self, when: float) -> None:
        await asyncio.sleep(max(0.0, when - time.time()))


class ManualClock:
    """A clock that moves only when told (tests). Waiters wake when it passes their time."""

    def __init__(self, start: float) -> None:
        self.t = start
        self._waiters: list[tuple[float, asyncio.Future[None]]] = []

    def now(self) -> float:
        return self.t

    @property
    def waiting(self) -> int:
        """How many sleep_until calls are parked (a test can wait for the source to idle)."""
        return sum(1 for _, f in self._waiters if not f.done())

    async def sleep_until(self, when: float) -> None:
        if when <= self.t:
            await asyncio.sleep(0)
            return
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        entry = (when, future)
        self._waiters.append(entry)
        try:
            await future
        finally:
            if entry in self._waiters:
                self._waiters.remove(entry)

    def set(self, t: float) -> None:
        """Move to `t` (back as well as forward: a wall clock can be set back). Set
        back, it wakes every waiter, as SystemClock's waits (durations) would end."""
        back = t < self.t
        self.t = t
        for when, future in list(self._waiters):
            if (back or when <= t) and not future.done():
                future.set_result(None)

    def advance(self, seconds: float) -> None:
        self.set(self.t + seconds)
