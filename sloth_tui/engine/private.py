"""The data dir is private: it holds every event, every hook's state and every log line.

Created 0700 and its database files 0600, whatever the umask. A home that already exists
with looser modes is left as the operator made it, and reported (`loose_modes`).
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

DB_SUFFIXES = ("", "-wal", "-shm")
TEXT_INDEX_SUFFIX = "-text"  # sloth.db-text: engine/text_index.py, with its own -wal, -shm
IDENTITY_SUFFIX = ".identity"  # see store_faults: records that a store was created here


def make_private_dir(path: Path) -> None:
    """mkdir -p, the last level 0700 (a parent we create follows the umask as usual)."""
    if not path.is_dir():
        path.mkdir(parents=True, exist_ok=True)
        os.chmod(path, 0o700)


def create_private_file(path: Path) -> None:
    """An empty file born 0600, so SQLite (which gives -wal and -shm the database's own
    mode) never makes any of them readable by others."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return
    os.close(fd)
    os.chmod(path, 0o600)  # the umask may have taken bits from 0600, never added


def loose_paths(home: Path, db_path: Path) -> list[tuple[Path, int, str]]:
    """(path, mode, the chmod that fixes it) for each path of the home that group or
    others can read or enter."""
    found = []
    suffixes = (*DB_SUFFIXES, IDENTITY_SUFFIX, *(TEXT_INDEX_SUFFIX + s for s in DB_SUFFIXES))
    for path in (home, *(Path(f"{db_path}{s}") for s in suffixes)):
        try:
            mode = stat.S_IMODE(path.stat().st_mode)
        except OSError:
            continue
        if mode & 0o077:
            found.append((path, mode, f"chmod {'700' if path.is_dir() else '600'} {path}"))
    return found


def loose_modes(home: Path, db_path: Path) -> list[str]:
    """One line per path of the home that group or others can read or enter."""
    return [
        f"{path} is mode {mode:04o}: other users can read what it holds ({fix})"
        for path, mode, fix in loose_paths(home, db_path)
    ]
