"""A failure that repeats, in the log without a line per try.

A refusal that repeats (a full disk refuses every event a busy watcher sends, and every
run a fleet member is handed, for as long as it lasts) would otherwise write one warning
per event. The first failure for a reason is said in full; the next ones for the same
reason are counted and said as one line when the run of them ends (one goes through
again, or the reason changes), or once every `every` seconds while it goes on.

A leaf (logging only): the sources' producers and the fleet's runner both use it.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field

EVERY = 60.0  # seconds between two count lines while one reason keeps refusing
REASON_MAX = 300  # characters of a reason said (a hook's error can be a page long)


@dataclass(slots=True)
class RefusalLog:
    who: str  # the producer, as its log lines name it (`watcher:w1`, `monitor`)
    log: logging.Logger
    what: str = "events"  # what a count line counts: "N more events refused: ..."
    verb: str = "refused"  # what befell them
    every: float = EVERY
    clock: Callable[[], float] = time.monotonic
    _reason: str | None = field(default=None, init=False)
    _unsaid: int = field(default=0, init=False)
    _said_at: float = field(default=0.0, init=False)

    def refused(self, subject: str, exc: BaseException) -> None:
        """`subject` failed (an event type, "a run on deploy.failed"): `exc` says why."""
        reason = " ".join(str(exc).split())
        if len(reason) > REASON_MAX:
            reason = reason[:REASON_MAX] + "…"
        now = self.clock()
        if reason != self._reason:
            self._say_count()
            self._reason, self._said_at = reason, now
            self.log.warning("%s: %s %s: %s", self.who, subject, self.verb, reason)
            return
        self._unsaid += 1
        if now - self._said_at >= self.every:
            self._say_count()
            self._said_at = now

    def taken(self) -> None:
        """One went through: a run of failures is over."""
        if self._reason is not None:
            self._say_count()
            self._reason = None

    def _say_count(self) -> None:
        if self._unsaid:
            self.log.warning(
                "%s: %d more %s %s: %s", self.who, self._unsaid, self.what, self.verb, self._reason
            )
            self._unsaid = 0
