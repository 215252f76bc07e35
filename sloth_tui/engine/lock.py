"""One engine per data dir: an exclusive flock on `engine.lock`, holding the owner's pid."""

from __future__ import annotations

import contextlib
import fcntl
import os
from pathlib import Path

from sloth_tui.engine.private import make_private_dir
from sloth_tui.engine.store_faults import dir_error
from sloth_tui.model.errors import EngineLocked


class DataDirLock:
    def __init__(self, path: Path) -> None:
        self.path = path
        self._fd: int | None = None

    def acquire(self) -> None:
        try:
            make_private_dir(self.path.parent)
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        except OSError as exc:  # a read-only home: one line that says what to fix
            raise dir_error(self.path.parent, exc) from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            owner = os.pread(fd, 32, 0).decode(errors="replace").strip() or "unknown"
            os.close(fd)
            raise EngineLocked(
                f"another sloth-tui engine is running on {self.path.parent} (pid {owner}); "
                "stop it, attach to it, or use a different --home"
            ) from None
        self._fd = fd
        # The pid is for the operator (the message above, doctor): the flock is the lock.
        # On a full disk it cannot be written, and reads must still work there.
        with contextlib.suppress(OSError):
            os.ftruncate(fd, 0)
            os.pwrite(fd, str(os.getpid()).encode(), 0)

    def release(self) -> None:
        if self._fd is not None:
            with contextlib.suppress(OSError):
                os.ftruncate(self._fd, 0)
            fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = None

    def owner_pid(self) -> int | None:
        try:
            text = self.path.read_text().strip()
        except OSError:
            return None
        return int(text) if text.isdigit() else None
