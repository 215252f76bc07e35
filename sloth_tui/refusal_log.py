"""A producer's refused events in the log, without a line per event.

A refusal that repeats (a full disk refuses every event a busy watcher sends, for as long
as it lasts) would otherwise write one warning per event. The first refusal for a reason
is said in full; the next ones for the same reason are counted and said as one line when
the run of them ends (an event is taken again, or the reason changes), or once every
`every` seconds while it goes on.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field

EVERY = 60.0  # seconds between two count lines while one reason keeps refusing


@dataclass(slots=True)
class RefusalLog:
    who: str  # the producer, as its log lines name it (`watcher:w1`, `monitor`)
    log: logging.Logger
    every: float = EVERY
    clock: Callable[[], float] = time.monotonic
    _reason: str | None = field(default=None, init=False)
    _unsaid: int = field(default=0, init=False)
    _said_at: float = field(default=0.0, init=False)

    def refused(self, event_type: str, exc: BaseException) -> None:
        reason = " ".join(str(exc).split())
        now = self.clock()
        if reason != self._reason:
            self._say_count()
            self._reason, self._said_at = reason, now
            self.log.warning("%s: %s refused: %s", self.who, event_type, reason)
            return
        self._unsaid += 1
        if now - self._said_at >= self.every:
            self._say_count()
            self._said_at = now

    def taken(self) -> None:
        """An event went in: a run of refusals is over."""
        if self._reason is not None:
            self._say_count()
            self._reason = None

    def _say_count(self) -> None:
        if self._unsaid:
            self.log.warning("%s: %d more events refused: %s", self.who, self._unsaid, self._reason)
            self._unsaid = 0
