"""A path as the operator typed it, with `~` expanded the way a shell does."""

from __future__ import annotations

import os
from pathlib import Path


def user_path(value: str | os.PathLike[str]) -> Path:
    """`~` and `~user` expanded; a `~name` that names no user stays as typed, as in a
    shell. (Path.expanduser raises RuntimeError there, which reached operators as an
    unexpected error: `hook export ~0`.)"""
    return Path(os.path.expanduser(value))
