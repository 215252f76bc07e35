"""`event trace`: the tree an event belongs to, read from the store in SQL.

From the event asked for, parent_id is followed up to the root (or to the oldest
ancestor still stored, when trimming or a delete cut the chain), then the tree is read
down one level at a time: each level's real runs and stored children in two queries per
500 events. A child belongs under the run whose calls name its id (event.dispatch or
event.dispatch_custom); a child no stored run claims hangs under its event.

The walk runs whole in the store's reader thread (one hop, one read transaction: the
tree is one consistent snapshot even while hooks keep dispatching). It draws at most
MAX_NODES events and runs; past that it only counts, up to COUNT_CAP. The way from the
root to the event asked for is always drawn, so the asked node is never the one cut.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from sloth_tui.engine.store import Store
from sloth_tui.model.errors import NotFound
from sloth_tui.model.trace import ERROR_CHARS, MAX_NODES, Trace, TraceEvent, TraceRun, clip

DISPATCH_FNS = frozenset({"event.dispatch", "event.dispatch_custom"})
CHUNK = 500  # ids per IN (...): well under SQLite's variable limit
COUNT_CAP = 100_000  # nodes past the drawn ones are counted up to here, then "at least"

_EVENT_SQL = "SELECT id, type, status, source, ts, parent_id FROM events"
_RUN_SQL = (
    "SELECT id, hook, event_id, status, started, duration_ms, error, calls, trigger, "
    "attempt, origin FROM executions WHERE dry_run = 0"
)


@dataclass(slots=True)
class _Event:
    id: int
    type: str
    status: str
    source: str
    ts: float
    parent_id: int | None


@dataclass(slots=True)
class _Run:
    id: int
    hook: str
    event_id: int
    status: str
    started: float
    duration_ms: float
    error: str | None
    dispatched: list[int]  # the ids its calls name, in call order
    trigger: str
    attempt: int
    origin: str | None
    kids: list[int] = field(default_factory=list)  # the drawn children it claims


async def trace_event(store: Store, event_id: int) -> Trace:
    trace: Trace = await store.run_readonly(lambda conn: read_trace(conn, event_id))
    return trace


def read_trace(
    conn: sqlite3.Connection, event_id: int, max_nodes: int = MAX_NODES, count_cap: int = COUNT_CAP
) -> Trace:
    """The trace of `event_id`, read on `conn` in one read transaction."""
    began = not conn.in_transaction
    if began:
        conn.execute("BEGIN")
    try:
        return _Walk(conn, max_nodes, count_cap).trace(event_id)
    finally:
        if began:
            conn.execute("ROLLBACK")


def _event(row: Sequence[Any]) -> _Event:
    return _Event(row[0], str(row[1]), str(row[2]), str(row[3]), float(row[4]), row[5])


def _run(row: Sequence[Any]) -> _Run:
    return _Run(
        id=row[0],
        hook=str(row[1]),
        event_id=row[2],
        status=str(row[3]),
        started=float(row[4]),
        duration_ms=float(row[5] or 0.0),
        error=None if row[6] is None else clip(str(row[6]), ERROR_CHARS),
        dispatched=_dispatched(row[7]),
        trigger=row[8] or "event",
        attempt=row[9] or 1,
        origin=row[10],
    )


def _dispatched(calls_json: str | None) -> list[int]:
    """The event ids a run's calls say it dispatched; a damaged calls column is none."""
    try:
        calls = json.loads(calls_json or "[]")
    except ValueError:
        return []
    if not isinstance(calls, list):
        return []
    return [
        c["id"]
        for c in calls
        if isinstance(c, dict)
        and c.get("fn") in DISPATCH_FNS
        and isinstance(c.get("id"), int)
        and not c.get("dry_run")
    ]


def _chunks(ids: Sequence[int]) -> Iterable[Sequence[int]]:
    for start in range(0, len(ids), CHUNK):
        yield ids[start : start + CHUNK]


class _Walk:
    def __init__(self, conn: sqlite3.Connection, max_nodes: int, count_cap: int) -> None:
        self.conn = conn
        self.max_nodes = max_nodes
        self.count_cap = count_cap
        self.events: dict[int, _Event] = {}  # the drawn events
        self.runs: dict[int, list[_Run]] = {}  # event id -> its drawn runs
        self.loose: dict[int, list[int]] = {}  # event id -> drawn children no run claims
        self.shown = 0
        self.omitted = 0
        self.cut: list[int] = []  # events not drawn, whose descendants are still counted

    def _rows(self, sql: str, params: Sequence[Any]) -> list[Any]:
        return self.conn.execute(sql, params).fetchall()

    def _get(self, event_id: int) -> _Event | None:
        rows = self._rows(f"{_EVENT_SQL} WHERE id = ?", [event_id])
        return _event(rows[0]) if rows else None

    # -- up ---------------------------------------------------------------------------

    def _ancestors(self, asked: _Event) -> tuple[list[_Event], int | None]:
        """The way from the asked event up to the root, root last; and the id of the
        root's parent when that one is no longer stored."""
        path = [asked]
        seen = {asked.id}
        while path[-1].parent_id is not None:
            parent_id = path[-1].parent_id
            if parent_id in seen:  # a loop in damaged data: stop where it closes
                break
            parent = self._get(parent_id)
            if parent is None:
                return path, parent_id
            path.append(parent)
            seen.add(parent.id)
        return path, None

    # -- down -------------------------------------------------------------------------

    def _level(self, ids: list[int]) -> tuple[dict[int, list[_Run]], dict[int, list[_Event]]]:
        runs: dict[int, list[_Run]] = {i: [] for i in ids}
        kids: dict[int, list[_Event]] = {i: [] for i in ids}
        for chunk in _chunks(ids):
            marks = ", ".join("?" * len(chunk))
            # In the order they started: a slow run stored first does not come first.
            sql = f"{_RUN_SQL} AND event_id IN ({marks}) ORDER BY started, id"
            for row in self._rows(sql, chunk):
                runs[row[2]].append(_run(row))
            for row in self._rows(f"{_EVENT_SQL} WHERE parent_id IN ({marks}) ORDER BY id", chunk):
                kids[row[5]].append(_event(row))
        return runs, kids

    def _take(self, forced: bool) -> bool:
        """Whether one more node is drawn (always, on the way to the asked event)."""
        if forced or self.shown < self.max_nodes:
            self.shown += 1
            return True
        self.omitted += 1
        return False

    def _descend(self, root: _Event, path_ids: set[int]) -> None:
        self.events[root.id] = root
        self.shown = 1
        level = [root.id]
        while level:
            runs, kids = self._level(level)
            next_level: list[int] = []
            for eid in level:
                by_id = {k.id: k for k in kids[eid] if k.id not in self.events}
                claimed: set[int] = set()
                drawn_runs: list[_Run] = []
                for run in runs[eid]:
                    mine = [i for i in run.dispatched if i in by_id and i not in claimed]
                    claimed.update(mine)
                    if not self._take(forced=bool(path_ids.intersection(mine))):
                        self._cut(by_id[i] for i in mine)
                        continue
                    drawn_runs.append(run)
                    for kid_id in mine:
                        if self._take(forced=kid_id in path_ids):
                            run.kids.append(kid_id)
                            self.events[kid_id] = by_id[kid_id]
                            next_level.append(kid_id)
                        else:
                            self.cut.append(kid_id)
                self.runs[eid] = drawn_runs
                loose = [k for i, k in by_id.items() if i not in claimed]
                self.loose[eid] = []
                for kid in loose:
                    if self._take(forced=kid.id in path_ids):
                        self.loose[eid].append(kid.id)
                        self.events[kid.id] = kid
                        next_level.append(kid.id)
                    else:
                        self.cut.append(kid.id)
            level = next_level

    def _cut(self, kids: Iterable[_Event]) -> None:
        """The children of a run not drawn are not drawn either: counted, as theirs."""
        for kid in kids:
            self.omitted += 1
            self.cut.append(kid.id)

    def _count_cut(self) -> bool:
        """Add the descendants of the events not drawn (their runs and children) to
        `omitted`; True when the count stopped at COUNT_CAP."""
        level = self.cut
        while level and self.omitted < self.count_cap:
            next_level: list[int] = []
            for chunk in _chunks(level):
                marks = ", ".join("?" * len(chunk))
                runs = self._rows(
                    f"SELECT COUNT(*) FROM executions WHERE dry_run = 0 AND event_id IN ({marks})",
                    chunk,
                )
                self.omitted += int(runs[0][0])
                kids = self._rows(f"SELECT id FROM events WHERE parent_id IN ({marks})", chunk)
                next_level += [r[0] for r in kids]
            self.omitted += len(next_level)
            level = next_level
        return bool(level)

    # -- the tree -----------------------------------------------------------------------

    def trace(self, event_id: int) -> Trace:
        asked = self._get(event_id)
        if asked is None:
            raise NotFound(f"no event with id {event_id}")
        path, missing = self._ancestors(asked)
        root = path[-1]
        self._descend(root, {e.id for e in path})
        more = self._count_cut()
        return Trace(
            root_id=root.id,
            asked_id=event_id,
            root=self._build(root.id, root.ts),
            root_ts=root.ts,
            missing_parent=missing,
            shown=self.shown,
            omitted=min(self.omitted, self.count_cap) if more else self.omitted,
            omitted_more=more,
        )

    def _build(self, root_id: int, t0: float) -> TraceEvent:
        """The drawn events as TraceEvents, deepest first, so each is built after its
        children (no recursion: a damaged store's chain can be long)."""
        order: list[int] = []
        stack = [root_id]
        while stack:
            eid = stack.pop()
            order.append(eid)
            stack += [k for r in self.runs.get(eid, []) for k in r.kids]
            stack += self.loose.get(eid, [])
        built: dict[int, TraceEvent] = {}
        for eid in reversed(order):
            ev = self.events[eid]
            built[eid] = TraceEvent(
                id=ev.id,
                type=ev.type,
                status=ev.status,
                source=ev.source,
                offset=ev.ts - t0,
                runs=tuple(self._trace_run(r, built, t0) for r in self.runs.get(eid, [])),
                children=tuple(built[k] for k in self.loose.get(eid, [])),
            )
        return built[root_id]

    @staticmethod
    def _trace_run(run: _Run, built: dict[int, TraceEvent], t0: float) -> TraceRun:
        return TraceRun(
            hook=run.hook,
            status=run.status,
            offset=run.started - t0,
            duration_ms=run.duration_ms,
            trigger=run.trigger,
            attempt=run.attempt,
            id=run.id,
            error=run.error,
            origin=run.origin,
            children=tuple(built[k] for k in run.kids),
        )
