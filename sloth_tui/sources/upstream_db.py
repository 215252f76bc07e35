"""Sloth Runner's hooks.db, read-only: where it is, how to open it, what its rows say.

Shared by the bridge (sources/sloth_runner.py), which follows a live file, and by
`hook import --from-sloth-runner`, which reads its hooks once. Nothing here writes the
file: connections are opened `mode=ro` with `query_only`, so even a bug cannot.
"""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

from sloth_tui.model.errors import SlothError
from sloth_tui.user_path import resolved, user_home, user_path

HOOKS_DB = "hooks.db"
# Upstream's own order (internal/config/paths.go GetDataDir): the variable, when set, is
# the only place; otherwise /etc/sloth-runner, then the user's ~/.sloth-runner, then a
# .sloth-cache in the working directory (its oldest layout, still used by `db query`).
DATA_DIR_VARIABLE = "SLOTH_RUNNER_DATA_DIR"
SYSTEM_DATA_DIR = Path("/etc/sloth-runner")


class UpstreamDBError(SlothError):
    """The upstream database cannot be found, opened or read; one line says why."""


def candidate_dirs(
    environ: Mapping[str, str] | None = None, home: Path | None = None
) -> list[Path]:
    """Where upstream keeps hooks.db, in the order it looks."""
    env = os.environ if environ is None else environ
    override = env.get(DATA_DIR_VARIABLE)
    if override:
        return [user_path(override)]
    home = home if home is not None else user_home()
    mine = [] if home is None else [home / ".sloth-runner"]
    return [SYSTEM_DATA_DIR, *mine, Path(".sloth-cache")]


def locate_hooks_db(
    explicit: str | Path | None = None,
    environ: Mapping[str, str] | None = None,
    home: Path | None = None,
) -> Path:
    """`--db PATH` (a file, or a data dir holding hooks.db), else the first hooks.db of
    candidate_dirs(). Raises UpstreamDBError naming every place looked in."""
    if explicit is not None and str(explicit) != "":
        path = user_path(explicit)
        try:
            return path / HOOKS_DB if path.is_dir() else path
        except OSError as exc:  # a name too long for the file system, say
            raise UpstreamDBError(f"{shown(path)}: {exc.strerror or exc}") from None
    tried = [d / HOOKS_DB for d in candidate_dirs(environ, home)]
    for path in tried:
        if path.is_file():
            return path
    where = ", ".join(str(p) for p in tried)
    raise UpstreamDBError(f"No Sloth Runner hooks.db found (looked at {where}); pass --db PATH")


def shown(path: Path, limit: int = 200) -> str:
    """A path for a one-line message: a hostile 5000-character one is cut."""
    text = str(path)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def open_readonly(path: Path, busy_timeout: float = 5.0) -> sqlite3.Connection:
    """A read-only connection that waits up to `busy_timeout` s on a writer's lock."""
    if not path.exists():
        raise UpstreamDBError(f"{path}: no such file")
    if not path.is_file():
        raise UpstreamDBError(f"{path}: not a file")
    uri = f"file:{quote(str(resolved(path)))}?mode=ro"
    try:
        conn = sqlite3.connect(
            uri, uri=True, timeout=busy_timeout, isolation_level=None, check_same_thread=False
        )
    except sqlite3.Error as exc:
        raise UpstreamDBError(f"{path}: cannot open ({exc})") from None
    try:
        conn.execute("PRAGMA query_only = ON")
        conn.execute("SELECT count(*) FROM sqlite_master").fetchone()
    except sqlite3.Error as exc:
        conn.close()
        raise UpstreamDBError(f"{path}: {describe(exc)}") from None
    return conn


def describe(exc: sqlite3.Error) -> str:
    """SQLite's message as an operator reads it."""
    text = str(exc) or type(exc).__name__
    if "not a database" in text or "malformed" in text:
        return f"not a readable SQLite database ({text})"
    if "locked" in text or "busy" in text:
        return f"locked by a writer ({text})"
    return text


@dataclass(frozen=True, slots=True)
class UpstreamSchema:
    """Which upstream tables and columns a file has: older releases lack some."""

    tables: Mapping[str, frozenset[str]]

    def has(self, table: str, column: str | None = None) -> bool:
        cols = self.tables.get(table)
        return cols is not None and (column is None or column in cols)

    def column(self, table: str, column: str) -> str:
        """The column's name for a SELECT, or NULL when this file's schema predates it."""
        return column if self.has(table, column) else f"NULL AS {column}"


def read_schema(conn: sqlite3.Connection) -> UpstreamSchema:
    names = [row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
    tables = {
        name: frozenset(str(col[1]) for col in conn.execute(f'PRAGMA table_info("{name}")'))
        for name in names
        if '"' not in name
    }
    return UpstreamSchema(tables)


@dataclass(frozen=True, slots=True)
class UpstreamHook:
    """One row of upstream's `hooks` table (times are Unix seconds)."""

    id: str
    name: str
    description: str
    event_type: str
    file_path: str
    stack: str | None
    enabled: bool
    created_at: int
    updated_at: int
    last_run: int | None
    run_count: int


def read_hooks(conn: sqlite3.Connection) -> list[UpstreamHook]:
    """Every registered upstream hook, by name. Raises UpstreamDBError on a file that is
    not upstream's (no hooks table)."""
    schema = read_schema(conn)
    if not schema.has("hooks"):
        raise UpstreamDBError("not a Sloth Runner hooks.db: it has no hooks table")
    for column in ("id", "name", "event_type", "file_path"):
        if not schema.has("hooks", column):
            raise UpstreamDBError(
                f"not a Sloth Runner hooks.db: its hooks table has no {column} column"
            )
    col = schema.column
    sql = (
        f"SELECT id, name, {col('hooks', 'description')}, event_type, file_path, "
        f"{col('hooks', 'stack')}, {col('hooks', 'enabled')}, {col('hooks', 'created_at')}, "
        f"{col('hooks', 'updated_at')}, {col('hooks', 'last_run')}, "
        f"{col('hooks', 'run_count')} FROM hooks ORDER BY name"
    )
    try:
        rows = conn.execute(sql).fetchall()
    except sqlite3.Error as exc:
        raise UpstreamDBError(describe(exc)) from None
    return [
        UpstreamHook(
            id=str(r[0]),
            name=str(r[1]),
            description=str(r[2] or ""),
            event_type=str(r[3]),
            file_path=str(r[4]),
            stack=str(r[5]) if r[5] else None,
            enabled=r[6] is None or bool(r[6]),
            created_at=int(r[7] or 0),
            updated_at=int(r[8] or 0),
            last_run=int(r[9]) if r[9] is not None else None,
            run_count=int(r[10] or 0),
        )
        for r in rows
    ]


# Upstream's schema as its source creates it (internal/hooks/repository.go and
# event_queue.go): tests build real files with it, and `bridge --help` cites it.
UPSTREAM_SCHEMA = """
CREATE TABLE IF NOT EXISTS hooks (
    id TEXT PRIMARY KEY, name TEXT UNIQUE NOT NULL, description TEXT,
    event_type TEXT NOT NULL, file_path TEXT NOT NULL, stack TEXT,
    enabled INTEGER DEFAULT 1, created_at INTEGER NOT NULL, updated_at INTEGER NOT NULL,
    last_run INTEGER, run_count INTEGER DEFAULT 0
);
CREATE TABLE IF NOT EXISTS hook_executions (
    id INTEGER PRIMARY KEY AUTOINCREMENT, hook_id TEXT NOT NULL, success INTEGER NOT NULL,
    output TEXT, error TEXT, duration_ms INTEGER NOT NULL, executed_at INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS events (
    id TEXT PRIMARY KEY, type TEXT NOT NULL, data TEXT NOT NULL,
    status TEXT DEFAULT 'pending', error TEXT, timestamp INTEGER NOT NULL,
    created_at INTEGER NOT NULL, processed_at INTEGER, stack TEXT, agent TEXT, run_id TEXT
);
CREATE INDEX IF NOT EXISTS idx_events_created_at ON events(created_at);
CREATE TABLE IF NOT EXISTS event_hook_executions (
    id INTEGER PRIMARY KEY AUTOINCREMENT, event_id TEXT NOT NULL, hook_id TEXT NOT NULL,
    hook_name TEXT NOT NULL, success INTEGER NOT NULL, output TEXT, error TEXT,
    duration_ms INTEGER NOT NULL, executed_at INTEGER NOT NULL
);
"""
