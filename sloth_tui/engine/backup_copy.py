"""Backups and restores of the store: the SQLite and file parts, with no click and no engine.

A backup is SQLite's online backup API run from a connection of its own, while an engine
may be writing. That connection holds one read transaction for the whole copy: in WAL
mode a reader never blocks the writer, and the copy is the snapshot the transaction
began with. Without it, every commit by the engine between two steps restarts the copy
from page 1, and under a steady stream of events it never finishes (tried: it ran past a
minute on a 4 MB store). The copy goes to a hidden `.partial` name, is checked (PRAGMA
quick_check, and that it is a sloth-tui store), made a one-file database (journal_mode
DELETE), fsynced, and only then renamed to its real name: a failed, full-disk or
interrupted backup leaves nothing that looks like a backup.

A restore copies the file the same way into a hidden name beside the store, checks it
harder (PRAGMA integrity_check, the schema version), and swaps it in with one rename.
The store it replaces is kept as `sloth.db.pre-restore-<time>` (a hard link: instant,
and it works on a damaged store), its -wal with it, so a restore can be undone by
restoring that file. The old -wal and -shm must not stay beside the new file: SQLite
would apply the old store's log to it.

The [backup] table of config.toml is parsed here too, so a scheduled backup (issue 16's
schedules) can use the same settings as the command.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import re
import secrets
import shutil
import sqlite3
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

from sloth_tui.config import ConfigError, Settings
from sloth_tui.engine import store_faults
from sloth_tui.engine.private import DB_SUFFIXES, TEXT_INDEX_SUFFIX, make_private_dir
from sloth_tui.engine.schema import SCHEMA_VERSION
from sloth_tui.engine.store_faults import check_problems, identity_path, read_identity
from sloth_tui.model.errors import SlothError
from sloth_tui.user_path import resolved

STEP_PAGES = 256  # pages per backup step (1 MiB at 4 KiB pages): Ctrl-C is seen between
KEEP_MAX = 100_000
BUSY_MS = 5000  # a daemon's commit never holds a reader back this long
# The names this command gives its backups; retention touches nothing else.
BACKUP_NAME = re.compile(r"^sloth-backup-(\d{8}T\d{6}\.\d{3}Z)\.db$")
PARTIAL_SUFFIX = ".partial"
SIDE_SUFFIX = ".pre-restore-"
# What a database file brings along: the journal of a copy cut short, and WAL's files.
_COMPANIONS = ("-journal", "-wal", "-shm")


class BackupError(SlothError):
    """A backup or restore that did not happen; one line that says why."""


class BackupCancelled(BackupError):
    pass


class CopyCancel:
    """Cancels a copy running in another thread. The copy looks at it between two steps
    and, under the same lock, just before its rename; so a cancel either stops the copy
    or finds the backup already in its place and takes it back. An interrupted backup
    leaves no backup, even one interrupted in the last moment (seen in CI: exit 130 and a
    whole backup on disk). With --overwrite the file it replaced is gone already, so
    then the new one is left."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._set = False
        self._placed: Path | None = None  # renamed into place, and may be taken back

    def is_set(self) -> bool:
        return self._set

    def place(self, tmp: Path, dest: Path, *, take_back: bool) -> None:
        with self._lock:
            if self._set:
                raise BackupCancelled("interrupted: no backup was made")
            os.replace(tmp, dest)
            self._placed = dest if take_back else None

    def set(self) -> None:
        with self._lock:
            self._set = True
            placed, self._placed = self._placed, None
        if placed is not None:
            with contextlib.suppress(OSError):
                placed.unlink()


# -- [backup] in config.toml ----------------------------------------------------------


@dataclass(frozen=True, slots=True)
class BackupSettings:
    dir: Path  # where `sloth-tui backup` writes when no --to is given
    keep: int | None  # the newest N backups kept in dir; None: all of them
    # `serve` backs up on this cron (sources/backup_schedule.py checks it); None: never
    schedule: str | None = None
    timezone: str = "UTC"


def backup_settings(settings: Settings) -> BackupSettings:
    """[backup] dir = "PATH" (relative to the data dir; ~ expanded), keep = N."""
    where = f"{settings.config_file} [backup]"
    raw = settings.table("backup")
    default_dir = settings.home / "backups"
    if raw is None:
        return BackupSettings(default_dir, None)
    if not isinstance(raw, dict):
        raise ConfigError(f'{where}: must be a table, e.g. [backup] keep = 7, dir = "backups"')
    unknown = sorted(set(raw) - {"dir", "keep", "schedule", "timezone"})
    if unknown:
        raise ConfigError(
            f"{where}: unknown setting {unknown[0]!r} (known: dir, keep, schedule, timezone)"
        )
    texts = {}
    for key in ("schedule", "timezone"):
        if key in raw:
            value = raw[key]
            if not isinstance(value, str) or not value.strip():
                raise ConfigError(f'{where}: {key} = {value!r} is not text, e.g. "0 3 * * *"')
            texts[key] = value
    folder = default_dir
    if "dir" in raw:
        value = raw["dir"]
        if not isinstance(value, str) or not value.strip() or "\x00" in value:
            raise ConfigError(f'{where}: dir = {value!r} is not a path, e.g. dir = "backups"')
        folder = settings.home / Path(os.path.expanduser(value))
    keep: int | None = None
    if "keep" in raw:
        value = raw["keep"]
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(f"{where}: keep = {value!r} is not a whole number, e.g. keep = 7")
        if not 1 <= value <= KEEP_MAX:
            raise ConfigError(f"{where}: keep = {value!r} is out of range (1 to {KEEP_MAX})")
        keep = value
    return BackupSettings(folder, keep, texts.get("schedule"), texts.get("timezone", "UTC"))


# -- names ----------------------------------------------------------------------------


def new_backup_id(now: float) -> str:
    """A UTC time to the millisecond: sorts as it happened, and names the file."""
    ms = int(now * 1000) % 1000
    return time.strftime("%Y%m%dT%H%M%S", time.gmtime(now)) + f".{ms:03d}Z"


def backup_file_name(backup_id: str) -> str:
    return f"sloth-backup-{backup_id}.db"


def destination(cfg: BackupSettings, to: Path | None, backup_id: str) -> Path:
    """--to FILE as given; --to DIR (an existing directory) or nothing: a backup named
    for its time in that directory (or the backup dir, created 0700 if needed)."""
    if to is None:
        try:
            make_private_dir(cfg.dir)
        except OSError as exc:
            raise BackupError(f"cannot create the backup dir {cfg.dir}: {_why(exc)}") from None
        return cfg.dir / backup_file_name(backup_id)
    try:
        is_dir = to.is_dir()
    except OSError as exc:  # a name too long, say: refused as what it is
        raise BackupError(f"cannot write {to}: {_why(exc)}") from None
    return to / backup_file_name(backup_id) if is_dir else to


# -- the copy -------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Copied:
    path: Path
    size: int  # bytes of the finished file
    events: int
    schema_version: int
    application_id: int
    duration: float  # seconds


def _why(exc: BaseException) -> str:
    """An OSError or sqlite3 error as a few words (never a traceback)."""
    if isinstance(exc, OSError):
        return exc.strerror or str(exc)
    code = int(getattr(exc, "sqlite_errorcode", 0) or 0) & 0xFF
    if code == sqlite3.SQLITE_FULL:
        return "the disk is full"
    if code == sqlite3.SQLITE_IOERR:
        # SQLite does not say which errno; a write that fails is most often space or a
        # file size limit.
        return f"{exc} (is the disk full?)"
    return str(exc) or type(exc).__name__


def _open_source(path: Path) -> sqlite3.Connection:
    """Read-only: a backup never creates or changes the file it copies. Where SQLite
    cannot make the -shm a read needs (a full disk, a read-only dir) and nobody writes
    the file, it is read as immutable (store_faults.shm_unmakeable), so a backup can
    still be taken to another disk."""
    uri = f"file:{quote(str(path))}?mode=ro"
    conn = sqlite3.connect(uri, uri=True, isolation_level=None)
    try:
        conn.execute(f"PRAGMA busy_timeout={BUSY_MS}")
        conn.execute("PRAGMA user_version").fetchone()  # the first read needs the -shm
    except sqlite3.Error as exc:
        conn.close()
        if not store_faults.shm_unmakeable(exc, path):
            raise
        conn = sqlite3.connect(f"{uri}&immutable=1", uri=True, isolation_level=None)
    return conn


def _store_shape(conn: sqlite3.Connection, what: str) -> tuple[int, int, int]:
    """(schema version, events, application id) of a sloth-tui store; else BackupError."""
    version = int(conn.execute("PRAGMA user_version").fetchone()[0])
    tables = {row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    if version == 0 or not {"events", "hooks", "executions"} <= tables:
        raise BackupError(f"{what} is not a sloth-tui store (no sloth-tui schema in it)")
    if version > SCHEMA_VERSION:
        raise BackupError(
            f"{what} has schema version {version}, newer than this sloth-tui's "
            f"({SCHEMA_VERSION}): upgrade sloth-tui to use it"
        )
    events = int(conn.execute("SELECT count(*) FROM events").fetchone()[0])
    app_id = int(conn.execute("PRAGMA application_id").fetchone()[0])
    return version, events, app_id


def _check(conn: sqlite3.Connection, pragma: str, what: str) -> None:
    problems = check_problems(conn, pragma)
    if problems:
        raise BackupError(f"{what} is damaged ({problems[0]})")


def _fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _fsync_dir(path: Path) -> None:
    with contextlib.suppress(OSError):  # some file systems cannot; the rename still stands
        _fsync(path)


def _remove_with_companions(path: Path) -> None:
    for suffix in ("", *_COMPANIONS):
        with contextlib.suppress(FileNotFoundError):
            os.unlink(f"{path}{suffix}")


def _create(path: Path) -> None:
    """The copy's file, new and private (it holds every event)."""
    os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))


def _copy(
    source: sqlite3.Connection,
    target: Path,
    *,
    cancelled: Callable[[], bool],
    step_pages: int,
) -> sqlite3.Connection:
    """source (in its read transaction) -> target (made by _create); the open target."""
    dst = sqlite3.connect(target, isolation_level=None)
    try:
        # A fresh file: nothing to roll back to (it is deleted on failure), and it is
        # fsynced once at the end.
        dst.execute("PRAGMA journal_mode=OFF").fetchall()
        dst.execute("PRAGMA synchronous=OFF")

        def progress(status: int, remaining: int, total: int) -> None:
            if cancelled():
                raise BackupCancelled("interrupted: no backup was made")

        source.backup(dst, pages=step_pages, progress=progress)
        # The pages say WAL (the source's mode); a backup is one self-contained file.
        dst.execute("PRAGMA journal_mode=DELETE").fetchall()
    except BaseException:
        dst.close()
        raise
    return dst


def copy_store(
    source: Path,
    dest: Path,
    *,
    overwrite: bool = False,
    cancel: CopyCancel | None = None,
    clock: Callable[[], float] = time.monotonic,
    step_pages: int = STEP_PAGES,
) -> Copied:
    """A consistent, checked copy of the store at source, as dest (see the module doc)."""
    try:
        return _copy_store(source, dest, overwrite, cancel or CopyCancel(), clock, step_pages)
    except OSError as exc:  # what the steps below do not word themselves (a bad name)
        raise BackupError(f"cannot write {dest}: {_why(exc)}; no backup was made") from None


def _copy_store(
    source: Path,
    dest: Path,
    overwrite: bool,
    cancel: CopyCancel,
    clock: Callable[[], float],
    step_pages: int,
) -> Copied:
    started = clock()
    if not source.is_file() or source.stat().st_size == 0:
        raise BackupError(f"there is no store at {source} yet: nothing to back up")
    store_files = {resolved(f"{source}{s}") for s in (*DB_SUFFIXES, ".identity")}
    if resolved(dest) in store_files:
        raise BackupError(f"{dest} is the store itself: name a file elsewhere")
    if dest.exists() and not overwrite:
        raise BackupError(f"{dest} exists: choose another name, or add --overwrite")
    folder = dest.parent
    if not folder.is_dir():
        what = "is not a directory" if folder.exists() else "does not exist"
        raise BackupError(f"cannot write {dest}: {folder} {what}")
    tmp = folder / f".{dest.name}.{secrets.token_hex(4)}{PARTIAL_SUFFIX}"
    src: sqlite3.Connection | None = None
    dst: sqlite3.Connection | None = None
    try:
        try:
            src = _open_source(source)
            src.execute("BEGIN")  # the snapshot: see the module doc
            version, events, app_id = _store_shape(src, str(source))
        except sqlite3.Error as exc:
            raise BackupError(f"cannot read the store {source}: {_why(exc)}") from None
        try:
            _create(tmp)  # first: a directory we may not write is said as that
        except OSError as exc:
            raise BackupError(f"cannot write {dest}: {_why(exc)}") from None
        page_size = int(src.execute("PRAGMA page_size").fetchone()[0])
        need = int(src.execute("PRAGMA page_count").fetchone()[0]) * page_size
        try:
            free = shutil.disk_usage(folder).free
        except OSError:
            free = need
        if free < need:
            raise BackupError(
                f"cannot write {dest}: the disk has {free} bytes free and the copy needs "
                f"about {need}; no backup was made"
            )
        try:
            dst = _copy(src, tmp, cancelled=cancel.is_set, step_pages=step_pages)
            _check(dst, "quick_check", f"the copy of {source}")
            dst.close()
            dst = None
            _fsync(tmp)
            existed = dest.exists()
            cancel.place(tmp, dest, take_back=not existed)
        except (OSError, sqlite3.Error) as exc:
            raise BackupError(f"cannot write {dest}: {_why(exc)}; no backup was made") from None
        _fsync_dir(folder)
        return Copied(dest, dest.stat().st_size, events, version, app_id, clock() - started)
    finally:
        for conn in (dst, src):
            if conn is not None:
                conn.close()
        _remove_with_companions(tmp)  # gone already when it was renamed


# -- retention ------------------------------------------------------------------------


def prune(folder: Path, keep: int) -> list[Path]:
    """Delete all but the newest `keep` backups this command made in folder (by the time
    in their names); any other file is left alone. Returns what was deleted."""
    try:
        ours = sorted(
            (p for p in folder.iterdir() if BACKUP_NAME.match(p.name) and not p.is_symlink()),
            key=lambda p: p.name,
        )
    except OSError:
        return []
    removed = []
    for path in ours[: max(len(ours) - keep, 0)]:
        try:
            path.unlink()
        except FileNotFoundError:
            continue
        except OSError:
            continue  # kept; the next backup tries again
        removed.append(path)
    return removed


# -- restore --------------------------------------------------------------------------


def engine_pid(lock_path: Path) -> int | None:
    """The pid of the engine that holds the data dir (-1 when it cannot be read), or
    None. A shared flock taken and dropped at once (as `doctor` does): it fails while an
    engine holds its exclusive lock, and blocks nobody."""
    try:
        fd = os.open(lock_path, os.O_RDONLY)
    except OSError:
        return None
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            text = os.pread(fd, 32, 0).decode(errors="replace").strip()
            return int(text) if text.isdigit() else -1
        fcntl.flock(fd, fcntl.LOCK_UN)
        return None
    finally:
        os.close(fd)


@dataclass(frozen=True, slots=True)
class Candidate:
    """A backup copied beside the store and checked, waiting to be swapped in."""

    file: Path  # what the operator named
    tmp: Path  # the checked copy, in the data dir
    schema_version: int
    events: int
    application_id: int

    def discard(self) -> None:
        _remove_with_companions(self.tmp)


def prepare_restore(file: Path, db_path: Path) -> Candidate:
    """Copy file next to the store and check it; BackupError (and nothing left) if it is
    not a whole sloth-tui store this version can open."""
    try:
        return _prepare_restore(file, db_path)
    except OSError as exc:
        raise BackupError(f"cannot read {file}: {_why(exc)}") from None


def _prepare_restore(file: Path, db_path: Path) -> Candidate:
    if not file.is_file():
        raise BackupError(f"{file} is not a file")
    make_private_dir(db_path.parent)
    tmp = db_path.with_name(f".{db_path.name}.restore-{secrets.token_hex(4)}{PARTIAL_SUFFIX}")
    src: sqlite3.Connection | None = None
    dst: sqlite3.Connection | None = None
    ok = False
    try:
        try:
            src = _open_source(file)
            src.execute("BEGIN")
            version, events, app_id = _store_shape(src, str(file))
        except sqlite3.DatabaseError as exc:
            if int(getattr(exc, "sqlite_errorcode", 0) or 0) & 0xFF == sqlite3.SQLITE_CORRUPT:
                raise BackupError(f"{file} is damaged ({exc})") from None
            raise BackupError(f"{file} is not a sloth-tui backup ({_why(exc)})") from None
        try:
            _create(tmp)
            dst = _copy(src, tmp, cancelled=lambda: False, step_pages=STEP_PAGES)
        except (OSError, sqlite3.Error) as exc:
            raise BackupError(f"cannot copy {file} into {db_path.parent}: {_why(exc)}") from None
        try:
            _check(dst, "integrity_check", str(file))
        except sqlite3.Error as exc:
            raise BackupError(f"{file} is damaged ({_why(exc)})") from None
        dst.close()
        dst = None
        _fsync(tmp)
        ok = True
        return Candidate(file, tmp, version, events, app_id)
    finally:
        for conn in (dst, src):
            if conn is not None:
                conn.close()
        if not ok:
            _remove_with_companions(tmp)


def _fold_wal(db_path: Path) -> None:
    """Put what the old store's -wal holds into its file and delete the -wal (SQLite does
    that when the last connection closes). A damaged store may refuse: then its -wal is
    moved aside with it instead."""
    with contextlib.suppress(sqlite3.Error, OSError):
        conn = sqlite3.connect(db_path, isolation_level=None, timeout=BUSY_MS / 1000)
        try:
            conn.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchall()
        finally:
            conn.close()


def swap_in(candidate: Candidate, db_path: Path, now: float) -> Path | None:
    """Replace the store with the candidate in one rename; the caller holds the data
    dir's lock (no engine writes meanwhile). Returns where the old store was kept."""
    side: Path | None = None
    if db_path.exists():
        _fold_wal(db_path)
        side = db_path.with_name(f"{db_path.name}{SIDE_SUFFIX}{new_backup_id(now)}")
        try:
            try:
                os.link(db_path, side)  # the same file under a second name
            except OSError:
                shutil.copy2(db_path, side)  # no hard links on this file system
            wal = Path(f"{db_path}-wal")
            if wal.exists() and wal.stat().st_size > 0:
                os.replace(wal, f"{side}-wal")  # folding failed: the log goes with its file
        except OSError as exc:
            raise BackupError(
                f"cannot keep the current store aside as {side}: {_why(exc)}; nothing was restored"
            ) from None
    for suffix in DB_SUFFIXES[1:]:  # the old store's -wal (empty now) and -shm
        with contextlib.suppress(FileNotFoundError):
            os.unlink(f"{db_path}{suffix}")
    # The old store's text index: derived from it, never from the backup (the next start
    # checks and would rebuild it anyway; gone, it is simply made anew).
    for suffix in DB_SUFFIXES:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(f"{db_path}{TEXT_INDEX_SUFFIX}{suffix}")
    try:
        os.replace(candidate.tmp, db_path)
    except OSError as exc:
        raise BackupError(f"cannot replace {db_path}: {_why(exc)}; nothing was restored") from None
    _fsync_dir(db_path.parent)
    _adopt_identity(db_path, candidate.application_id, side)
    return side


def _adopt_identity(db_path: Path, app_id: int, side: Path | None) -> None:
    """The data dir records its store's id (store_faults): a backup of another store has
    another, and the engine would refuse it as "replaced". A restore is the operator
    putting it there on purpose, so the record goes aside with the old store and the
    next open writes the new one."""
    recorded = read_identity(db_path)
    if recorded is None or app_id in (0, recorded[0]):
        return
    record = identity_path(db_path)
    target = identity_path(side) if side is not None else Path(f"{record}.old")
    with contextlib.suppress(OSError):
        os.replace(record, target)
