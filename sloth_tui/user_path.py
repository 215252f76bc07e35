"""A path as the operator typed it, with `~` expanded the way a shell does."""

from __future__ import annotations

import os
from pathlib import Path


def user_path(value: str | os.PathLike[str]) -> Path:
    """`~` and `~user` expanded; a `~name` that names no user stays as typed, as in a
    shell. (Path.expanduser raises RuntimeError there, which reached operators as an
    unexpected error: `hook export ~0`.)"""
    return Path(os.path.expanduser(value))


def user_home() -> Path | None:
    """The operator's home directory, or None when there is none: no HOME and no entry
    in the password database (a container under an arbitrary uid, where Path.home()
    raises RuntimeError; os.path.expanduser leaves "~" as it is)."""
    found = os.path.expanduser("~")
    return None if found == "~" else Path(found)


def resolved(value: str | os.PathLike[str]) -> Path:
    """The absolute path with symlinks followed, as Path.resolve() gives it, except that
    a symlink loop stays in the path (as Python 3.13 does) for the next open to refuse
    in one line (ELOOP, "too many levels of symbolic links"). Python 3.11 and 3.12 raise
    RuntimeError there: `--home` on a looping symlink was an unexpected error."""
    return Path(os.path.realpath(value))
