"""A file written whole or not at all: the one way sloth-tui replaces a file.

Hook code the editor saves, config.toml, schedules.json, the vault, the store's identity,
an export's files, the dashboard's state and Lua's `file_ops.write` all go through
`write_atomically`: the bytes go to a temporary file in the same directory, are flushed
to disk, and the temporary file is renamed over the target. A reader (the engine, vim,
`serve`'s config watcher) sees the old file or the new one, never half of one. When
anything fails (a full disk, a quota, a read-only mount), the old file is still there,
no temporary file is left behind, and the OSError names the target, so the one line
the operator reads says which file was not written.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

#: The mode of a file made for the operator to read and edit (hook code, an export).
SHARED = 0o644
#: The mode of a file only its owner may read (state, config that may hold credentials).
PRIVATE = 0o600


def write_atomically(
    path: Path | str,
    data: bytes | str,
    *,
    mode: int = PRIVATE,
    keep_mode: bool = False,
    follow_link: bool = False,
    sync: bool = True,
    sync_dir: bool = False,
) -> Path:
    """Replace `path` with `data` (str is written as UTF-8); the path written.

    mode: the new file's permission bits; with keep_mode, those of the file it replaces,
    when there is one. follow_link: when `path` is a symlink, write the file it points
    to, so a config or hook kept in a dotfiles repo stays linked; without it the link
    itself is replaced (a planted link cannot redirect the write). sync: fsync the data
    before the rename (off for writes whose loss on power failure costs nothing).
    sync_dir: also fsync the directory, so the rename itself survives a power cut.
    Raises OSError naming `path` when the file could not be written; `path` is then as
    it was."""
    target = Path(os.path.realpath(path)) if follow_link else Path(path)
    payload = data.encode("utf-8") if isinstance(data, str) else data
    directory = target.parent
    if keep_mode:
        with contextlib.suppress(OSError):
            mode = os.stat(target).st_mode & 0o7777
    with _staged(target, payload, mode, sync) as tmp:
        os.replace(tmp, target)
    if sync_dir:
        _sync_directory(directory)
    return target


@contextlib.contextmanager
def _staged(target: Path, payload: bytes, mode: int, sync: bool) -> Iterator[str]:
    """A temporary file beside `target` holding `payload`, flushed (and synced), with
    `mode` (mkstemp made it 0600, whatever the umask), for the caller to rename or link
    into place. Its name is gone at the end whatever happened (after a rename there is
    nothing left to remove), and an OSError names `target`."""
    tmp: str | None = None
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
        with os.fdopen(fd, "wb") as out:
            out.write(payload)
            out.flush()
            if sync:
                os.fsync(out.fileno())
        os.chmod(tmp, mode)
        yield tmp
    except OSError as exc:
        raise _naming(exc, target) from None
    finally:
        if tmp is not None:
            with contextlib.suppress(OSError):
                os.unlink(tmp)


def _naming(exc: OSError, target: Path) -> OSError:
    """The same error, about `target`: a failed write() names no file, and the temporary
    file's name would mean nothing to the operator."""
    if exc.errno is None:
        return OSError(f"cannot write {target}: {exc}")
    return OSError(exc.errno, exc.strerror, str(target))  # ENOENT -> FileNotFoundError...


def _sync_directory(directory: Path) -> None:
    with contextlib.suppress(OSError):  # not every file system can (and it is a bonus)
        fd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def create_exclusively(path: Path | str, data: bytes, *, mode: int = PRIVATE) -> bool:
    """Make `path` holding `data`, unless it exists: True when this call made it, False
    when another process had (then `path` is theirs and untouched).

    The bytes are written and flushed under a temporary name first, then linked into
    place (link() fails on an existing name, as O_EXCL does). So `path` never exists
    half-written: a full disk, or a crash mid-write, leaves no empty file that the next
    reader would take for a damaged one. Raises OSError naming `path`."""
    target = Path(path)
    with _staged(target, data, mode, sync=True) as tmp:
        try:
            os.link(tmp, target)
        except FileExistsError:
            return False
    _sync_directory(target.parent)
    return True
