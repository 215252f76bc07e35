"""After `| head`: the reader left. Shared by the click command line (commands/group.py)
and the click-free answers (quick_query.py), so it imports nothing of either."""

from __future__ import annotations

import os
import sys


def silence_stdout() -> None:
    """After a broken pipe, so the interpreter's final flush does not complain."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):  # no real file descriptor (tests, embedding)
        pass
