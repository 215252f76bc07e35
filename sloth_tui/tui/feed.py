"""The Events screen's model: a capped, filtered window of events, oldest first.

Live events are appended from tick batches; older ones are paged in from the
store on demand. Following, the window is trimmed to `cap` rows. Paused, rows
keep arriving below the viewport (counted as "+N new") up to a hard bound; past
it the window stops at a gap and resuming reloads the tail from the store, so
nothing is lost, only left in the store. No widgets and no I/O here: the screen
awaits the engine and hands results to `finish_load` / `prepend`.
"""

from __future__ import annotations

import bisect
from collections.abc import Iterable
from dataclasses import dataclass, field
from itertools import islice

from sloth_tui.model.filters import Filter
from sloth_tui.model.records import OK_STATUSES, Event
from sloth_tui.tui.live import Batch

DEFAULT_CAP = 10_000
PAGE = 500  # rows per page fetched from the store when scrolling back
OPEN_STATUSES = frozenset({"pending", "processing"})


@dataclass(slots=True)
class Marks:
    """Hook outcomes of one event: `✓ok ✗bad`, and which hooks ran (for `hook:NAME`)."""

    ok: int = 0
    bad: int = 0
    hooks: list[str] = field(default_factory=list)
    loaded: bool = True  # False while a lazy fetch from the store is in flight

    def add(self, hook: str, status: str) -> None:
        if status in OK_STATUSES:
            self.ok += 1
        else:
            self.bad += 1
        self.hooks.append(hook)


def _id(ev: Event) -> int:
    return ev.id


class EventFeed:
    def __init__(self, cap: int = DEFAULT_CAP) -> None:
        self.cap = cap
        self.rows: list[Event] = []
        self.flt = Filter()
        self.following = True
        self.new_count = 0  # matching events that arrived while paused
        self.at_tail = True  # rows end with the newest matching event
        self.has_older = False  # the store may hold older matching events
        self.total: int | None = None  # matching events in the store (None: not counted yet)
        self.marks: dict[int, Marks] = {}
        self.undecided: dict[int, Event] = {}  # live events whose match waits for their hooks
        self.loading = False
        self.needs_reload = False  # notices were dropped: the tail must come from the store
        self.version = 0  # bumped on every change the table may need to show
        self._held: list[Event] = []  # live matches that arrived while a load was running
        self._deferred = False  # the filter looks at status or hooks: decide at the end

    # -- live ------------------------------------------------------------------

    def ingest(self, batch: Batch) -> bool:
        """Apply one tick's notices; True when the table may need a redraw."""
        changed = False
        marks = self.marks
        for ev in batch.events:
            marks[ev.id] = Marks()
        for ex in batch.executions:
            if not ex.dry_run and (m := marks.get(ex.event_id)) is not None:
                m.add(ex.hook, ex.status)
                changed = True
        flt = self.flt
        if not flt:
            matched = batch.events
        else:
            matched = []
            for ev in batch.events:
                if self._deferred and ev.status in OPEN_STATUSES:
                    self.undecided[ev.id] = ev
                elif flt.matches(ev, marks[ev.id].hooks):
                    matched.append(ev)
        late: list[Event] = []
        for ev in batch.statuses:
            decided = self.undecided.pop(ev.id, None)
            if decided is not None:
                m = marks.get(ev.id)
                if flt.matches(ev, m.hooks if m else ()):
                    late.append(ev)
            elif self._replace(ev):
                changed = True
        if len(self.undecided) > 5 * self.cap:  # their statuses were lost: stop waiting
            for key in list(islice(self.undecided, self.cap)):
                del self.undecided[key]
        if late:
            matched = sorted([*matched, *late], key=_id)
        if matched:
            self._add(matched)
            changed = True
        if batch.dropped:
            self.at_tail = False
            self.needs_reload = self.following
            changed = True
        if len(marks) > 4 * self.cap:
            for key in list(islice(marks, len(marks) - 2 * self.cap)):
                del marks[key]
        if changed:
            self.version += 1
        return changed

    def _replace(self, ev: Event) -> bool:
        """A row's status changed (in process it is the same object; attached, a copy)."""
        rows = self.rows
        i = bisect.bisect_left(rows, ev.id, key=_id)
        if i < len(rows) and rows[i].id == ev.id:
            if rows[i] is not ev:
                rows[i] = ev
            return True
        return False

    def _add(self, events: list[Event]) -> None:
        events = sorted(events, key=_id)
        if self.total is not None:
            self.total += len(events)
        if self.loading:
            self._held.extend(events)
            return
        if not self.following:
            self.new_count += len(events)
            if not self.at_tail:
                return
            if len(self.rows) + len(events) > 3 * self.cap:
                self.at_tail = False  # a gap from here: resuming reloads the tail
                return
        rows = self.rows
        if rows and events[0].id <= rows[-1].id:
            # Out of id order (concurrent producers), or already loaded: a page read from
            # the store can include events whose notices are still waiting for this tick.
            for ev in events:
                i = bisect.bisect_left(rows, ev.id, key=_id)
                if i == len(rows) or rows[i].id != ev.id:
                    rows.insert(i, ev)
                elif self.total is not None:
                    self.total -= 1
        else:
            rows.extend(events)
        if self.following and len(rows) > self.cap:
            del rows[: len(rows) - self.cap]
            self.has_older = True

    # -- follow / pause ------------------------------------------------------------

    def pause(self) -> None:
        if self.following:
            self.following = False
            self.new_count = 0
            self.version += 1

    def resume(self) -> bool:
        """Follow the tail again; True when the tail must first be reloaded from the store."""
        self.following = True
        self.new_count = 0
        self.version += 1
        if not self.at_tail:
            return True
        if len(self.rows) > self.cap:
            del self.rows[: len(self.rows) - self.cap]
            self.has_older = True
        return False

    # -- loading from the store -------------------------------------------------------

    def set_filter(self, flt: Filter) -> None:
        """Switch filters; live matches are held until `finish_load` brings the history."""
        self.flt = flt
        self._deferred = any(t.kind in ("status", "hook") for t in flt.terms)
        self.undecided.clear()
        self.begin_load()

    def begin_load(self) -> None:
        self.loading = True
        self._held = []
        self.version += 1

    def finish_load(self, newest_first: list[Event], total: int | None, limit: int) -> None:
        """Replace the rows with a page from the store (+ live matches that came meanwhile)."""
        rows = newest_first[::-1]
        last = rows[-1].id if rows else 0
        extra = [ev for ev in self._held if ev.id > last]
        rows.extend(sorted(extra, key=_id))
        self.rows = rows[-self.cap :]
        self.has_older = len(newest_first) >= limit or len(rows) > self.cap
        self.total = None if total is None else total + len(extra)
        self.at_tail = True
        self.loading = False
        self.needs_reload = False
        self._held = []
        self.version += 1

    def merge(self, oldest_first: list[Event]) -> None:
        """Events read from the store after the last row (a reconnect's catch-up): placed in
        id order like live ones; those already shown are not added twice."""
        if oldest_first:
            self._add(oldest_first)
            self.version += 1

    def prepend(self, newest_first: list[Event], limit: int) -> int:
        """Older rows from the store go on top; returns how many were added."""
        first = self.rows[0].id if self.rows else None
        older = [ev for ev in reversed(newest_first) if first is None or ev.id < first]
        self.has_older = len(newest_first) >= limit
        if older:
            self.rows[:0] = older
            if len(self.rows) > 3 * self.cap:  # bound memory: let go of the tail instead
                del self.rows[3 * self.cap :]
                self.at_tail = False
            self.version += 1
        return len(older)

    def set_marks(self, event_id: int, outcomes: Iterable[tuple[str, str]]) -> None:
        """(hook, status) of real runs read from the store; live notices, once seen, know
        better (the store's copy lags by a group commit), so only a placeholder is replaced."""
        current = self.marks.get(event_id)
        if current is not None and current.loaded:
            return
        m = Marks()
        for hook, status in outcomes:
            m.add(hook, status)
        self.marks[event_id] = m
        self.version += 1

    def missing_marks(self, events: Iterable[Event]) -> list[int]:
        """Rows from the store whose hook outcomes are not known yet (placeholders are set)."""
        out = []
        for ev in events:
            if ev.id not in self.marks:
                self.marks[ev.id] = Marks(loaded=False)
                out.append(ev.id)
        return out

    # -- lookups ------------------------------------------------------------------

    def index_of(self, event_id: int) -> int:
        """Index of the row with this id, or of the first row after it."""
        return bisect.bisect_left(self.rows, event_id, key=_id)

    def __len__(self) -> int:
        return len(self.rows)
