"""Log records in a command's terminal: `warning: <text>`, one line each, escaped.

With no handler installed, a record (the engine's "text index unreadable", a hook
auto-disabled, asyncio's "exception never retrieved") reached stderr through logging's
last resort: raw, so a path or a hook's error could carry an escape sequence to the
terminal, and a record with an exception printed a traceback. `serve` replaces this
with its own lines (sources/daemon.py configure_logging).
"""

from __future__ import annotations

import logging
import sys

from sloth_tui.log_lines import one_line


class OneLineFormatter(logging.Formatter):
    """`warning: message (ValueError: why)`: the level as the command line's own lines
    say it, the exception as one line, no traceback, every control character escaped."""

    def format(self, record: logging.LogRecord) -> str:
        return f"{record.levelname.lower()}: {one_line(record)}"


class CurrentStderr(logging.Handler):
    """Writes to sys.stderr as it is when the record comes, as the last resort did:
    while the dashboard draws, Textual holds sys.stderr, and a record goes to its
    capture instead of across the screen."""

    def emit(self, record: logging.LogRecord) -> None:
        try:
            stream = sys.stderr
            stream.write(self.format(record) + "\n")
            stream.flush()
        except Exception:  # a log line must never break the command
            self.handleError(record)


def install() -> None:
    """Once per process (the tests run many commands in one): warnings and errors from
    any logger, in the command line's words."""
    root = logging.getLogger()
    if any(isinstance(h, CurrentStderr) for h in root.handlers):
        return
    handler = CurrentStderr(logging.WARNING)
    handler.setFormatter(OneLineFormatter())
    root.addHandler(handler)
