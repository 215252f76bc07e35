"""SQLite storage: schema migrations, group-committed writes, queries.

Two connections: a writer owned by one task that batches every write into a
single transaction per round (group commit), and a reader for queries, so a
slow query never holds up ingest (WAL lets them run side by side). Each is a plain
sqlite3 connection on a thread of its own (sqlite_thread.py).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import itertools
import json
import logging
import re
import sqlite3
import time
from collections import deque
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, Concatenate, ParamSpec, Protocol, TypeVar
from urllib.parse import quote

from sloth_tui.engine import store_faults
from sloth_tui.engine.filter_sql import filter_sql, register_sql_functions, text_index_match
from sloth_tui.engine.held_writes import HeldWrites
from sloth_tui.engine.private import create_private_file, make_private_dir
from sloth_tui.engine.rows import (
    EXEC_COLUMNS,
    HOOK_COLUMNS,
    INSERT_EXECUTION,
    event_from_row,
    event_row,
    execution_from_row,
    execution_row,
    hook_from_row,
    percentile,
    policy_json,
)
from sloth_tui.engine.schema import EVENT_COLUMNS, INSERT_EVENT, MIGRATIONS, SCHEMA_VERSION
from sloth_tui.engine.sqlite_thread import SqliteThread
from sloth_tui.engine.text_index import TextIndex, attach, indexed_rows
from sloth_tui.engine.wal_checkpoint import Checkpointer
from sloth_tui.model.errors import DiskFull, NotFound, StoreError
from sloth_tui.model.filters import Filter
from sloth_tui.model.records import Event, Execution, Hook
from sloth_tui.model.stats import HookStats

# A hook run's state writes, committed with its execution record (see engine/effects.py).
UPSERT_STATE = "INSERT OR REPLACE INTO state (hook, key, value) VALUES (?, ?, ?)"
DELETE_STATE = "DELETE FROM state WHERE hook = ? AND key = ?"
# state.incr is applied as a delta at commit: concurrent runs never lose each other's
# increments, whatever each read. A stored non-number counts as 0, as in Lua.
# The sum is written back as JSON text the way Python's json would: integers exactly,
# floats with 17 digits (SQLite's own text form keeps 15, and would round).
_SUM = "(state.value + excluded.value)"
INCR_STATE = (
    "INSERT INTO state (hook, key, value) VALUES (?, ?, ?) ON CONFLICT (hook, key) DO UPDATE "
    "SET value = CASE WHEN json_type(state.value) NOT IN ('integer', 'real') THEN excluded.value "
    f"WHEN typeof({_SUM}) = 'integer' THEN CAST({_SUM} AS TEXT) "
    f"ELSE COALESCE(replace(printf('%!.17g', {_SUM}), 'Inf', 'Infinity'), 'null') END"
)
INSERT_HTTP_MARK = "INSERT OR IGNORE INTO http_marks (event_id, hook, ts) VALUES (?, ?, ?)"
DELETE_HTTP_MARK = "DELETE FROM http_marks WHERE event_id = ? AND hook = ?"

# One write: a statement and its rows. Consecutive writes with the same statement
# are merged into one executemany.
WriteOp = tuple[str, Sequence[Any]]

UPDATE_STATUS = "UPDATE events SET status = ? WHERE id = ?"
# last_run is the latest start of any run. Runs of one hook end, and commit, out of the
# order they started in (concurrent pool threads, batches), so the update keeps the
# greater of the two starts rather than the last one written.
UPDATE_HOOK_RUN = (
    "UPDATE hooks SET run_count = run_count + 1, last_run = max(coalesce(last_run, 0), ?) "
    "WHERE name = ?"
)
# A worker batch's runs of one hook, counted in memory and written once (runs_ops).
UPDATE_HOOK_RUNS = (
    "UPDATE hooks SET run_count = run_count + ?, last_run = max(coalesce(last_run, 0), ?) "
    "WHERE name = ?"
)
# Hooks already recorded for the events recovery picks up: one query, not one per event.
RECORDED_RUNS = (
    "SELECT x.event_id, x.hook, x.status FROM executions x JOIN events e ON e.id = x.event_id "
    "WHERE e.status IN ('pending', 'processing') AND x.dry_run = 0 ORDER BY x.id"
)
INSERT_MIRRORED = "INSERT INTO mirrored (key, local_id) VALUES (?, ?)"
UPSERT_CURSOR = "INSERT OR REPLACE INTO cursors (name, value) VALUES (?, ?)"
_STATE_SQL = {"set": UPSERT_STATE, "del": DELETE_STATE, "add": INCR_STATE}


# -- writes as ops: pieces a caller puts together into one store write (one transaction),
# as a hook run's effects commit with its record. The SQL stays here.


def event_op(event: Event, encoded: str | None = None) -> WriteOp:
    """Insert `event` (`encoded`: its data's JSON text when already made)."""
    return (INSERT_EVENT, event_row(event, encoded))


def run_record_ops(execution: Execution, hook: str) -> list[WriteOp]:
    """A real run's record: its execution row and its hook's run counter."""
    return [
        (INSERT_EXECUTION, execution_row(execution)),
        (UPDATE_HOOK_RUN, (execution.started, hook)),
    ]


def state_op(hook: str, key: str, kind: str, value: Any) -> WriteOp:
    """A state write: kind "set" (value), "del", or "add" (value is the delta, added in
    SQL at commit so that concurrent runs never lose each other's increments)."""
    if kind == "del":
        return (DELETE_STATE, (hook, key))
    return (_STATE_SQL[kind], (hook, key, json.dumps(value)))


def execution_op(execution: Execution) -> WriteOp:
    """An execution row alone (no hook counter moves: a skipped or a mirrored run)."""
    return (INSERT_EXECUTION, execution_row(execution))


def mirrored_op(key: str, local_id: int | None) -> WriteOp:
    """A foreign row's key, taken in (local_id: its event here, else NULL)."""
    return (INSERT_MIRRORED, (key, local_id))


def cursor_op(name: str, value: str) -> WriteOp:
    """Where a mirror resumes: in the same write as the rows it covers."""
    return (UPSERT_CURSOR, (name, value))


def status_op(event_id: int, status: str) -> WriteOp:
    return (UPDATE_STATUS, (status, event_id))


# A fleet run's verdict on its local copy of an event (engine/mirror_intake.py): pending
# becomes the verdict, and a failed run turns completed into failed. Guarded in SQL so the
# check and the write are one step inside the batch's transaction.
_RUN_VERDICT = (
    "UPDATE events SET status = ? WHERE id = ? "
    "AND (status = 'pending' OR (? = 'failed' AND status = 'completed'))"
)


def run_verdict_op(event_id: int, verdict: str) -> WriteOp:
    return (_RUN_VERDICT, (verdict, event_id, verdict))


@functools.lru_cache(maxsize=64)
def _update_statuses(count: int) -> str:
    return f"UPDATE events SET status = ? WHERE id IN ({', '.join(['?'] * count)})"


def statuses_ops(event_ids: Sequence[int], status: str) -> list[WriteOp]:
    """Several events' one new status: a statement per power-of-two chunk of ids (few
    distinct statements to cache), not one per event: each statement the writer runs
    is a GIL hand-off between its thread and the loop."""
    ops: list[WriteOp] = []
    start = 0
    while start < len(event_ids):
        count = 1 << (min(MAX_ROWS_PER_INSERT, len(event_ids) - start).bit_length() - 1)
        chunk = event_ids[start : start + count]
        if count == 1:
            ops.append((UPDATE_STATUS, (status, chunk[0])))
        else:
            ops.append((_update_statuses(count), (status, *chunk)))
        start += count
    return ops


def runs_ops(rows: Sequence[tuple[Any, ...]], ran: Sequence[tuple[str, float]]) -> list[WriteOp]:
    """The records of a batch of runs without effects: their execution rows (made by
    execution_row; consecutive, so one multi-row INSERT), and one counter update per hook
    for the runs in `ran` ((hook, start) of each run that ran: last_run ends as the
    latest start, as one update per run would leave it)."""
    ops: list[WriteOp] = [(INSERT_EXECUTION, row) for row in rows]
    counts: dict[str, int] = {}
    last: dict[str, float] = {}
    for hook, started in ran:
        counts[hook] = counts.get(hook, 0) + 1
        last[hook] = max(last.get(hook, started), started)
    ops.extend((UPDATE_HOOK_RUNS, (n, last[hook], hook)) for hook, n in counts.items())
    return ops


def clear_http_mark_op(event_id: int, hook: str) -> WriteOp:
    """The run of `hook` on the event is complete: its http mark goes."""
    return (DELETE_HTTP_MARK, (event_id, hook))


class _Round:
    """Writes gathered for the next commit, and the futures of those who wait on them.

    When the round's transaction fails, each write is retried alone so one bad
    write fails only its own caller.
    """

    __slots__ = ("bounds", "errors", "kept", "loop", "ops", "took", "waiters")

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.ops: list[WriteOp] = []
        self.bounds: list[tuple[int, int]] = []  # each write's slice of ops
        self.errors: dict[int, Exception] = {}
        # One future per waiter (not one shared): a cancelled caller cancels only its own.
        self.waiters: list[tuple[int, asyncio.Future[None]]] = []
        self.took = 0.0  # seconds its commit took in the writer's thread
        self.kept: set[int] = set()  # writes held through a full disk (held_writes.py)

    def add(self, ops: tuple[WriteOp, ...], *, keep: bool = False) -> int:
        start = len(self.ops)
        self.ops.extend(ops)
        self.bounds.append((start, len(self.ops)))
        index = len(self.bounds) - 1
        if keep:
            self.kept.add(index)
        return index

    def carry(self, writes: list[tuple[WriteOp, ...]]) -> None:
        """Put `writes` (held ones, older than any here) first, each kept again if it
        fails as they did."""
        ops = [op for write in writes for op in write]
        bounds: list[tuple[int, int]] = []
        start = 0
        for write in writes:
            bounds.append((start, start + len(write)))
            start += len(write)
        shift, moved = len(ops), len(writes)
        self.ops[:0] = ops
        self.bounds = bounds + [(a + shift, b + shift) for a, b in self.bounds]
        # -1 waits on the whole round (flush), not on one write.
        self.waiters = [(i + moved if i >= 0 else i, future) for i, future in self.waiters]
        self.kept = set(range(moved)) | {index + moved for index in self.kept}

    def wait(self, index: int) -> asyncio.Future[None]:
        future = self.loop.create_future()
        self.waiters.append((index, future))
        return future

    def settle(self) -> None:
        errors = self.errors
        for index, future in self.waiters:
            if future.done():  # its caller was cancelled
                continue
            error = errors.get(index) if errors else None
            if error is None:
                future.set_result(None)
            else:
                future.set_exception(error)


MAX_ROWS_PER_INSERT = 256


_PLAIN_INSERT_RE = re.compile(r"^INSERT (?:OR \w+ )?INTO .* VALUES (\(\?(?:, \?)*\))$", re.S)


@functools.lru_cache(maxsize=64)
def _is_plain_insert(sql: str) -> bool:
    """INSERT ending in one VALUES group of placeholders (no upsert clause): widenable."""
    return _PLAIN_INSERT_RE.match(sql) is not None


@functools.lru_cache(maxsize=64)
def _multirow(sql: str, rows: int) -> str:
    """`INSERT ... VALUES (?, ?)` widened to take `rows` rows in one statement."""
    head, values, group = sql.rpartition(" VALUES ")
    return head + values + ", ".join([group] * rows)


def _statements(conn: sqlite3.Connection, ops: list[WriteOp]) -> list[tuple[str, Any, bool]]:
    """The round's writes as (sql, parameters, many) statements, in order.

    Consecutive writes with the same statement are merged; plain INSERTs become
    multi-row INSERTs in power-of-two chunks (few distinct statements to cache).
    Unlike executemany, which steps once per row and so gives up and retakes the GIL
    per row, a multi-row INSERT steps once: the SQLite work runs while the event loop
    thread keeps going, and costs about half as much.
    """
    statements: list[tuple[str, Any, bool]] = []
    i = 0
    while i < len(ops):
        sql = ops[i][0]
        j = i + 1
        while j < len(ops) and ops[j][0] == sql:
            j += 1
        rows = [op[1] for op in ops[i:j]]
        if len(rows) > 1 and _is_plain_insert(sql):
            limit = conn.getlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER) // len(rows[0])
            most = max(1, min(MAX_ROWS_PER_INSERT, limit))
            start = 0
            while start < len(rows):
                count = 1 << (min(most, len(rows) - start).bit_length() - 1)
                params = list(itertools.chain.from_iterable(rows[start : start + count]))
                statements.append((_multirow(sql, count), params, False))
                start += count
        elif len(rows) == 1:
            statements.append((sql, rows[0], False))
        else:
            statements.append((sql, rows, True))
        i = j
    return statements


def _run_batch(conn: sqlite3.Connection, ops: list[WriteOp]) -> None:
    """Runs in the writer's thread: the whole round in one transaction.

    A round that is one statement (a full round of events is one INSERT) runs alone:
    SQLite makes it its own transaction, which saves the BEGIN and COMMIT calls, each
    a GIL handoff.
    """
    statements = _statements(conn, ops)
    if len(statements) == 1 and not statements[0][2]:
        conn.execute(statements[0][0], statements[0][1])
        return
    conn.execute("BEGIN")
    try:
        for sql, params, many in statements:
            if many:
                conn.executemany(sql, params)
            else:
                conn.execute(sql, params)
        conn.execute("COMMIT")
    except BaseException:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        raise


# Writes per round before a new one starts. With the bench's 1,024 producers, rounds of
# 512 beat 256 (dispatch_ratio, best of 5, three interleaved runs each: 0.82-0.86 against
# 0.75-0.81): half the commits, and the loop still fills one round while another commits.
# 1,024 (a single round) left the loop idle during each commit: 0.70-0.72 (issue 19).
ROUND_OPS = 512


def _commit_round(
    conn: sqlite3.Connection, current: _Round, path: Path, identity: tuple[int, int] | None
) -> None:
    """Runs in the writer's thread. One transaction; on failure, each write alone.

    Unless the failure is about the store (full, damaged, read-only): then every write
    would fail the same way, and trying them one by one only delays the answer.

    First, the file must still be the one opened (`identity`): in WAL mode SQLite would
    go on writing to the old file's -wal, which the next start would then apply to the
    new file. Looked at here, not on the loop: a stat gives up the GIL, and the loop got
    it back after a hook thread's turn (46 µs a round on average, issue 19)."""
    if store_faults.file_id(path) != identity:
        raise store_faults.moved_error(path)
    started = time.perf_counter()
    try:
        _commit_all(conn, current)
    finally:
        current.took = time.perf_counter() - started


def _commit_all(conn: sqlite3.Connection, current: _Round) -> None:
    try:
        _run_batch(conn, current.ops)
    except sqlite3.Error as exc:
        if store_faults.is_store_wide(exc):
            current.errors.update(dict.fromkeys(range(len(current.bounds)), exc))
            return
        for index, (start, end) in enumerate(current.bounds):
            try:
                _run_batch(conn, current.ops[start:end])
            except sqlite3.Error as exc:
                current.errors[index] = exc


P = ParamSpec("P")
T = TypeVar("T")


async def _in_thread(
    db: SqliteThread,
    fn: Callable[Concatenate[sqlite3.Connection, P], T],
    *args: P.args,
    **kwargs: P.kwargs,
) -> T:
    """fn(connection, ...) in the connection's own thread: many statements, one hop."""
    return await db.call(fn, *args, **kwargs)


CLOSE_TIMEOUT = 5.0  # seconds close() waits for the writer before leaving it behind
HELD_RETRY = 1.0  # seconds between tries of writes held through a full disk
log = logging.getLogger("sloth_tui.store")


async def _connect(target: str, role: str, **kwargs: Any) -> SqliteThread:
    """A connection on its own daemon thread (sqlite_thread.py says why a daemon)."""
    return await SqliteThread.connect(target, name=f"sloth-store-{role}", **kwargs)


async def _close_quietly(conn: SqliteThread, path: Path | None = None) -> None:
    """Close, unless the connection's thread is stuck in SQLite (a hung disk): then leave
    it, since a close would queue behind that work and wait, cancelled or not.
    A no-op round trip tells which, and its task cancels cleanly."""
    probe = asyncio.ensure_future(_in_thread(conn, _noop))
    done, _ = await asyncio.wait({probe}, timeout=CLOSE_TIMEOUT)
    if not done:
        probe.cancel()
        if path is not None:
            log.warning("%s: the database connection is stuck; leaving it behind", path)
        return
    if probe.exception() is not None:  # closed already
        return
    try:
        await conn.close()
    except (sqlite3.Error, ValueError) as exc:
        if path is not None:
            log.warning("%s: closing the database failed (%s)", path, exc)


def _noop(conn: sqlite3.Connection) -> None:
    return None


def _fetch(conn: sqlite3.Connection, sql: str, params: Sequence[Any]) -> list[Any]:
    """One query, all its rows, in one hop (execute and fetch together)."""
    return conn.execute(sql, params).fetchall()


def _fetch_timed(
    conn: sqlite3.Connection, sql: str, params: Sequence[Any]
) -> tuple[list[Any], float]:
    """_fetch, and the seconds it took in the connection's thread (db.query_slow times
    SQLite's work there: the hop back to a busy loop is not the store being slow)."""
    started = time.perf_counter()
    rows = conn.execute(sql, params).fetchall()
    return rows, time.perf_counter() - started


_QUALIFIED = ", ".join(f"events.{c.strip()}" for c in EVENT_COLUMNS.split(","))


def _timed_page(
    conn: sqlite3.Connection,
    match: str,
    ids: tuple[int, int],
    where: str,
    params: Sequence[Any],
    limit: int,
) -> tuple[list[Any], float]:
    """text_index.indexed_rows, and the seconds it took in the reader's thread."""
    started = time.perf_counter()
    rows = indexed_rows(conn, _QUALIFIED, match, ids, where, params, limit)
    return rows, time.perf_counter() - started


async def _open_text_index(path: Path, reader: SqliteThread) -> TextIndex | None:
    """The store's text index, attached to its reader; None when it cannot be had."""
    index = await TextIndex.open(path)
    if index is None:
        return None
    try:
        await _in_thread(reader, attach, str(index.path))
    except sqlite3.Error as exc:
        log.warning("%s: text index not readable (%s); filters read every event", path, exc)
        await index.close()
        return None
    return index


def _checkpoint_truncate(conn: sqlite3.Connection) -> None:
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchall()


# ~64 MB of 4 KiB pages (SQLite's own default is 1000). At 4000 the writer's own
# checkpoints cost sustained hook runs ~6% (hookprobe A/B); at 16000 nothing measurable.
WAL_BACKSTOP_PAGES = 16000
WAL_KEPT_BYTES = 64 * 1024 * 1024  # the WAL file's size at most once it starts over


def _prepare_writer(conn: sqlite3.Connection, path: Path, check: bool) -> tuple[int, list[int]]:
    """Writer's thread, at open: refuse a replaced or damaged store, migrate, claim it.
    Returns the schema version found and the versions the migrations brought."""
    conn.execute("PRAGMA busy_timeout=5000")
    conn.execute("PRAGMA journal_mode=WAL").fetchall()
    conn.execute("PRAGMA synchronous=NORMAL")
    # Checkpoints run on a connection of their own (wal_checkpoint.py), not in a commit.
    # Under sustained writes that one never catches up with the writer, and the WAL only
    # starts over once a checkpoint has copied all of it: so past WAL_BACKSTOP_PAGES the
    # writer checkpoints too (cheap then: most frames are copied already), and a WAL
    # that grew past the limit (a reader held it) is cut back when it starts over.
    conn.execute(f"PRAGMA wal_autocheckpoint={WAL_BACKSTOP_PAGES}")
    conn.execute(f"PRAGMA journal_size_limit={WAL_KEPT_BYTES}")
    version = conn.execute("PRAGMA user_version").fetchone()[0]
    store_faults.refuse_fresh(path, version)
    if check and version:
        store_faults.quick_check(conn, path)
    applied = _migrate(conn)
    store_faults.claim(conn, path)
    register_sql_functions(conn)
    return version, applied


def _probe_reader(conn: sqlite3.Connection, path: Path) -> None:
    """Reader's thread, at open: read the header and schema now, so an unreadable,
    emptied or replaced file fails here (where it is cleaned up) and not at the first
    query; and give queries the SQL functions filter_sql calls."""
    conn.execute("PRAGMA busy_timeout=5000")
    conn.execute("SELECT COUNT(*) FROM sqlite_master").fetchone()
    version = conn.execute("PRAGMA user_version").fetchone()[0]
    store_faults.refuse_fresh(path, version)
    if version < SCHEMA_VERSION:
        # Only a read-only open meets one (a writer migrates first): its queries would
        # name columns the file lacks yet, so say what to do instead of failing later.
        raise StoreError(
            f"{path} has schema version {version}, older than this sloth-tui's "
            f"({SCHEMA_VERSION}): start `sloth-tui serve` or the dashboard once to upgrade it"
        )
    app_id = conn.execute("PRAGMA application_id").fetchone()[0]
    store_faults.check_identity(app_id, path, store_faults.read_identity(path))
    register_sql_functions(conn)


async def _open_reader(path: Path, readonly: bool) -> SqliteThread:
    """The query connection. Read-only, in a data dir this user cannot write (a
    read-only home, a backup on read-only media) or on a full disk, SQLite cannot create
    the -shm it needs: with no -wal (or an empty one) there is nothing uncommitted to
    read, so the file is opened immutable instead, and queries work. (No engine is
    writing then: one would hold the -shm open, and this open would have found it.)"""
    if not readonly:
        reader = await _connect(str(path), "reader")
    else:
        reader = await _connect(f"file:{quote(str(path))}?mode=ro", "reader", uri=True)
    try:
        await _in_thread(reader, _probe_reader, path)
        return reader
    except StoreError:
        await _close_quietly(reader)
        raise
    except sqlite3.Error as exc:
        await _close_quietly(reader)
        if not readonly or not store_faults.shm_unmakeable(exc, path):
            raise
    reader = await _connect(f"file:{quote(str(path))}?mode=ro&immutable=1", "reader", uri=True)
    try:
        await _in_thread(reader, _probe_reader, path)
    except BaseException:
        await _close_quietly(reader)
        raise
    return reader


def _migrate(conn: sqlite3.Connection) -> list[int]:
    """Bring the schema to SCHEMA_VERSION; the versions applied, in order."""
    version = conn.execute("PRAGMA user_version").fetchone()[0]
    if version > SCHEMA_VERSION:
        raise StoreError(
            f"database schema version {version} is newer than this sloth-tui ({SCHEMA_VERSION})"
        )
    for number in range(version, SCHEMA_VERSION):
        conn.executescript(
            "BEGIN;" + MIGRATIONS[number] + f"; PRAGMA user_version = {number + 1};COMMIT;"
        )
    return list(range(version + 1, SCHEMA_VERSION + 1))


# What db.migration events call each schema version (schema.MIGRATIONS holds only SQL;
# a version missing here is named "migration_N").
MIGRATION_NAMES = {
    1: "initial_schema",
    2: "hook_limits",
    3: "execution_event_type",
    4: "http_marks",
    5: "sloth_runner_context",
    6: "mirror_tables",
    7: "hook_policies",
    8: "failed_index",
    9: "fleet_origin_outbox",
}


def migration_name(version: int) -> str:
    return MIGRATION_NAMES.get(version, f"migration_{version}")


# db.query_slow: a store operation (a commit round, a query) slower than this is said,
# at most once per SLOW_EVERY seconds (a slow disk makes every operation slow, and each
# event about it is one more write). Timed in the connection's own thread, around the
# SQLite work: waiting in that thread's queue or for a busy loop is not the store.
SLOW_THRESHOLD = 1.0
SLOW_EVERY = 60.0
QUERY_SHOWN = 200  # characters of SQL a db.query_slow carries (never the parameters)


# query_events: the newest ids a filtered page scans by id before it turns to the indexes
# (a scan of this many rows costs a few ms; a common match fills the page within it).
SCAN_WINDOW = 20_000


class StoreWatcher(Protocol):
    """Who hears about the store's own trouble (the engine, which turns it into db.* and
    state.* events). Called on the loop; must not block or raise."""

    def store_event(self, type: str, data: dict[str, Any]) -> None: ...

    def store_recovered(self, refused: int, lasted: float) -> None:
        """A store-wide write fault (the db.error before) is over."""
        ...


def _verb(sql: str) -> str:
    """`INSERT INTO events`, `UPDATE hooks`, `DELETE FROM state`: what a write does."""
    words = sql.split(None, 4)
    if len(words) >= 3 and words[1].upper() in ("INTO", "FROM", "OR"):
        if words[1].upper() == "OR" and len(words) >= 5:  # INSERT OR REPLACE INTO t
            return " ".join(words[:5])
        return " ".join(words[:3])
    return " ".join(words[:2])


class Store:
    def __init__(self, path: Path, writer: SqliteThread | None, reader: SqliteThread):
        self.path = path
        self._writer = writer
        self._reader = reader
        # Rounds waiting to commit, oldest first; new writes join the newest while it
        # has room. Capping rounds lets producers fill the next one while the
        # writer thread commits the last (pipelining instead of lockstep).
        self._rounds: deque[_Round] = deque()
        self._wake = asyncio.Event()  # set when a round has ops
        self._idle = asyncio.Event()  # set when nothing is waiting to be written
        self._idle.set()
        self._task: asyncio.Task[None] | None = None
        self.commits = 0
        self._fault: str | None = None  # the store-wide write failure under way, if any
        self._fault_since = 0.0
        self._fault_count = 0
        self._held = HeldWrites()  # kept writes that failed for a full disk
        self._file_id = store_faults.file_id(path)  # to notice the file being replaced
        # (version found, versions applied) by this open's migrations; the engine records
        # db.migration for them once it runs (a store cannot record events while opening).
        self.migrated: tuple[int, list[int]] = (0, [])
        self.watcher: StoreWatcher | None = None  # set by an engine that serves
        self.slow_threshold = SLOW_THRESHOLD
        self.slow_every = SLOW_EVERY
        self.clock: Callable[[], float] = time.monotonic  # the slow-event rate bound's
        self._slow_next = 0.0  # no db.query_slow before this (clock)
        self._slow_unsaid = 0  # slow operations not said since the last one
        self._damaged_state: set[tuple[str, str]] = set()  # said once per engine life
        # Writes buffered by their owner until the writer takes its next round (the
        # dispatcher's run records and statuses, Dispatcher._gather): then they join that
        # round as one write, rather than one write per worker batch. P2: issue 19.
        self._gatherers: list[Callable[[], None]] = []
        self._checkpointer: Checkpointer | None = None  # set by open() for a writable store
        self.text_index: TextIndex | None = None  # likewise, unless text_index=False

    @classmethod
    async def open(
        cls,
        path: Path,
        *,
        readonly: bool = False,
        check: bool | None = None,
        text_index: bool = True,
    ) -> Store:
        """Open (creating when new) the store at path.

        Every failure is a StoreError naming the file and what to do, raised after
        whatever was opened is closed again. check (default: when writing) runs PRAGMA
        quick_check first, so damage stops a start at once instead of failing reads
        later. A database that was emptied or replaced is refused (see store_faults).
        A writable store keeps a text index beside it (text_index.py) unless told not
        to; one that cannot be made leaves the store without it.
        """
        check = not readonly if check is None else check
        writer = reader = None
        checkpointer: Checkpointer | None = None
        index: TextIndex | None = None
        migrated: tuple[int, list[int]] = (0, [])
        try:
            make_private_dir(path.parent)
            store_faults.refuse_emptied(path)
            if not readonly:
                create_private_file(path)
                writer = await _connect(str(path), "writer", isolation_level=None)
                migrated = await _in_thread(writer, _prepare_writer, path, check)
            elif not path.exists() or path.stat().st_size == 0:
                # Nothing stored yet: give queries an empty, current schema to read.
                create_private_file(path)
                with contextlib.closing(sqlite3.connect(path, isolation_level=None)) as conn:
                    _migrate(conn)
            reader = await _open_reader(path, readonly)
            if writer is not None:
                checkpointer = await Checkpointer.open(str(path))
            if writer is not None and text_index:
                index = await _open_text_index(path, reader)
        except BaseException as exc:
            # Close what opened: a connection left open holds its file and thread.
            for opened in (writer, reader):
                if opened is not None:
                    await _close_quietly(opened)
            if isinstance(exc, sqlite3.Error):
                mapped = store_faults.store_error(exc, path)
                raise mapped or StoreError(f"cannot open {path}: {exc}") from None
            if isinstance(exc, OSError):
                raise store_faults.dir_error(path.parent, exc) from None
            raise
        store = cls(path, writer, reader)
        store.migrated = migrated
        store._checkpointer = checkpointer
        store.text_index = index
        if writer is not None:
            store._task = asyncio.create_task(store._write_loop(), name="store-writer")
        return store

    async def close(self) -> None:
        """Commit what is queued and close. Never raises and never hangs: a writer that
        is stuck (a damaged file, a dead disk) is given CLOSE_TIMEOUT, then left behind
        (its thread is a daemon; WAL keeps the file consistent whatever it was doing)."""
        writer = self._writer
        if self._task is not None:
            try:
                await asyncio.wait_for(self.flush(), CLOSE_TIMEOUT)
            except TimeoutError:
                log.warning(
                    "%s: pending writes did not commit within %.0f s; closing without them",
                    self.path,
                    CLOSE_TIMEOUT,
                )
                writer = None  # stuck in SQLite: a close would only queue behind it
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        if self.text_index is not None:
            await self.text_index.close()
        if self._checkpointer is not None:  # first: the writer, closed last, checkpoints
            await self._checkpointer.close()
        if writer is not None and store_faults.file_id(self.path) != self._file_id:
            # The file was replaced: put what our -wal holds into our file (wherever it
            # went) and empty the -wal, or the next start would apply it to the new one.
            try:
                await asyncio.wait_for(_in_thread(writer, _checkpoint_truncate), CLOSE_TIMEOUT)
            except (TimeoutError, sqlite3.Error, ValueError) as exc:
                log.warning("%s: could not empty the -wal (%s)", self.path, exc or "timed out")
        if self._held:
            log.warning(
                "%s: the disk is still full: the hook runs' records and statuses held for "
                "it were not stored (%d operations); their events run again at the next start",
                self.path,
                self._held.ops,
            )
        for conn in (writer, self._reader):
            if conn is not None:
                await _close_quietly(conn, self.path)

    # -- writes -------------------------------------------------------------

    def _current(self) -> _Round:
        rounds = self._rounds
        if not rounds or len(rounds[-1].ops) >= ROUND_OPS:
            self._new_round()
        return rounds[-1]

    def _new_round(self) -> None:
        self._rounds.append(_Round(asyncio.get_running_loop()))
        self._idle.clear()
        self._wake.set()

    def write(self, *ops: WriteOp) -> asyncio.Future[None]:
        """Queue writes; the future is done once they are committed (with their round).

        A plain function returning a future, not a coroutine, with _current() and
        _Round.add/wait inlined: it runs once per event.
        """
        rounds = self._rounds
        current = rounds[-1] if rounds and len(rounds[-1].ops) < ROUND_OPS else self._current()
        pending = current.ops
        start = len(pending)
        pending.extend(ops)
        current.bounds.append((start, len(pending)))
        future = current.loop.create_future()
        current.waiters.append((len(current.bounds) - 1, future))
        return future

    def write_later(self, *ops: WriteOp, keep: bool = False) -> None:
        """Queue writes that nobody waits on (status updates); committed in the next round.
        keep: when the disk is full, hold them and commit them once space returns (runs'
        records and statuses: see held_writes.py), rather than drop them."""
        self._current().add(ops, keep=keep)

    def write_kept(self, *ops: WriteOp) -> asyncio.Future[None]:
        """As write(), and held through a full disk as write_later(keep=True) is; the
        future then fails (its caller knows they are not committed yet)."""
        current = self._current()
        return current.wait(current.add(ops, keep=True))

    def gather_before_rounds(self, gather: Callable[[], None]) -> None:
        """Call `gather` on the loop just before the writer takes each round, and in
        flush(): it queues what its owner has buffered (write/write_later). An owner with
        something buffered calls wake() so that a round comes."""
        self._gatherers.append(gather)

    def wake(self) -> None:
        """Something is buffered for the gatherers: have the writer take a round soon."""
        if not self._rounds:
            self._current()

    def _gather(self) -> None:
        """What the owners buffered, as a round of its own: the writes queued after it
        go in the next one. The write loop gathers as it takes a round, so the gathered
        round commits while the loop answers the callers of the one before (who then
        queue the next): the writer and the loop work side by side, not in turn."""
        rounds = self._rounds
        fresh = None
        if rounds and rounds[-1].ops:
            # Idle is clear and the wake set already: rounds were waiting.
            fresh = _Round(asyncio.get_running_loop())
            rounds.append(fresh)
        target = rounds[-1] if rounds else None
        for gather in self._gatherers:
            try:
                gather()
            except Exception:  # a bug there must not stop every write
                log.exception("a buffered write could not be queued")
        last = rounds[-1] if rounds else None
        gathered = last is not None and (last is not target or bool(last.ops))
        if fresh is not None and not gathered:
            rounds.pop()  # nothing gathered: later writes join the round before, as ever
        elif gathered:
            self._new_round()  # the writes queued from now on go after the gathered ones

    async def flush(self) -> None:
        """Return once everything queued so far (buffered writes too) is committed."""
        if self._gatherers:
            self._gather()
        if self._held and not self._rounds:
            self._current()  # one more try for the writes held through a full disk
        if self._rounds:
            await self._rounds[-1].wait(-1)
        else:
            await self._idle.wait()

    async def _write_loop(self) -> None:
        assert self._writer is not None
        while True:
            if self._held and not self._rounds:
                # Nothing new to write, but held writes to try again: the disk may have
                # room by now, and nobody else will wake this loop for them.
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), HELD_RETRY)
                if not self._rounds:
                    self._new_round()
            else:
                await self._wake.wait()
            if not self._rounds and self._gatherers:
                self._gather()
            if not self._rounds:
                self._wake.clear()
                continue
            current = self._rounds.popleft()
            carried = len(self._held.writes)
            if carried:
                current.carry(self._held.take())
            if self._gatherers:
                # What the owners buffered (hook runs' records, statuses) goes in the
                # round after this one: it commits while the loop answers this one's
                # callers, who then queue the next. In one round with them, the loop
                # waited on the writer and the writer on the loop (issue 19).
                self._gather()
            try:
                if current.ops:
                    await _in_thread(self._writer, _commit_round, current, self.path, self._file_id)
                    self.commits += 1
                    if self._checkpointer is not None:
                        self._checkpointer.committed()
                    if self.text_index is not None:
                        self.text_index.committed(
                            [op[1][0] for op in current.ops if op[0] == INSERT_EVENT]
                        )
                    self._timed(current.took, len(current.bounds))
            except Exception as exc:  # the connection itself failed: so did every write
                current.errors.update(dict.fromkeys(range(len(current.bounds)), exc))
            if current.errors:
                self._map_errors(current, carried)
                if current.kept:
                    self._hold_failed(current)
            elif current.ops and self._fault is not None:
                self._fault_cleared(carried)
            current.settle()
            if not self._rounds:
                self._wake.clear()
                self._idle.set()

    def _map_errors(self, current: _Round, carried: int = 0) -> None:
        """Each failed write's error as its caller should see it (one line: the disk is
        full, the file is damaged...), and the fault logged once per episode, not once
        per event."""
        fault: Exception | None = None
        for index, exc in current.errors.items():
            start, end = current.bounds[index]
            is_event = start < end and current.ops[start][0] == INSERT_EVENT
            mapped = store_faults.write_error(exc, self.path, event=is_event)
            if mapped is not exc:  # about the store, not one bad write
                fault = fault or mapped
            current.errors[index] = mapped
        if fault is None:
            return
        # The held writes carried in front were counted when they first failed.
        self._fault_count += sum(1 for index in current.errors if index >= carried)
        kind = "full" if isinstance(fault, DiskFull) else str(fault)
        if kind != self._fault:
            self._fault = kind
            self._fault_since = time.monotonic()
            if self.watcher is not None:  # once per episode, as the log line
                index = next(iter(current.errors))
                start, end = current.bounds[index]
                operation = _verb(current.ops[start][0]) if start < end else "COMMIT"
                data = {"database": str(self.path), "operation": operation, "error": str(fault)}
                self.watcher.store_event("db.error", data)
            # A one-shot command (no watcher) says the refusal itself, in its error line;
            # logged louder, the operator would read the same thing twice.
            serving = self.watcher is not None
            if isinstance(fault, DiskFull):
                log.log(
                    logging.WARNING if serving else logging.INFO,
                    "the disk holding %s is full: writes are refused until space returns "
                    "(reads still work)",
                    self.path.parent,
                )
            else:
                log.log(logging.ERROR if serving else logging.INFO, "%s", fault)

    @property
    def write_fault(self) -> str:
        """The store-wide write failure under way, as one line; "" when writes work."""
        if self._fault is None:
            return ""
        if self._fault == "full":
            return f"the disk holding {self.path.parent} is full: new events are refused"
        return self._fault

    def _hold_failed(self, current: _Round) -> None:
        """The kept writes of a round that failed for a full disk, held for a later one."""
        held = self._held
        dropped = held.dropped
        for index in sorted(current.kept):
            if isinstance(current.errors.get(index), DiskFull):
                start, end = current.bounds[index]
                held.keep(current.ops[start:end])
        if held.dropped and not dropped:
            log.warning(
                "%s: more hook-run records than can be held until space returns: the "
                "rest are dropped, and their events run again at the next start",
                self.path,
            )

    def _fault_cleared(self, carried: int) -> None:
        kept = "; the hook runs' records held through it are stored now" if carried else ""
        log.warning(
            "%s: writes work again after %.0f s (%d writes were refused meanwhile%s)",
            self.path,
            time.monotonic() - self._fault_since,
            self._fault_count,
            kept,
        )
        if self.watcher is not None:
            self.watcher.store_recovered(self._fault_count, time.monotonic() - self._fault_since)
        self._fault = None
        self._fault_count = 0
        self._held.dropped = 0  # the next episode says its own

    def _timed(self, took: float, what: str | int) -> None:
        """After an operation (a query's SQL, or a commit round's number of writes) that
        took `took` seconds in SQLite: db.query_slow when that is slow_threshold or more,
        at most once per slow_every seconds (the ones in between are counted in the next)."""
        if took < self.slow_threshold or self.watcher is None:
            return
        what = f"COMMIT ({what} writes)" if isinstance(what, int) else " ".join(what.split())
        now = self.clock()
        if now < self._slow_next:
            self._slow_unsaid += 1
            return
        self._slow_next = now + self.slow_every
        data: dict[str, Any] = {
            "database": str(self.path),
            "query": what if len(what) <= QUERY_SHOWN else what[:QUERY_SHOWN] + "…",
            "duration": f"{took:.3f}s",
            "threshold": f"{self.slow_threshold:g}s",
            "duration_ms": round(took * 1000, 3),
        }
        if self._slow_unsaid:
            data["slow_since_last"] = self._slow_unsaid
            self._slow_unsaid = 0
        self.watcher.store_event("db.query_slow", data)

    # -- queries ------------------------------------------------------------

    async def _fetchall(self, sql: str, params: Sequence[Any] = ()) -> list[Any]:
        try:
            rows, took = await _in_thread(self._reader, _fetch_timed, sql, params)
        except sqlite3.Error as exc:  # damaged, unreadable: one line naming the file
            raise store_faults.store_error(exc, self.path) or exc from None
        self._timed(took, sql)
        return rows

    async def max_event_id(self) -> int:
        rows = await self._fetchall("SELECT COALESCE(MAX(id), 0) FROM events")
        return int(rows[0][0])

    async def get_event(self, event_id: int) -> Event:
        rows = await self._fetchall(f"SELECT {EVENT_COLUMNS} FROM events WHERE id = ?", [event_id])
        if not rows:
            raise NotFound(f"no event with id {event_id}")
        return event_from_row(rows[0])

    async def query_events(
        self,
        flt: Filter | None = None,
        *,
        limit: int = 100,
        before_id: int | None = None,
        after_id: int | None = None,
        since: float | None = None,
        until: float | None = None,
    ) -> list[Event]:
        """Newest first; page back with before_id, forward with after_id (then oldest first).

        A filtered page, newest first, is read in two steps (issue 19): the newest
        SCAN_WINDOW ids by id alone, which is where a common match fills the page at
        once; if they hold fewer than `limit`, the ids below them as the planner sees
        fit (the indexes on type, category, failed: what a rare match needs). The two
        parts are disjoint id ranges, so the page is the same.
        """
        if flt is not None and flt.terms and after_id is None and limit > 0:
            top = before_id - 1 if before_id is not None else await self.max_event_id()
            cut = top - SCAN_WINDOW
            if cut > 0:
                bounds = (since, until)
                newest = await self._query_page(flt, limit, cut, top, bounds, window=True)
                if len(newest) >= limit:
                    return newest
                older = await self._older_page(flt, limit - len(newest), cut, bounds)
                return newest + older
        where, params = filter_sql(flt)
        clauses = [where]
        if before_id is not None:
            clauses.append("id < ?")
            params.append(before_id)
        if after_id is not None:
            clauses.append("id > ?")
            params.append(after_id)
        if since is not None:
            clauses.append("ts >= ?")
            params.append(since)
        if until is not None:
            clauses.append("ts < ?")
            params.append(until)
        order = "ASC" if after_id is not None and before_id is None else "DESC"
        sql = (
            f"SELECT {EVENT_COLUMNS} FROM events WHERE {' AND '.join(clauses)} "
            f"ORDER BY id {order} LIMIT ?"
        )
        params.append(limit)
        return [event_from_row(r) for r in await self._fetchall(sql, params)]

    async def _query_page(
        self,
        flt: Filter,
        limit: int,
        low: int | None,
        high: int,
        bounds: tuple[float | None, float | None],
        *,
        window: bool,
    ) -> list[Event]:
        """Newest first, the matches with low < id <= high (query_events' two steps).

        window: a scan by id (NOT INDEXED: the planner would otherwise pick the type
        index and sort every match). Else the indexes; `+id` keeps the id bound from
        being taken for a scan by id, and only ids are sorted before the rows are read.
        """
        where, params = filter_sql(flt)
        clauses = [where, "+id <= ?" if not window else "id <= ?"]
        params.append(high)
        if low is not None:
            clauses.append("id > ?")
            params.append(low)
        since, until = bounds
        if since is not None:
            clauses.append("ts >= ?")
            params.append(since)
        if until is not None:
            clauses.append("ts < ?")
            params.append(until)
        params.append(limit)
        body = " AND ".join(clauses)
        if window:
            sql = (
                f"SELECT {EVENT_COLUMNS} FROM events NOT INDEXED WHERE {body} "
                "ORDER BY id DESC LIMIT ?"
            )
        else:
            sql = (
                f"SELECT {EVENT_COLUMNS} FROM events WHERE id IN "
                f"(SELECT id FROM events WHERE {body} ORDER BY id DESC LIMIT ?) ORDER BY id DESC"
            )
        return [event_from_row(r) for r in await self._fetchall(sql, params)]

    async def _older_page(
        self, flt: Filter, limit: int, high: int, bounds: tuple[float | None, float | None]
    ) -> list[Event]:
        """Newest first, the matches with id <= high: through the text index where it
        covers the ids and can narrow the filter (text_index.py), the rest from the table."""
        index = self.text_index
        match = text_index_match(flt) if index is not None else None
        covered = index.covered_to() if index is not None else -1
        if index is None or match is None or covered <= 0:
            return await self._query_page(flt, limit, None, high, bounds, window=False)
        page: list[Event] = []
        if covered < high:  # handed to the index, not in it yet: read from the table
            page = await self._query_page(flt, limit, covered, high, bounds, window=False)
            if len(page) >= limit:
                return page
        where, params = filter_sql(flt)
        since, until = bounds
        if since is not None:
            where += " AND ts >= ?"
            params.append(since)
        if until is not None:
            where += " AND ts < ?"
            params.append(until)
        ids = (0, min(covered, high))
        try:
            rows, took = await _in_thread(
                self._reader, _timed_page, match, ids, where, params, limit - len(page)
            )
        except sqlite3.Error as exc:
            raise store_faults.store_error(exc, self.path) or exc from None
        self._timed(took, "text index")
        index.queries += 1
        return page + [event_from_row(r) for r in rows]

    async def count_events(self, flt: Filter | None = None) -> int:
        where, params = filter_sql(flt)
        rows = await self._fetchall(f"SELECT COUNT(*) FROM events WHERE {where}", params)
        return int(rows[0][0])

    async def child_events(self, event_id: int) -> list[Event]:
        sql = f"SELECT {EVENT_COLUMNS} FROM events WHERE parent_id = ? ORDER BY id"
        return [event_from_row(r) for r in await self._fetchall(sql, [event_id])]

    async def unfinished_events(self) -> list[Event]:
        sql = (
            f"SELECT {EVENT_COLUMNS} FROM events WHERE status IN ('pending', 'processing') "
            "ORDER BY id"
        )
        return [event_from_row(r) for r in await self._fetchall(sql)]

    async def counts_by_type(self) -> list[tuple[str, str, int]]:
        rows = await self._fetchall(
            "SELECT category, type, COUNT(*) FROM events GROUP BY type ORDER BY 3 DESC"
        )
        return [(r[0], r[1], r[2]) for r in rows]

    async def counts_by_category(self) -> dict[str, int]:
        rows = await self._fetchall("SELECT category, COUNT(*) FROM events GROUP BY category")
        return {r[0]: r[1] for r in rows}

    # -- hooks ----------------------------------------------------------------

    async def list_hooks(self) -> list[Hook]:
        rows = await self._fetchall(f"SELECT {HOOK_COLUMNS} FROM hooks ORDER BY name")
        return [hook_from_row(r) for r in rows]

    @staticmethod
    def hook_upsert(hook: Hook) -> WriteOp:
        return (
            f"INSERT OR REPLACE INTO hooks ({HOOK_COLUMNS}) VALUES ({', '.join('?' * 14)})",
            (
                hook.name,
                json.dumps(hook.events),
                hook.file,
                hook.description,
                int(hook.enabled),
                hook.timeout,
                hook.run_count,
                hook.last_run,
                hook.created,
                hook.max_instructions,
                hook.max_memory_mb,
                hook.stack,
                policy_json(hook.policy),
                hook.disabled_reason,
            ),
        )

    # -- executions -----------------------------------------------------------

    async def executions(
        self,
        *,
        hook: str | None = None,
        event_id: int | None = None,
        status: str | None = None,
        only_failed: bool = False,
        include_dry_runs: bool = True,
        before_id: int | None = None,
        limit: int = 100,
    ) -> list[Execution]:
        clauses, params = ["1"], []
        for column, value in (("hook", hook), ("event_id", event_id), ("status", status)):
            if value is not None:
                clauses.append(f"{column} = ?")
                params.append(value)
        if only_failed:
            clauses.append("status != 'success'")
        if not include_dry_runs:
            clauses.append("dry_run = 0")
        if before_id is not None:
            clauses.append("id < ?")
            params.append(before_id)
        sql = (
            f"SELECT {EXEC_COLUMNS} FROM executions WHERE {' AND '.join(clauses)} "
            "ORDER BY id DESC LIMIT ?"
        )
        params.append(limit)
        return [execution_from_row(r) for r in await self._fetchall(sql, params)]

    async def hook_outcomes(self, event_ids: Sequence[int]) -> dict[int, list[tuple[str, str]]]:
        """(hook, status) of the real runs of each event, oldest first: what the event
        table marks, read in one query per 500 events instead of whole executions."""
        outcomes: dict[int, list[tuple[str, str]]] = {i: [] for i in event_ids}
        ids = list(outcomes)
        for start in range(0, len(ids), 500):
            chunk = ids[start : start + 500]
            rows = await self._fetchall(
                "SELECT event_id, hook, status FROM executions WHERE dry_run = 0 "
                f"AND event_id IN ({', '.join('?' * len(chunk))}) ORDER BY id",
                chunk,
            )
            for event_id, hook, status in rows:
                outcomes[event_id].append((hook, status))
        return outcomes

    async def finished_hooks_for(self, event_id: int) -> set[str]:
        rows = await self._fetchall(
            "SELECT hook FROM executions WHERE event_id = ? AND dry_run = 0", [event_id]
        )
        return {r[0] for r in rows}

    async def hook_stats(self, window: int = 1000) -> dict[str, HookStats]:
        """Counts over all real runs; percentiles over each hook's last `window` runs."""
        totals = await self._fetchall(
            "SELECT hook, COUNT(*), SUM(status NOT IN ('success', 'skipped')), AVG(duration_ms), "
            "MAX(started) FROM executions WHERE dry_run = 0 GROUP BY hook"
        )
        stats: dict[str, HookStats] = {}
        for name, runs, failures, avg, last in totals:
            recent = await self._fetchall(
                "SELECT duration_ms FROM executions WHERE hook = ? AND dry_run = 0 "
                "ORDER BY id DESC LIMIT ?",
                [name, window],
            )
            durations = sorted(r[0] for r in recent)
            stats[name] = HookStats(
                name,
                runs,
                failures or 0,
                avg or 0.0,
                percentile(durations, 50),
                percentile(durations, 95),
                last,
            )
        return stats

    # -- state (per-hook key/value) ------------------------------------------------

    async def state_get(self, hook: str, key: str) -> Any:
        rows = await self._fetchall(
            "SELECT value FROM state WHERE hook = ? AND key = ?", [hook, key]
        )
        if not rows:
            return None
        try:
            return json.loads(rows[0][0])
        except (ValueError, TypeError):  # written by hand or by a bug: not ours to guess
            self.state_damaged(hook, key, "invalid_json")
            raise StoreError(
                f"the stored value of {key!r} is damaged (not JSON); "
                "state.set a new value to replace it"
            ) from None

    def state_damaged(self, hook: str, key: str, corruption_type: str) -> None:
        """state.corrupted for (hook, key), once per engine life."""
        if self.watcher is None or (hook, key) in self._damaged_state:
            return
        self._damaged_state.add((hook, key))
        data = {"state_key": key, "namespace": hook, "corruption_type": corruption_type}
        self.watcher.store_event("state.corrupted", data)

    async def damaged_state(self, limit: int = 20) -> tuple[list[tuple[str, str]], int]:
        """The start-up integrity check of the state table: (hook, key) of values that
        are not JSON (the first `limit`), and how many there are. SQLite's json_valid
        refuses the Infinity and NaN Python's json writes, so each is checked again."""
        rows = await self._fetchall(
            "SELECT hook, key, value FROM state WHERE json_valid(value) = 0 LIMIT 10000"
        )
        damaged = []
        for hook, key, value in rows:
            try:
                json.loads(value)
            except (ValueError, TypeError):
                damaged.append((str(hook), str(key)))
        return damaged[:limit], len(damaged)

    # -- http marks (see schema migration 4) ---------------------------------------

    async def http_marks(self) -> set[tuple[int, str]]:
        """(event id, hook) of runs that started an http call and never committed."""
        rows = await self._fetchall("SELECT event_id, hook FROM http_marks")
        return {(int(r[0]), str(r[1])) for r in rows}

    # -- retention ------------------------------------------------------------

    @staticmethod
    def cleanup_ops(cutoff_ts: float) -> list[WriteOp]:
        return [
            (
                "DELETE FROM executions WHERE event_id IN (SELECT id FROM events WHERE ts < ?)",
                (cutoff_ts,),
            ),
            ("DELETE FROM events WHERE ts < ?", (cutoff_ts,)),
        ]

    @staticmethod
    def cap_ops(max_id_to_drop: int) -> list[WriteOp]:
        return [
            ("DELETE FROM executions WHERE event_id <= ? AND dry_run = 0", (max_id_to_drop,)),
            ("DELETE FROM events WHERE id <= ?", (max_id_to_drop,)),
        ]

    async def count_older_than(self, cutoff_ts: float) -> int:
        rows = await self._fetchall("SELECT COUNT(*) FROM events WHERE ts < ?", [cutoff_ts])
        return int(rows[0][0])

    async def delete_older_than(self, cutoff_ts: float) -> None:
        """Events stored before cutoff_ts go, with their executions."""
        await self.write(*self.cleanup_ops(cutoff_ts))

    def trim_later(self, max_id_to_drop: int) -> None:
        """The retention cap: events up to max_id_to_drop go (and their real runs),
        with the next round; nobody waits on it."""
        self.write_later(*self.cap_ops(max_id_to_drop))

    async def delete_event(self, event_id: int) -> None:
        """The event and its executions (none: nothing happens)."""
        await self.write(
            ("DELETE FROM executions WHERE event_id = ?", (event_id,)),
            ("DELETE FROM events WHERE id = ?", (event_id,)),
        )

    # -- intent-level writes ----------------------------------------------------------

    def write_event(self, event: Event, encoded: str | None = None) -> asyncio.Future[None]:
        """Insert one event (`encoded`: its data's JSON text when already made)."""
        return self.write((INSERT_EVENT, event_row(event, encoded)))

    def write_events(self, events: Sequence[tuple[Event, str | None]]) -> asyncio.Future[None]:
        """Insert events, each with its data's JSON text when already made: one write."""
        return self.write(*[(INSERT_EVENT, event_row(e, encoded)) for e, encoded in events])

    def set_status_later(self, event_id: int, status: str) -> None:
        """An event's new status, with the next round (nobody waits on it; held through a
        full disk)."""
        self.write_later((UPDATE_STATUS, (status, event_id)), keep=True)

    def record_later(self, execution: Execution, hook: str) -> None:
        """A real run's record (run_record_ops), with the next round."""
        self.write_later(*run_record_ops(execution, hook))

    def execution_later(self, execution: Execution) -> None:
        """An execution row alone (a run recorded as skipped), with the next round."""
        self.write_later((INSERT_EXECUTION, execution_row(execution)))

    async def record_execution(self, execution: Execution) -> None:
        """An execution row alone (a dry run: no hook counter moves)."""
        await self.write((INSERT_EXECUTION, execution_row(execution)))

    async def save_hook(self, hook: Hook) -> None:
        await self.write(self.hook_upsert(hook))

    async def delete_hook(self, name: str) -> None:
        """The hook and its state (its executions stay, as history)."""
        await self.write(
            ("DELETE FROM hooks WHERE name = ?", (name,)),
            ("DELETE FROM state WHERE hook = ?", (name,)),
        )

    def write_state(self, hook: str, key: str, kind: str, value: Any) -> asyncio.Future[None]:
        """One state write (state_op), committed at once."""
        return self.write(state_op(hook, key, kind, value))

    def mark_http(self, event_id: int, hook: str, ts: float) -> asyncio.Future[None]:
        """Before a run's first http request: a crash after this is known at restart."""
        return self.write((INSERT_HTTP_MARK, (event_id, hook, ts)))

    async def recorded_runs_of_unfinished(self) -> dict[int, dict[str, str]]:
        """For recovery: per unfinished event, the hooks with a real run recorded, each
        with the status of its latest run (a failed one makes the event failed)."""
        recorded: dict[int, dict[str, str]] = {}
        for event_id, hook, status in await self._fetchall(RECORDED_RUNS):
            recorded.setdefault(event_id, {})[hook] = status
        return recorded

    async def mirrored(
        self, keys: Sequence[str]
    ) -> dict[str, tuple[int | None, str | None, str | None]]:
        """Of these foreign keys, those already taken in: key -> (local event id, its type,
        its status here); the last two are None for a run's key or a trimmed event."""
        found: dict[str, tuple[int | None, str | None, str | None]] = {}
        unique = list(dict.fromkeys(keys))
        for start in range(0, len(unique), 500):  # SQLite's bound-parameter limit
            chunk = unique[start : start + 500]
            marks = ",".join("?" * len(chunk))
            rows = await self._fetchall(
                "SELECT m.key, m.local_id, e.type, e.status FROM mirrored m "
                f"LEFT JOIN events e ON e.id = m.local_id WHERE m.key IN ({marks})",
                chunk,
            )
            for key, local_id, type_, status in rows:
                found[key] = (local_id, type_, status)
        return found

    async def own_event_runs_since(self, since: float) -> list[tuple[str, int, int, str | None]]:
        """This engine's own runs triggered by an event (trigger NULL, origin NULL, not dry
        runs) started at `since` or later, newest first: (hook, execution id, event id,
        the event's mirror key when it was taken in from elsewhere, else None). For the
        fleet's start (engine/fleet_runs.py)."""

        def read(conn: sqlite3.Connection) -> list[tuple[str, int, int, str | None]]:
            found: list[tuple[str, int, int, str | None]] = []
            foreign: set[int] = set()
            # Newest first by id, stopping a minute before `since`: runs are recorded
            # about in start order, so no index on `started` is needed.
            cursor = conn.execute(
                "SELECT x.id, x.hook, x.event_id, x.started, e.origin FROM executions x "
                "JOIN events e ON e.id = x.event_id "
                "WHERE x.trigger IS NULL AND x.origin IS NULL AND x.dry_run = 0 "
                "ORDER BY x.id DESC"
            )
            for exec_id, hook, event_id, started, origin in cursor:
                if started < since - 60:
                    break
                if started >= since:
                    found.append((hook, exec_id, event_id, origin))
                    if origin is not None:
                        foreign.add(event_id)
            keys: dict[int, str] = {}
            if foreign:  # `mirrored` is keyed by key: one scan, not one per run
                rows = conn.execute(
                    "SELECT key, local_id FROM mirrored WHERE local_id >= ?", (min(foreign),)
                )
                keys = {local: key for key, local in rows if local in foreign}
            return [
                (hook, exec_id, event_id, None if origin is None else keys[event_id])
                for hook, exec_id, event_id, origin in found
                if origin is None or event_id in keys
            ]

        result: list[tuple[str, int, int, str | None]] = await _in_thread(self._reader, read)
        return result

    async def cursor(self, name: str) -> str | None:
        rows = await self._fetchall("SELECT value FROM cursors WHERE name = ?", (name,))
        return str(rows[0][0]) if rows else None

    async def run_readonly(self, fn: Callable[[sqlite3.Connection], Any]) -> Any:
        """fn(reader connection) in the reader's thread: for tests and diagnostics that
        look at the file directly. The engine itself asks the calls above."""
        try:
            return await _in_thread(self._reader, fn)
        except sqlite3.Error as exc:
            raise store_faults.store_error(exc, self.path) or exc from None


# Re-exported: the row helpers are part of the store's interface for its callers.
__all__ = [
    "INSERT_EVENT",
    "INSERT_EXECUTION",
    "Store",
    "StoreError",
    "event_row",
    "execution_row",
    "percentile",
]
