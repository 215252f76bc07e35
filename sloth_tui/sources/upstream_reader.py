"""Reading a live Sloth Runner hooks.db for the bridge: new rows after a cursor.

Blocking SQLite reads (the bridge runs them in a worker thread). Nothing here writes the
file. Upstream's events are not ordered by id (UUIDs) and `created_at` has one-second
resolution, so the cursor is the pair (created_at, id) of the last row taken, read in
that order. A row whose insert committed late (its created_at was taken before a busy
wait) can land behind the cursor: a second scan re-reads the last `lookback` seconds and
keeps the rows not seen yet. The engine stores each row's key once, so re-reading is
always safe; the scans only keep it cheap.
"""

from __future__ import annotations

import json
import os
import sqlite3
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sloth_tui.model.mirror import ForeignEvent, ForeignExecution
from sloth_tui.model.rules import MAX_DATA_BYTES
from sloth_tui.sources.upstream_db import (
    UpstreamDBError,
    UpstreamSchema,
    describe,
    open_readonly,
    read_schema,
)

SOURCE = "sloth-runner"
EVENT_KEY = "sloth-runner:event:"
RUN_KEY = "sloth-runner:run:"
OPEN_STATUSES = frozenset({"pending", "processing"})


def event_key(upstream_id: str) -> str:
    return EVENT_KEY + upstream_id


def run_key(event_id: str, hook_id: str, run_id: int) -> str:
    # The event's UUID and the hook's make the key survive a file replaced by a fresh
    # one (whose autoincrement ids start again at 1); a restored copy keeps all three.
    return f"{RUN_KEY}{event_id}:{hook_id}:{run_id}"


@dataclass(slots=True)
class Cursor:
    """Where the bridge resumes; stored by the engine with the rows it covers."""

    file: str = ""  # "dev:inode" of the file the positions belong to
    ts: int = 0  # created_at of the last event taken
    id: str = ""  # and its id (the order is created_at, then id)
    run: int = 0  # the last event_hook_executions id taken

    def dumps(self) -> str:
        return json.dumps(
            {"v": 1, "file": self.file, "ts": self.ts, "id": self.id, "run": self.run}
        )

    @classmethod
    def loads(cls, text: str | None) -> Cursor:
        """A stored cursor; anything unreadable starts from the beginning (keys dedupe)."""
        if not text:
            return cls()
        try:
            raw = json.loads(text)
            return cls(str(raw["file"]), int(raw["ts"]), str(raw["id"]), int(raw["run"]))
        except (ValueError, KeyError, TypeError):
            return cls()


@dataclass(slots=True)
class Page:
    """One read: rows in cursor order and the cursor after each."""

    events: list[tuple[ForeignEvent, Cursor]] = field(default_factory=list)
    late: list[ForeignEvent] = field(default_factory=list)  # committed behind the cursor
    runs: list[tuple[ForeignExecution, int]] = field(default_factory=list)  # (run, its id)
    more: bool = False  # a scan stopped at its limit: read again at once
    newest: int = 0  # the newest created_at upstream (lag = newest - cursor.ts)


def fingerprint(path: Path) -> str:
    st = os.stat(path)
    return f"{st.st_dev}:{st.st_ino}"


def event_data(text: Any) -> dict[str, Any]:
    """Upstream's data column as an event's data: kept as it comes when it is a JSON
    object within the size limit; otherwise wrapped, so the event is still shown."""
    if not isinstance(text, str):
        text = "" if text is None else str(text)
    try:
        value = json.loads(text)
    except (ValueError, RecursionError):
        return {"raw": text[:4096], "bridge_note": "upstream data is not JSON"}
    if not isinstance(value, dict):
        return {"value": value}
    if len(text.encode("utf-8", "replace")) > MAX_DATA_BYTES:
        return {
            "bridge_note": f"upstream data of {len(text)} characters exceeds the "
            f"{MAX_DATA_BYTES // 1024} KiB limit; read it in Sloth Runner's database"
        }
    return value


def _text(value: Any) -> str | None:
    if value is None or value == "":
        return None
    return str(value)


class UpstreamReader:
    """One open hooks.db: reopens when the file is replaced, reads pages after a cursor."""

    def __init__(
        self, path: Path, *, page: int = 500, lookback: int = 10, busy_timeout: float = 5.0
    ) -> None:
        self.path = path
        self.busy_timeout = busy_timeout
        self.page = page
        self.lookback = lookback
        self.conn: sqlite3.Connection | None = None
        self.file = ""
        self.schema = UpstreamSchema({})
        # Events taken at or after cursor.ts - lookback: id -> created_at.
        self.seen: dict[str, int] = {}

    # -- the file ------------------------------------------------------------------

    def ensure_open(self) -> bool:
        """Open (or reopen a replaced file). True when the file is not the one the last
        call had open: the caller then checks its cursor against `self.file`."""
        try:
            current = fingerprint(self.path)
        except FileNotFoundError:
            self.close()
            raise UpstreamDBError(f"{self.path}: no such file") from None
        except OSError as exc:
            self.close()
            raise UpstreamDBError(f"{self.path}: {exc.strerror or exc}") from None
        if self.conn is not None and current == self.file:
            return False
        self.close()
        self.conn = open_readonly(self.path, self.busy_timeout)
        self.file = current
        self.seen.clear()
        try:
            self.schema = read_schema(self.conn)
        except sqlite3.Error as exc:
            self.close()
            raise UpstreamDBError(f"{self.path}: {describe(exc)}") from None
        return True

    def close(self) -> None:
        if self.conn is not None:
            self.conn.close()
            self.conn = None

    def interrupt(self) -> None:
        """From another thread: end a read waiting on a writer's lock (at stop)."""
        conn = self.conn
        if conn is not None:
            conn.interrupt()

    # -- reading -------------------------------------------------------------------

    def _rows(self, sql: str, params: tuple[Any, ...] = ()) -> list[Any]:
        assert self.conn is not None
        try:
            return self.conn.execute(sql, params).fetchall()
        except sqlite3.Error as exc:
            raise UpstreamDBError(f"{self.path}: {describe(exc)}") from None

    def _event_select(self) -> str:
        col = self.schema.column
        return (
            "SELECT id, type, data, status, timestamp, created_at, "
            f"{col('events', 'stack')}, {col('events', 'agent')}, {col('events', 'run_id')} "
            "FROM events"
        )

    def _event(self, row: Any) -> tuple[ForeignEvent, int]:
        uid, type_, data, status, timestamp, created_at, stack, agent, run_id = row
        created = int(created_at or 0)
        foreign = ForeignEvent(
            key=event_key(str(uid)),
            type=str(type_),
            data=event_data(data),
            ts=float(timestamp or created),
            status=str(status or "pending"),
            stack=_text(stack),
            agent=_text(agent),
            run_id=_text(run_id),
        )
        return foreign, created

    def check_schema(self) -> None:
        if not self.schema.has("events"):
            # Upstream creates its tables on first use: a fresh file may not have them yet.
            self.schema = read_schema(self.conn) if self.conn is not None else self.schema
            if not self.schema.has("events"):
                raise UpstreamDBError(
                    f"{self.path}: not a Sloth Runner hooks.db yet (no events table)"
                )

    def read(self, cursor: Cursor) -> Page:
        """New events after the cursor, late ones behind it, runs after cursor.run."""
        self.check_schema()
        page = Page()
        # Keyset order: one page, then the next from its last (created_at, id).
        rows = self._rows(
            self._event_select() + " WHERE created_at > ? OR (created_at = ? AND id > ?) "
            "ORDER BY created_at, id LIMIT ?",
            (cursor.ts, cursor.ts, cursor.id, self.page),
        )
        after = Cursor(cursor.file, cursor.ts, cursor.id, cursor.run)
        for row in rows:
            foreign, created = self._event(row)
            after = Cursor(after.file, created, str(row[0]), after.run)
            page.events.append((foreign, after))
        page.more = len(rows) >= self.page
        page.late = self._late(cursor)
        if self.schema.has("event_hook_executions"):
            page.runs = self._runs(cursor.run)
            page.more = page.more or len(page.runs) >= self.page
        page.newest = self.newest()
        return page

    def newest(self) -> int:
        """The newest created_at upstream (0 for none)."""
        self.check_schema()
        rows = self._rows("SELECT max(created_at) FROM events")
        return int(rows[0][0] or 0) if rows else 0

    def _late(self, cursor: Cursor) -> list[ForeignEvent]:
        """Rows behind the cursor, within the lookback, that were not taken yet."""
        low = cursor.ts - self.lookback
        for uid in [u for u, ts in self.seen.items() if ts < low]:
            del self.seen[uid]
        ids = self._rows(
            "SELECT id FROM events WHERE created_at >= ? AND "
            "(created_at < ? OR (created_at = ? AND id <= ?))",
            (low, cursor.ts, cursor.ts, cursor.id),
        )
        unseen = [str(r[0]) for r in ids if str(r[0]) not in self.seen]
        return self.events_by_id(unseen)

    def events_by_id(self, ids: list[str]) -> list[ForeignEvent]:
        found: list[ForeignEvent] = []
        for start in range(0, len(ids), 500):
            chunk = ids[start : start + 500]
            marks = ",".join("?" * len(chunk))
            rows = self._rows(self._event_select() + f" WHERE id IN ({marks})", tuple(chunk))
            found.extend(self._event(row)[0] for row in rows)
        return found

    def _runs(self, after: int) -> list[tuple[ForeignExecution, int]]:
        rows = self._rows(
            "SELECT id, event_id, hook_id, hook_name, success, output, error, duration_ms, "
            "executed_at FROM event_hook_executions WHERE id > ? ORDER BY id LIMIT ?",
            (after, self.page),
        )
        runs = []
        for rid, event_id, hook_id, hook_name, success, output, error, duration, executed in rows:
            duration_ms = float(duration or 0)
            runs.append(
                (
                    ForeignExecution(
                        key=run_key(str(event_id), str(hook_id), int(rid)),
                        event_key=event_key(str(event_id)),
                        hook=str(hook_name),
                        success=bool(success),
                        # Upstream records the run when it ends.
                        started=float(executed or 0) - duration_ms / 1000,
                        duration_ms=duration_ms,
                        output=str(output or ""),
                        error=_text(error),
                    ),
                    int(rid),
                )
            )
        return runs

    def statuses(self, ids: list[str]) -> dict[str, str]:
        """Upstream's current status of these events (those still there)."""
        out: dict[str, str] = {}
        for start in range(0, len(ids), 500):
            chunk = ids[start : start + 500]
            marks = ",".join("?" * len(chunk))
            for uid, status in self._rows(
                f"SELECT id, status FROM events WHERE id IN ({marks})", tuple(chunk)
            ):
                out[str(uid)] = str(status or "pending")
        return out

    def recent_open(self, since: int) -> list[str]:
        """Events created since `since` (a restart sweeps them once for status changes)."""
        return [
            str(r[0]) for r in self._rows("SELECT id FROM events WHERE created_at >= ?", (since,))
        ]

    def max_run_id(self) -> int:
        if not self.schema.has("event_hook_executions"):
            return 0
        rows = self._rows("SELECT max(id) FROM event_hook_executions")
        return int(rows[0][0] or 0) if rows else 0
