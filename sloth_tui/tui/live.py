"""What the dashboard learns from the engine's notices, one tick at a time.

The app drains its Subscription every tick into one `Batch`; `LiveStats` keeps
the running numbers every screen reads (rates, counts, outcomes). No widgets here.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field

from sloth_tui.engine.bus import Notice
from sloth_tui.model.records import OK_STATUSES, Event, Execution
from sloth_tui.model.stats import EngineStats

LOG_CHARS = 2000  # of a daemon's warning shown in a toast
RATE_HISTORY = 600  # seconds of per-second event counts kept for the sparkline


@dataclass(slots=True)
class Batch:
    """The notices of one tick, sorted by kind (order within a kind is kept)."""

    events: list[Event] = field(default_factory=list)
    statuses: list[Event] = field(default_factory=list)
    executions: list[Execution] = field(default_factory=list)
    hooks_changed: bool = False
    stats: EngineStats | None = None
    dropped: int = 0
    shutdown: str | None = None
    # The engine's warnings (engine/log_notices.py): (one line, is an error). Shown
    # attached only: embedded, the dashboard hears the records themselves.
    logs: list[tuple[str, bool]] = field(default_factory=list)
    # Attached only, the latest news wins: why the daemon was lost, or that it came
    # back (screens then catch up from the store on what they missed meanwhile).
    lost: str | None = None
    reconnected: bool = False

    @classmethod
    def from_notices(cls, notices: Iterable[Notice]) -> Batch:
        batch = cls()
        events, statuses, execs = batch.events, batch.statuses, batch.executions
        for n in notices:
            kind = n.kind
            if kind == "event":
                events.append(n.payload)
            elif kind == "event_status":
                statuses.append(n.payload)
            elif kind == "execution":
                execs.append(n.payload)
            elif kind == "stats":
                batch.stats = n.payload
            elif kind == "hooks":
                batch.hooks_changed = True
            elif kind == "dropped":
                batch.dropped += int(n.payload)
            elif kind == "shutdown":
                batch.shutdown = str(n.payload)
            elif kind == "log":
                line = _log_line(n.payload)
                if line is not None:
                    batch.logs.append(line)
            elif kind == "disconnected":
                batch.lost, batch.reconnected = str(n.payload), False
            elif kind == "connected":
                batch.lost = None
                batch.reconnected = True
        return batch

    @property
    def news(self) -> bool:
        """Anything besides the engine's figures, which come once a second idle or not."""
        return bool(
            self.events or self.statuses or self.executions or self.hooks_changed
            or self.dropped or self.shutdown or self.lost is not None or self.reconnected
            or self.logs
        )  # fmt: skip

    def __bool__(self) -> bool:
        return self.news or bool(self.stats)


def _log_line(payload: object) -> tuple[str, bool] | None:
    """A `log` notice's (message, is an error); None for one that is not such a notice
    (the daemon is another program, and another version)."""
    if not isinstance(payload, dict) or not isinstance(payload.get("message"), str):
        return None
    # Shown as plain text, its control characters as pictures (SlothApp.notify).
    return payload["message"][:LOG_CHARS], payload.get("level") == "error"


@dataclass
class LiveStats:
    """Running numbers for the top bar and the Stats screen."""

    per_second: dict[int, int] = field(default_factory=dict)
    categories: Counter[str] = field(default_factory=Counter)
    types: Counter[str] = field(default_factory=Counter)
    exec_ok: int = 0
    exec_bad: int = 0
    dropped: int = 0  # notices this dashboard lost (it catches up from the store)
    engine: EngineStats | None = None
    last_event_id: int = 0
    seen: int = 0  # events seen live since the dashboard opened

    def seed(self, counts: dict[str, dict[str, int]]) -> None:
        """Start the per-category/type totals from the store (engine.counts())."""
        self.categories = Counter(counts.get("categories", {}))
        self.types = Counter(counts.get("types", {}))

    def apply(self, batch: Batch) -> None:
        per_second, cats, types = self.per_second, self.categories, self.types
        for ev in batch.events:
            sec = int(ev.ts)
            per_second[sec] = per_second.get(sec, 0) + 1
            cats[ev.category] += 1
            types[ev.type] += 1
        if batch.events:
            self.seen += len(batch.events)
            self.last_event_id = max(self.last_event_id, batch.events[-1].id)
            if len(per_second) > RATE_HISTORY + 60:
                cutoff = max(per_second) - RATE_HISTORY
                for sec in [s for s in per_second if s < cutoff]:
                    del per_second[sec]
        for ex in batch.executions:
            if ex.dry_run:
                continue
            if ex.status in OK_STATUSES:
                self.exec_ok += 1
            else:
                self.exec_bad += 1
        if batch.stats is not None:
            self.engine = batch.stats
        self.dropped += batch.dropped

    def series(self, now: float, seconds: int) -> list[float]:
        """Events per second for the last `seconds` complete seconds, oldest first."""
        end = int(now)
        return [float(self.per_second.get(s, 0)) for s in range(end - seconds, end)]

    def rate(self, now: float, window: int = 5) -> float:
        """Mean events/s over the last `window` complete seconds."""
        return sum(self.series(now, window)) / window

    @property
    def success_rate(self) -> float | None:
        total = self.exec_ok + self.exec_bad
        return None if not total else self.exec_ok / total
