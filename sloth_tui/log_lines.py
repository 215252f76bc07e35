"""Log lines as text: the formatter of `serve`'s default lines and `web`'s, and a record
as one line (the command line's `warning: ...`, the dashboard's toasts).

Outside text cannot act through them: a message quotes hook errors, paths and peers, and
on `serve` in a terminal an escape sequence in one would retitle the window or clear the
screen, while journald stores a line with a control character as a blob that journalctl
will not show. (`serve --log-format json` is sources/log_format.py; the other commands'
`warning: ...` lines are commands/cli_log.py.)
"""

from __future__ import annotations

import logging
from typing import Any

from sloth_tui.plain_text import clean, clean_block


class PlainFormatter(logging.Formatter):
    """The message as one line with control characters escaped (sloth_tui/plain_text.py);
    a traceback keeps its line ends."""

    def formatMessage(self, record: logging.LogRecord) -> str:
        return clean(super().formatMessage(record))

    def formatException(self, ei: Any) -> str:
        return clean_block(super().formatException(ei))

    def formatStack(self, stack_info: str) -> str:
        return clean_block(super().formatStack(stack_info))


def one_line(record: logging.LogRecord) -> str:
    """The record's message, its exception as `(Type: text)` rather than a traceback, as
    one line with every control character escaped."""
    text = record.getMessage()
    error = record.exc_info[1] if record.exc_info else None
    if error is not None:
        text += f" ({type(error).__name__}: {error})"
    return clean(text)
