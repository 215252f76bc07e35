"""A trigram index of every event's text, in a file beside the store (issue 19).

Why. Free text and data fields match by substring, so without an index a rare match
reads every event: about 0.3 s per million. An FTS5 trigram index answers "which rows
hold all these trigrams" in a millisecond or two; the query then applies the filter's
own SQL to those rows (filter_sql.text_index_match says why they are a superset).

Shape, and the measurements behind it (1M events of the `bench --scale` mix, raw sqlite3):
- Contentless, `detail=none`, `columnsize=0`: 89 bytes per event, filled at 87k events/s.
  With positions (`detail=full`) it was 435 bytes at 24k/s. Without positions a query
  is an AND of single trigrams, not a phrase: still a superset.
- A file of its own (`<store>-text`), its own connection and thread, the store attached
  read-only: a batch is one INSERT ... SELECT in C, and it never takes the store's
  write lock, so the writer (and every hook run) never waits for it. Losing the file
  loses nothing: it is rebuilt from the events.
- Columns: the casefolded type (t), the casefolded stored data text (d) and, when the
  stored text has `\\u` escapes, the casefolded decoded text (e): what the filter's free
  text and its instr checks look in. ASCII rows are folded by SQLite's lower() (the same
  for ASCII); others by Python.
- Partitions of 2**PART_BITS ids (`p<k>`): a contentless table cannot delete a row
  without its text, so retention drops whole partitions once every id in them is gone.

When. Writes come first: it indexes once commits pause for QUIET seconds, or once
MAX_LAG ids wait, whichever is first; and its thread runs NICER, so that indexing beside
sustained writes takes the CPU they leave (socket ingest of 400k events, interleaved
pairs: 32.8k events/s against 31.2k at the usual priority; 34.4k against 36.1k with no
index, in a later pair of runs).

Which rows it holds. The store hands over the ids of the events each round committed
(`committed`); they are indexed in that order. Ids come from one counter, but a hook's
child event commits with its run, after events with higher ids: so the index vouches for
every id up to `covered_to()`, one below the lowest id handed over and not indexed yet;
queries read the ids above it from the table.

Across restarts. Closing with nothing out of order left to index writes `clean` with
the last id vouched for and that event's time and type. Opening finds the index current
only if all of that still holds; then it indexes the events after that id. Anything else
(a crash, a store put back from a backup, a damaged file) and the file is made anew and
filled from the oldest event up, while queries read the rest from the table.

A failure in here never stops the store: it is logged once, and queries stop using the
index until the next start. A full disk is not a failure: indexing waits, and catches up
once space returns.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import sqlite3
import sys
import threading
from collections import deque
from collections.abc import Sequence
from pathlib import Path
from typing import Any
from urllib.parse import quote

from sloth_tui.engine.filter_sql import register_sql_functions
from sloth_tui.engine.private import TEXT_INDEX_SUFFIX, create_private_file
from sloth_tui.engine.sqlite_thread import SqliteThread
from sloth_tui.engine.store_faults import means_full_disk
from sloth_tui.model.filters import data_text

PART_BITS = 18  # ids per partition: 262,144
BATCH = 4000  # ids per indexing transaction
# Writes first: indexing waits until the store has had no commit for QUIET seconds, or
# until MAX_LAG ids wait (queries read those from the table: ~30 ms per 100k). Indexing
# beside writes at full speed cost them 13-20% (bench A/B: socket 58.5k -> 51k events/s,
# dispatch_ratio 0.96 -> 0.74); a burst shorter than MAX_LAG now pays nothing for it.
QUIET = 0.1
MAX_LAG = 100_000
EVERYTHING = (1 << 63) - 1  # covered_to() when nothing is waiting
CLOSE_TIMEOUT = 5.0
FULL_RETRY = 2.0  # seconds between tries while the disk is full
# The indexing thread's nice value, above the process's (Linux, where a thread has its
# own): on a busy machine the scheduler gives the cores to the writer, the loop and the
# hooks first, and the index takes what they leave.
NICER = 10
log = logging.getLogger("sloth_tui.store")

_FOLD = "CASE WHEN length(CAST({c} AS BLOB)) = length({c}) THEN lower({c}) ELSE sloth_fold({c}) END"
_ROWS = (
    f"SELECT id, {_FOLD.format(c='type')}, {_FOLD.format(c='data')}, "
    "CASE WHEN instr(data, '\\u') > 0 THEN sloth_fold_decoded(data) ELSE '' END "
    "FROM store.events WHERE id BETWEEN ? AND ?"
)
_COLUMNS = "type_text, data_text, decoded_text"
_TABLE = (
    f"CREATE VIRTUAL TABLE IF NOT EXISTS main.p{{k}} USING fts5({_COLUMNS}, content='', "
    "tokenize='trigram case_sensitive 1', detail=none, columnsize=0)"
)
_PARTS = (
    "SELECT name FROM {schema}.sqlite_master WHERE type = 'table' AND name GLOB 'p[0-9]*' "
    "AND sql LIKE 'CREATE VIRTUAL TABLE%'"
)


def index_path(store_path: Path) -> Path:
    return store_path.with_name(store_path.name + TEXT_INDEX_SUFFIX)


def part_of(event_id: int) -> int:
    return event_id >> PART_BITS


def _bindable_text(text: str) -> str:
    """`text` as SQLite can take it: a lone surrogate becomes '?' (no query asks for one)."""
    try:
        text.encode()
    except UnicodeEncodeError:
        return text.encode("utf-8", "replace").decode()
    return text


def _fold(text: str) -> str:
    return _bindable_text(text.casefold())


def _fold_decoded(stored: str) -> str:
    """The decoded data's text (model.filters.stored_data_text), casefolded."""
    try:
        return _bindable_text(data_text(json.loads(stored)).casefold())
    except (ValueError, RecursionError):  # not JSON after all: its own text is indexed
        return ""


def _runs(ids: Sequence[int]) -> list[tuple[int, int]]:
    """Sorted ids as (first, last) runs of consecutive ids."""
    if ids and ids[-1] - ids[0] == len(ids) - 1 and list(ids) == list(range(ids[0], ids[-1] + 1)):
        return [(ids[0], ids[-1])]  # a round's events, most often: checked in C
    runs: list[tuple[int, int]] = []
    for i in sorted(ids):
        if runs and i <= runs[-1][1] + 1:
            runs[-1] = (runs[-1][0], max(runs[-1][1], i))
        else:
            runs.append((i, i))
    return runs


# -- the index's thread -----------------------------------------------------------------


def _setup(conn: sqlite3.Connection, store: str) -> None:
    conn.execute("PRAGMA busy_timeout=5000")
    conn.execute("PRAGMA journal_mode=WAL").fetchall()
    conn.execute("PRAGMA synchronous=NORMAL")
    # Read-only: nothing in here may ever write the store.
    conn.execute("ATTACH DATABASE ? AS store", (f"file:{quote(store)}?mode=ro",))
    conn.execute("CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)")
    conn.create_function("sloth_fold", 1, _fold, deterministic=True)
    conn.create_function("sloth_fold_decoded", 1, _fold_decoded, deterministic=True)
    register_sql_functions(conn)


def _fingerprint(conn: sqlite3.Connection, event_id: int) -> str | None:
    row = conn.execute("SELECT ts, type FROM store.events WHERE id = ?", (event_id,)).fetchone()
    return None if row is None else json.dumps([row[0], row[1]])


def _open_state(conn: sqlite3.Connection, store: str) -> tuple[int, int, bool]:
    """(first id to index, last id to index, whether the file was made anew), and the
    file marked not clean until close says otherwise."""
    _setup(conn, store)
    meta = dict(conn.execute("SELECT key, value FROM meta").fetchall())
    lowest, highest = conn.execute("SELECT min(id), max(id) FROM store.events").fetchone()
    lowest, highest = int(lowest or 1), int(highest or 0)
    current = False
    if meta.get("clean") == "1" and "through" in meta:
        through = int(meta["through"])
        current = through == 0 or (
            through <= highest and _fingerprint(conn, through) == meta.get("fingerprint")
        )
        # Events below the partitions retention dropped (a store put back from a
        # backup older than the drop) would be in no partition.
        current = current and lowest >= int(meta.get("floor", "0"))
    fresh = not current
    if fresh:
        for (name,) in conn.execute(_PARTS.format(schema="main")).fetchall():
            conn.execute(f'DROP TABLE main."{name}"')
        first = lowest
        conn.execute("DELETE FROM meta WHERE key = 'floor'")
    else:
        first = int(meta["through"]) + 1
    conn.execute("INSERT OR REPLACE INTO meta VALUES ('clean', '0')")
    _drop_gone(conn, lowest)
    return first, highest, fresh


def _drop_gone(conn: sqlite3.Connection, lowest: int) -> list[int]:
    """Partitions whose every id is below the lowest event left: retention took them."""
    dropped = []
    for (name,) in conn.execute(_PARTS.format(schema="main")).fetchall():
        k = int(name[1:])
        if (k + 1) << PART_BITS <= lowest:
            conn.execute(f"DROP TABLE main.p{k}")
            dropped.append(k)
    if dropped:
        floor = (max(dropped) + 1) << PART_BITS
        conn.execute("INSERT OR REPLACE INTO meta VALUES ('floor', ?)", (str(floor),))
    return dropped


def _index(conn: sqlite3.Connection, runs: list[tuple[int, int]]) -> int:
    """Index the events with ids in `runs`, one transaction. Returns rows indexed."""
    done = 0
    conn.execute("BEGIN")
    try:
        for first, last in runs:
            while first <= last:
                k = part_of(first)
                upto = min(last, ((k + 1) << PART_BITS) - 1)
                conn.execute(_TABLE.format(k=k))
                cur = conn.execute(
                    f"INSERT INTO main.p{k}(rowid, {_COLUMNS}) {_ROWS}", (first, upto)
                )
                done += max(cur.rowcount, 0)
                first = upto + 1
        conn.execute("COMMIT")
    except BaseException:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        raise
    return done


def _run_nicer(conn: sqlite3.Connection) -> None:
    """In the index's thread: lower that thread's CPU priority (see NICER)."""
    if not sys.platform.startswith("linux"):
        return  # elsewhere setpriority(PRIO_PROCESS) takes a process, not a thread
    with contextlib.suppress(OSError):
        tid = threading.get_native_id()
        os.setpriority(os.PRIO_PROCESS, tid, min(19, os.getpriority(os.PRIO_PROCESS, tid) + NICER))


def _close_state(conn: sqlite3.Connection, through: int | None) -> None:
    """Mark the file current through `through`, or leave it to be made anew (None)."""
    if through is None:
        return
    fingerprint = _fingerprint(conn, through) if through else None
    if through and fingerprint is None:  # that event is gone: nothing to check it by
        return
    conn.execute("BEGIN")
    conn.execute("INSERT OR REPLACE INTO meta VALUES ('through', ?)", (str(through),))
    conn.execute("INSERT OR REPLACE INTO meta VALUES ('fingerprint', ?)", (fingerprint or "",))
    conn.execute("INSERT OR REPLACE INTO meta VALUES ('clean', '1')")
    conn.execute("COMMIT")


def _lowest(conn: sqlite3.Connection) -> int:
    row = conn.execute("SELECT min(id) FROM store.events").fetchone()
    return int(row[0] or 0)


# -- the loop's side --------------------------------------------------------------------


class TextIndex:
    """The index of one store (see the module doc). Made by `open`, on the loop."""

    def __init__(self, conn: SqliteThread, path: Path, first: int, last: int, fresh: bool):
        self._conn = conn
        self.path = path
        self.fresh = fresh  # made anew at this open (for tests and the curious)
        # Ids handed over and not indexed yet, as runs, oldest hand-over first.
        self._waiting: deque[tuple[int, int]] = deque()
        if first <= last:
            self._waiting.append((first, last))
        self._busy: list[tuple[int, int]] = []  # being indexed now
        self._top = max(last, 0)  # the highest id handed over or found at open
        self._indexed_top = 0 if fresh else first - 1  # the highest id indexed
        self._idle = asyncio.Event()  # nothing waiting
        if not self._waiting:
            self._idle.set()
        self.indexed = 0  # rows indexed since open
        self.queries = 0  # pages read through it (the store counts them)
        self.failed: str | None = None
        self._stalled = False  # the disk is full: indexing waits for space
        self.paused = False  # tests: hold the indexing (the seam for "not yet indexed")
        self._wake = asyncio.Event()
        self._wake.set()
        self._loop = asyncio.get_running_loop()
        self._last_commit = 0.0  # loop time of the last hand-over
        self._hurry = False  # index now, pause or not (wait_indexed, close)
        self._task = asyncio.create_task(self._run(), name="store-text-index")

    @classmethod
    async def open(cls, store_path: Path) -> TextIndex | None:
        """The index beside the store at store_path, or None when SQLite here has no
        FTS5 trigram tokenizer or the file cannot be made (said once in the log)."""
        path = index_path(store_path)
        conn: SqliteThread | None = None
        try:
            create_private_file(path)  # it holds the events' text, folded: as private
            conn = await _connect(path)
            try:
                first, last, fresh = await conn.call(_open_state, str(store_path))
            except sqlite3.DatabaseError as exc:
                if "no such tokenizer" in str(exc) or "no such module" in str(exc):
                    raise
                # A damaged or foreign file: it holds nothing the events cannot give again.
                log.warning("%s: text index unreadable (%s); making it anew", path, exc)
                await conn.close()
                conn = None
                for suffix in ("", "-wal", "-shm"):
                    with contextlib.suppress(FileNotFoundError):
                        Path(f"{path}{suffix}").unlink()
                create_private_file(path)
                conn = await _connect(path)
                first, last, fresh = await conn.call(_open_state, str(store_path))
            # Creating a partition now says at once whether this SQLite has the trigram
            # tokenizer (3.34+) and FTS5.
            await conn.call(lambda c: c.execute(_TABLE.format(k=part_of(max(first, 1)))))
            await conn.call(_run_nicer)
        except (sqlite3.Error, OSError) as exc:
            log.warning("%s: no text index, filters read every event (%s)", path, exc)
            if conn is not None:
                with contextlib.suppress(sqlite3.Error, ValueError):
                    await conn.close()
            return None
        return cls(conn, path, first, last, fresh)

    def committed(self, ids: Sequence[int]) -> None:
        """On the loop, after a commit: these event ids are in the store now."""
        if self.failed is not None or not ids:
            return
        waiting = self._waiting
        for first, last in _runs(ids):
            if waiting and first == waiting[-1][1] + 1:
                waiting[-1] = (waiting[-1][0], last)
            else:
                waiting.append((first, last))
            self._top = max(self._top, last)
        self._last_commit = self._loop.time()
        self._idle.clear()
        self._wake.set()

    def covered_to(self) -> int:
        """Every stored event with an id up to this one is in the index (-1: none is,
        the index failed)."""
        if self.failed is not None:
            return -1
        firsts = [r[0] for r in self._busy] + [r[0] for r in self._waiting]
        return min(firsts) - 1 if firsts else EVERYTHING

    @property
    def waiting(self) -> int:
        """Ids handed over and not indexed yet (at most: some may never have committed)."""
        runs = list(self._busy) + list(self._waiting)
        return sum(last - first + 1 for first, last in runs)

    def _take(self) -> list[tuple[int, int]]:
        taken: list[tuple[int, int]] = []
        room = BATCH
        while self._waiting and room > 0:
            first, last = self._waiting[0]
            if last - first + 1 <= room:
                self._waiting.popleft()
                taken.append((first, last))
                room -= last - first + 1
            else:
                self._waiting[0] = (first + room, last)
                taken.append((first, first + room - 1))
                room = 0
        return taken

    async def _run(self) -> None:
        checked_at = 0
        while True:
            await self._wake.wait()
            if self.paused or not self._waiting:
                self._wake.clear()
                continue
            quiet = self._last_commit + QUIET - self._loop.time()
            if quiet > 0 and self.waiting < MAX_LAG and not self._hurry:
                # Writes are coming: let them have the cores. Each commit wakes this
                # up again (the lag may have passed MAX_LAG).
                self._wake.clear()
                try:
                    await asyncio.wait_for(self._wake.wait(), quiet)
                except TimeoutError:
                    self._wake.set()  # the pause came: look again, now
                continue
            self._busy = self._take()
            try:
                self.indexed += await self._conn.call(_index, self._busy)
                if self._stalled:
                    self._stalled = False
                    log.info("%s: text index: space returned, indexing again", self.path)
                self._indexed_top = max(self._indexed_top, self._busy[-1][1])
                if self.indexed - checked_at >= 1 << PART_BITS:
                    checked_at = self.indexed
                    lowest = await self._conn.call(_lowest)
                    await self._conn.call(_drop_gone, lowest)
            except (sqlite3.Error, ValueError) as exc:  # ValueError: closed meanwhile
                if self._full_disk(exc):
                    # Not a failure: what it could not index waits (queries read those
                    # ids from the table meanwhile), and it tries again.
                    self._waiting.extendleft(reversed(self._busy))
                    self._busy = []
                    await asyncio.sleep(FULL_RETRY)
                    continue
                self.failed = " ".join(str(exc).split()) or type(exc).__name__
                log.warning(
                    "%s: text index failed (%s); filters read every event until the next start",
                    self.path,
                    self.failed,
                )
                return
            finally:
                self._busy = []
                if not self._waiting:
                    self._idle.set()

    def _full_disk(self, exc: BaseException) -> bool:
        """`exc` says the disk is full (said once per episode)."""
        full = means_full_disk(exc, self.path.parent)
        if full and not self._stalled:
            self._stalled = True
            log.warning(
                "%s: text index waits: the disk is full (filters read the events it has "
                "not indexed yet from the table)",
                self.path,
            )
        return full

    def resume(self) -> None:
        self.paused = False
        self._wake.set()

    async def wait_indexed(self) -> None:
        """Index everything handed over so far without waiting for a pause in the
        writes; return once it is (or the index failed)."""
        if self.failed is None and not self._task.done():
            self._hurry = True
            self._wake.set()
            try:
                await self._idle.wait()
            finally:
                self._hurry = False

    async def close(self, drain: float = CLOSE_TIMEOUT) -> None:
        """Index what is waiting (for up to `drain` seconds), mark the file current if
        nothing out of order is left, and close."""
        with contextlib.suppress(TimeoutError):
            if not self.paused:
                await asyncio.wait_for(self.wait_indexed(), drain)
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task
        through: int | None = None
        if self.failed is None:
            runs = list(self._busy) + list(self._waiting)
            # What is left must all lie above what was indexed: then the next open
            # indexes from there. Otherwise it starts anew.
            if not runs:
                through = self._top
            elif min(r[0] for r in runs) > self._indexed_top:
                through = min(r[0] for r in runs) - 1
        with contextlib.suppress(sqlite3.Error, ValueError, TimeoutError):
            await asyncio.wait_for(self._conn.call(_close_state, through), CLOSE_TIMEOUT)
        with contextlib.suppress(sqlite3.Error, ValueError, TimeoutError):
            await asyncio.wait_for(self._conn.close(), CLOSE_TIMEOUT)


async def _connect(path: Path) -> SqliteThread:
    return await SqliteThread.connect(
        f"file:{quote(str(path))}", name="sloth-store-text", isolation_level=None, uri=True
    )


def _indexed_page_sql(k: int, columns: str, where: str) -> str:
    """Newest first, the rows of partition k the index offers that `where` accepts, with
    ids in (?, ?]; parameters: the FTS5 query, the two bounds, where's, the limit.

    CROSS JOIN keeps the index outside, walked down by rowid: it stops at the limit."""
    return (
        f"SELECT {columns} FROM textix.p{k}(?) AS f CROSS JOIN events ON events.id = f.rowid "
        f"WHERE f.rowid > ? AND f.rowid <= ? AND {where} ORDER BY f.rowid DESC LIMIT ?"
    )


def indexed_rows(
    conn: sqlite3.Connection,
    columns: str,
    match: str,
    bounds: tuple[int, int],
    where: str,
    params: Sequence[Any],
    limit: int,
) -> list[Any]:
    """Runs in the reader's thread: events with ids in (low, high] that the index offers
    and `where` accepts, newest first, partition by partition, in one read transaction
    (a partition dropped meanwhile stays readable to it). `columns`: events' columns,
    each qualified `events.`."""
    low, high = bounds
    rows: list[Any] = []
    began = not conn.in_transaction
    if began:
        conn.execute("BEGIN")
    try:
        parts = [int(n[1:]) for (n,) in conn.execute(_PARTS.format(schema="textix")).fetchall()]
        lowest, highest = part_of(max(low, 0)), part_of(high)
        for k in sorted((k for k in parts if lowest <= k <= highest), reverse=True):
            sql = _indexed_page_sql(k, columns, where)
            rows += conn.execute(sql, [match, low, high, *params, limit - len(rows)]).fetchall()
            if len(rows) >= limit:
                break
    finally:
        if began:
            conn.execute("COMMIT")
    return rows


def attach(conn: sqlite3.Connection, path: str) -> None:
    """Runs in the reader's thread: the index readable to its queries as `textix`."""
    conn.execute("ATTACH DATABASE ? AS textix", (path,))
