"""Crash reports: an unexpected error is saved whole to a file; the operator gets one line.

No traceback reaches a terminal. The report goes to `<home>/logs/` (created 0700, the file
0600: a traceback can quote event data), or to the temp dir when the home is not writable.
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
import traceback
from pathlib import Path

from sloth_tui import __version__

LOGS_DIR = "logs"


def _open_private(directory: Path) -> tuple[Path, int]:
    directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    for n in range(100):
        path = directory / f"crash-{stamp}{'' if n == 0 else f'-{n}'}.log"
        try:
            return path, os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            continue
    raise FileExistsError(f"{directory}: too many crash reports this second")


def save_crash_report(error: BaseException, home: Path | None, where: str) -> Path | None:
    """Write the traceback of `error` (raised in `where`) to a new file; return its path.

    Returns None if no file could be written anywhere (the caller still prints one line).
    """
    text = (
        f"sloth-tui {__version__} on Python {sys.version.split()[0]}: unexpected error in {where}\n"
        f"time: {time.strftime('%Y-%m-%d %H:%M:%S %z')}\n"
        f"argv: {sys.argv!r}\n\n" + "".join(traceback.format_exception(error))
    )
    inner = getattr(error, "error", None)  # Textual's WorkerFailed wraps, without chaining
    if isinstance(inner, BaseException) and inner is not error.__cause__:
        text += "\nraised in the worker:\n" + "".join(traceback.format_exception(inner))
    candidates = [home / LOGS_DIR] if home is not None else []
    candidates.append(Path(tempfile.gettempdir()) / "sloth-tui-crashes")
    for directory in candidates:
        try:
            path, fd = _open_private(directory)
            with os.fdopen(fd, "w", encoding="utf-8", errors="backslashreplace") as out:
                out.write(text)
            return path
        except OSError:
            continue
    return None


def crash_line(error: BaseException, report: Path | None) -> str:
    """The one line an operator sees: what went wrong and where the details are."""
    summary = (
        f"{type(error).__name__}: {error}".splitlines()[0] if str(error) else type(error).__name__
    )
    summary = "".join(c if c.isprintable() else repr(c)[1:-1] for c in summary)[:200]
    where = f"the full traceback is in {report}" if report else "no report could be written"
    return f"error: unexpected {summary}; {where}"
