"""A real Sloth Runner hooks.db for the bridge tests, written the way upstream writes it.

Upstream (internal/hooks/event_queue.go) opens the file with go-sqlite3's defaults (a
rollback journal, autocommit inserts) and stores Unix seconds; `wal=True` makes the
other layout a master can have. Rows are inserted one statement at a time, committed
at once, as upstream's EnqueueEvent and RecordEventHookExecution do.
"""

from __future__ import annotations

import json
import sqlite3
import time
import uuid
from pathlib import Path
from typing import Any

from sloth_tui.sources.upstream_db import UPSTREAM_SCHEMA

# Upstream's oldest layout: events without the stack/agent/run_id columns it added later,
# and no event_hook_executions table yet.
OLD_SCHEMA = """
CREATE TABLE events (
    id TEXT PRIMARY KEY, type TEXT NOT NULL, data TEXT NOT NULL,
    status TEXT DEFAULT 'pending', error TEXT, timestamp INTEGER NOT NULL,
    created_at INTEGER NOT NULL, processed_at INTEGER
);
"""


class UpstreamDB:
    def __init__(self, path: Path, *, wal: bool = False, schema: str = UPSTREAM_SCHEMA) -> None:
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        self.conn = sqlite3.connect(path, isolation_level=None, timeout=30)
        # Upstream syncs each commit; the tests need the locking, not the durability of
        # this scratch file, and a sync per row made the writer 10x slower.
        self.conn.execute("PRAGMA synchronous=OFF")
        if wal:
            self.conn.execute("PRAGMA journal_mode=WAL")
        self.conn.executescript(schema)
        self.seq = 0

    def close(self) -> None:
        self.conn.close()

    def event(
        self,
        type_: str = "task.completed",
        data: dict[str, Any] | None = None,
        *,
        created_at: int | None = None,
        status: str = "completed",
        uid: str | None = None,
        stack: str | None = "prod",
        agent: str | None = "web-1",
        run_id: str | None = "run-1",
    ) -> str:
        self.seq += 1
        uid = uid or str(uuid.uuid4())
        created = int(time.time()) if created_at is None else created_at
        payload = (
            data if data is not None else {"task": {"task_name": f"t{self.seq}", "seq": self.seq}}
        )
        cols = [r[1] for r in self.conn.execute("PRAGMA table_info(events)")]
        values: dict[str, Any] = {
            "id": uid,
            "type": type_,
            "data": json.dumps(payload),
            "status": status,
            "timestamp": created,
            "created_at": created,
        }
        if "stack" in cols:
            values.update(stack=stack, agent=agent, run_id=run_id)
        names = ", ".join(values)
        marks = ", ".join("?" * len(values))
        self.conn.execute(f"INSERT INTO events ({names}) VALUES ({marks})", tuple(values.values()))
        return uid

    def run(
        self,
        event_id: str,
        hook: str = "notify",
        *,
        success: bool = True,
        output: str = "sent",
        error: str | None = None,
        executed_at: int | None = None,
    ) -> int:
        cur = self.conn.execute(
            "INSERT INTO event_hook_executions (event_id, hook_id, hook_name, success, output, "
            "error, duration_ms, executed_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (
                event_id,
                f"id-{hook}",
                hook,
                int(success),
                output,
                error,
                7,
                int(time.time()) if executed_at is None else executed_at,
            ),
        )
        return int(cur.lastrowid or 0)

    def set_status(self, uid: str, status: str) -> None:
        self.conn.execute(
            "UPDATE events SET status = ?, processed_at = ? WHERE id = ?",
            (status, int(time.time()), uid),
        )

    def ids(self) -> list[str]:
        return [r[0] for r in self.conn.execute("SELECT id FROM events")]


def mirrored_rows(home: Path) -> list[tuple[str, str, float]]:
    """(type, data, ts) of every bridged event in a sloth-tui store, sorted."""
    conn = sqlite3.connect(f"file:{home / 'sloth.db'}?mode=ro", uri=True, timeout=10)
    try:
        return sorted(
            conn.execute(
                "SELECT type, data, ts FROM events WHERE source = 'sloth-runner'"
            ).fetchall()
        )
    finally:
        conn.close()


def upstream_rows(path: Path) -> list[tuple[str, str, float]]:
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=10)
    try:
        return sorted(
            (t, json.dumps(json.loads(d), separators=(",", ":"), ensure_ascii=False), float(ts))
            for t, d, ts in conn.execute("SELECT type, data, timestamp FROM events")
        )
    finally:
        conn.close()
