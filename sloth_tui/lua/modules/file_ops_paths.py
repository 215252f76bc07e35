"""Where file_ops may read and write: paths confined to the run's file roots.

A path is taken only when it is absolute, has no `..` part, and resolves (every
symlink followed, the last one included) to a place inside one of the roots. The
resolved path is what the caller then opens, so a symlink swapped in afterwards
for the last component is replaced by a write (atomic rename), never followed.
"""

from __future__ import annotations

import os

from sloth_tui.atomic_file import write_atomically
from sloth_tui.lua.modules.base import HostError


class Refused(HostError):
    """A path (or archive member) outside what file_ops may touch."""


def roots_of(roots: tuple[str, ...]) -> tuple[str, ...]:
    return tuple(os.path.realpath(r) for r in roots)


def inside(path: str, root: str) -> bool:
    return path == root or path.startswith(root.rstrip(os.sep) + os.sep)


def confine(raw: object, what: str, roots: tuple[str, ...]) -> str:
    """The resolved path for option `what`, or Refused."""
    if not isinstance(raw, str) or not raw:
        raise HostError(f"{what} parameter is required")
    if "\x00" in raw:
        raise Refused(f"{what} {raw!r}: contains a NUL byte")
    if not os.path.isabs(raw):
        raise Refused(f"{what} {raw!r}: must be an absolute path")
    if ".." in raw.split(os.sep):
        raise Refused(f"{what} {raw!r}: '..' is not allowed")
    real = os.path.realpath(raw)
    resolved = roots_of(roots)
    if not any(inside(real, root) for root in resolved):
        via = f" (it resolves to {real})" if real != os.path.normpath(raw) else ""
        shown = ", ".join(resolved) or "none configured"
        raise Refused(f"{what} {raw!r}{via} is outside the file roots ({shown})")
    return real


def write_file(path: str, data: bytes, mode: int | None) -> None:
    """Write `path` (already confined) whole: a temp file in its directory, renamed
    over it, so a reader never sees half a file and a symlink there is replaced."""
    directory = os.path.dirname(path)
    os.makedirs(directory, mode=0o755, exist_ok=True)
    # Not synced: a hook's writes are as durable as the hook's host makes them, and an
    # fsync per write would let one hook stall the others' worker threads. The link at
    # `path`, if any, is replaced: confinement checked `path`, not where a link leads.
    # A new file is 0644; one that exists keeps its mode unless the hook gives one.
    write_atomically(
        path, data, mode=0o644 if mode is None else mode, keep_mode=mode is None, sync=False
    )
