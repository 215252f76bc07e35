"""What can go wrong with the database file, said in one line an operator can act on.

SQLite's own messages ("database disk image is malformed", "attempt to write a readonly
database") name neither the file nor a way out. These helpers turn the errors that are
about the store itself (damage, a full disk, permissions, a file replaced) into a
StoreError that does, and leave every other error (a bad query, a constraint) as it is.

They also keep the store's identity, so that a database that was emptied or replaced
is noticed instead of silently starting over with 0 events:

- at first creation the store gets a random `PRAGMA application_id` (a field of the
  file's header: no table, no migration), and the data dir gets a sidecar file,
  `sloth.db.identity`, recording that id and when the store was created;
- at each open, a database that is missing, 0 bytes, or a fresh SQLite file with no
  schema, while the sidecar (or a non-empty -wal) says a store was here, is refused;
  so is a database whose id is not the sidecar's (another store put in its place).

Restoring a copy of the same store (`.backup`, VACUUM INTO, cp while stopped) keeps its
id, so it opens. Deleting the sidecar adopts whatever database is there.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import sqlite3
import time
from dataclasses import dataclass
from pathlib import Path

from sloth_tui.atomic_file import PRIVATE, write_atomically
from sloth_tui.engine.private import IDENTITY_SUFFIX
from sloth_tui.model.errors import DiskFull, StoreError, WriteRefused

# Primary result codes (the low byte of sqlite_errorcode) that are about the store, not
# about one statement: every other write would fail the same way, so a failed round is
# not retried write by write, and the error is said once per episode.
_STORE_WIDE = {
    sqlite3.SQLITE_PERM,
    sqlite3.SQLITE_BUSY,
    sqlite3.SQLITE_LOCKED,
    sqlite3.SQLITE_READONLY,
    sqlite3.SQLITE_IOERR,
    sqlite3.SQLITE_CORRUPT,
    sqlite3.SQLITE_FULL,
    sqlite3.SQLITE_CANTOPEN,
    sqlite3.SQLITE_NOTADB,
}
_READONLY_DBMOVED = 1032  # SQLITE_READONLY | (4 << 8): the file was unlinked or renamed


def _code(exc: BaseException) -> int:
    return int(getattr(exc, "sqlite_errorcode", 0) or 0)


def is_store_wide(exc: BaseException) -> bool:
    return isinstance(exc, sqlite3.Error) and _code(exc) & 0xFF in _STORE_WIDE


def doctor_hint(path: Path) -> str:
    return f"`sloth-tui --home {path.parent} doctor`"


def store_error(exc: BaseException, path: Path) -> StoreError | None:
    """The one-line StoreError for an error about the store itself, else None."""
    if not is_store_wide(exc):
        return None
    code = _code(exc)
    primary = code & 0xFF
    reason = str(exc)
    home = path.parent
    if means_full_disk(exc, home):
        # Not "the change was not saved": this is also what opening the store or a
        # query needing a temporary file meets. A refused write says its own (write_error).
        return DiskFull(f"the disk holding {home} is full: nothing can be written there")
    if primary == sqlite3.SQLITE_CORRUPT:
        return StoreError(
            f"{path} is damaged ({reason}): stop sloth-tui, run {doctor_hint(path)} "
            "and restore the database from a backup"
        )
    if primary == sqlite3.SQLITE_NOTADB:
        return StoreError(
            f"cannot open {path}: it is not a SQLite database ({reason}); it was overwritten "
            "or replaced: "
            f"move it aside and restore a backup (see {doctor_hint(path)})"
        )
    if code == _READONLY_DBMOVED:
        return moved_error(path)
    if primary in (sqlite3.SQLITE_READONLY, sqlite3.SQLITE_PERM, sqlite3.SQLITE_CANTOPEN):
        return StoreError(
            f"cannot use {path} ({reason}): this user must be able to write {home} and "
            f"the files in it (SQLite creates {path.name}-wal and -shm there); "
            f"check with ls -la {home}, or choose another --home"
        )
    if primary == sqlite3.SQLITE_IOERR:
        return StoreError(
            # SQLite says SQLITE_FULL only for ENOSPC: a used-up quota (EDQUOT) is an I/O
            # error to it, and statvfs shows the disk with room (means_full_disk).
            f"input/output error on {path} ({reason}): the disk or file system failed, "
            f"or this user's disk quota is used up; check (dmesg, quota -s), then run "
            f"{doctor_hint(path)}"
        )
    return StoreError(  # BUSY, LOCKED: another process holds the file past the timeout
        f"{path} is locked by another process ({reason}): try again; "
        f"{doctor_hint(path)} shows who holds it"
    )


FULL_BELOW = 1 << 20  # bytes: less than a WAL checkpoint may need is a full disk


@dataclass(frozen=True, slots=True)
class DiskSpace:
    """What is left on the file system holding a directory, for this user."""

    free_bytes: int
    size_bytes: int
    free_inodes: int | None  # None: the file system does not count them (btrfs, zfs)

    @property
    def full(self) -> bool:
        return self.free_bytes < FULL_BELOW or self.free_inodes == 0

    @property
    def nearly_full(self) -> bool:
        """As df would show it: 95% used or more."""
        return self.free_bytes * 20 < self.size_bytes


def disk_space(directory: Path) -> DiskSpace | None:
    """Free space where `directory` is (None when it cannot be asked). Root may use the
    blocks reserved for it, so its free space is f_bfree, everyone else's f_bavail."""
    try:
        st = os.statvfs(directory)
    except OSError:
        return None
    blocks = st.f_bfree if os.geteuid() == 0 else st.f_bavail
    inodes = st.f_ffree if os.geteuid() == 0 else st.f_favail
    return DiskSpace(
        blocks * st.f_frsize, st.f_blocks * st.f_frsize, inodes if st.f_files else None
    )


def disk_is_full(directory: Path) -> bool:
    space = disk_space(directory)
    return space is not None and space.full


def means_full_disk(exc: BaseException, directory: Path) -> bool:
    """`exc`, from SQLite on a file in `directory`, says its disk is full. SQLite says
    SQLITE_FULL only for a failed write(); growing the -shm file (at open, once the last
    engine has removed it) fails as an I/O error, so that is asked of the disk."""
    primary = _code(exc) & 0xFF
    return primary == sqlite3.SQLITE_FULL or (
        primary == sqlite3.SQLITE_IOERR and disk_is_full(directory)
    )


def shm_unmakeable(exc: BaseException, path: Path) -> bool:
    """A read-only open of the store at `path` failed because SQLite could not make its
    -shm (a read-only home, or a full disk), and no -wal holds frames: then nobody is
    writing it (an engine would hold the -shm open) and nothing is uncommitted, so the
    file may be read as immutable."""
    cause = _code(exc) & 0xFF == sqlite3.SQLITE_READONLY or means_full_disk(exc, path.parent)
    if not cause:
        return False
    try:
        return os.stat(f"{path}-wal").st_size == 0
    except FileNotFoundError:
        return True
    except OSError:
        return False


def moved_error(path: Path) -> StoreError:
    return StoreError(
        f"{path} was moved, deleted or replaced while sloth-tui ran: nothing more can be "
        "stored; put the file back (or restore a backup) and restart sloth-tui"
    )


def file_id(path: Path) -> tuple[int, int] | None:
    """(device, inode) of the database file, None when it is gone."""
    try:
        st = os.stat(path)
    except OSError:
        return None
    return st.st_dev, st.st_ino


def write_error(exc: Exception, path: Path, *, event: bool) -> Exception:
    """What a writer's caller is told: a refusal (its write was not stored) for an error
    about the store, else the error itself."""
    mapped = exc if isinstance(exc, StoreError) else store_error(exc, path)
    if mapped is None:
        return exc
    what = "the event was not stored" if event else "the change was not saved"
    if isinstance(mapped, DiskFull):
        return DiskFull(f"the disk holding {path.parent} is full: {what}")
    return WriteRefused(f"{what}: {mapped}")


def dir_error(home: Path, exc: OSError) -> StoreError:
    """The data dir (or a file in it) cannot be created or opened."""
    where = exc.filename if exc.filename is not None else home
    # mkdir says "File exists" for these two, which reads as if all were well.
    if home.is_symlink() and not home.exists():
        return StoreError(
            f"cannot use the data dir {home}: it is a symbolic link that leads nowhere (a "
            f"loop, or its target is missing: ls -l {home}); fix it, or choose another --home"
        )
    if home.exists() and not home.is_dir():
        return StoreError(
            f"cannot use the data dir {home}: it is not a directory; choose another --home"
        )
    return StoreError(
        f"cannot use the data dir {home}: {exc.strerror or exc} ({where}); "
        f"this user must be able to write it (ls -ld {home}), or choose another --home"
    )


# -- identity: emptied and replaced databases ----------------------------------------


def identity_path(path: Path) -> Path:
    return path.with_name(path.name + IDENTITY_SUFFIX)


def read_identity(path: Path) -> tuple[int, str] | None:
    """(application id, creation time) from the sidecar, or None when there is none (or
    it cannot be parsed: then it is rewritten, as for a home made before this existed)."""
    try:
        record = json.loads(identity_path(path).read_text())
        return int(record["application_id"]), str(record.get("created", "?"))
    except (OSError, ValueError, KeyError, TypeError):
        return None


def _write_identity(path: Path, app_id: int) -> None:
    created = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    text = json.dumps({"application_id": app_id, "created": created}) + "\n"
    write_atomically(identity_path(path), text, mode=PRIVATE)


def refuse_emptied(path: Path) -> None:
    """Before opening: a missing or 0-byte database where a store was recorded."""
    try:
        size = path.stat().st_size
    except FileNotFoundError:
        size = -1
    if size > 0:
        return
    state = "missing" if size < 0 else "empty (0 bytes)"
    identity = read_identity(path)
    if identity is not None:
        raise StoreError(
            f"{path} is {state}, but this data dir held a sloth-tui store created "
            f"{identity[1]} ({identity_path(path)}): it was truncated, deleted or replaced; "
            f"restore it from a backup, or delete {identity_path(path)} to start afresh "
            "with no events"
        )
    wal = Path(f"{path}-wal")
    with contextlib.suppress(OSError):
        if wal.stat().st_size > 0:
            raise StoreError(
                f"{path} is {state}, but {wal} holds writes for it: the database was "
                f"truncated or deleted; restore it from a backup, or move {wal} aside "
                "to start afresh with no events"
            )


def refuse_fresh(path: Path, user_version: int) -> None:
    """A SQLite file with no schema yet where the sidecar says a store was: replaced."""
    identity = read_identity(path)
    if user_version == 0 and identity is not None:
        raise StoreError(
            f"{path} holds no sloth-tui store, but this data dir held one created "
            f"{identity[1]} ({identity_path(path)}): the database was emptied or replaced; "
            f"restore it from a backup, or delete {identity_path(path)} to start afresh"
        )


def claim(conn: sqlite3.Connection, path: Path) -> None:
    """Writer, after migrations: give the store its id, and the data dir its sidecar."""
    app_id = conn.execute("PRAGMA application_id").fetchone()[0]
    identity = read_identity(path)
    if app_id == 0:  # new, or made before ids: take the recorded one, else a new one
        app_id = identity[0] if identity is not None else secrets.randbelow(2**31 - 1) + 1
        conn.execute(f"PRAGMA application_id = {int(app_id)}")
    check_identity(app_id, path, identity)
    if identity is None:
        _write_identity(path, app_id)


def check_identity(app_id: int, path: Path, identity: tuple[int, str] | None) -> None:
    if identity is not None and app_id not in (0, identity[0]):
        raise StoreError(
            f"{path} is not the database this data dir was created with (its id is "
            f"{app_id:#x}, {identity_path(path)} records {identity[0]:#x}): it was "
            f"replaced; put the right file back, or delete {identity_path(path)} to adopt "
            "this one"
        )


def check_problems(
    conn: sqlite3.Connection, pragma: str = "quick_check", limit: int = 5
) -> list[str]:
    """The lines of damage PRAGMA quick_check or integrity_check reports ([] when "ok").
    One finding can be several lines ("*** in database main ***" then pages): those
    headers are left out. The store, `doctor` and the backup all read damage this way."""
    rows = conn.execute(f"PRAGMA {pragma}({limit})").fetchall()
    return [
        line
        for row in rows
        if row[0] != "ok"
        for line in str(row[0]).splitlines()
        if line.strip() and not line.startswith("***")
    ]


def quick_check(conn: sqlite3.Connection, path: Path) -> None:
    """PRAGMA quick_check at start (0.2 s for 100k events): damage found now is one clear
    line, instead of failures later in the middle of serving."""
    problems = check_problems(conn)
    if problems:
        raise StoreError(
            f"{path} is damaged ({problems[0]}): stop sloth-tui, run {doctor_hint(path)} "
            "and restore the database from a backup"
        )
