"""An engine that serves says its warnings to its subscribers: `log` notices.

A dashboard attached to `serve` runs in another process: what the daemon logs (the disk
is full, a hook auto-disabled, a WAL checkpoint failed) went only to the daemon's log,
and the operator watching the dashboard learned nothing. Each WARNING or worse record of
the process's `sloth_tui` loggers becomes a notice {"level": "warning" | "error",
"message": one escaped line} on the engine's bus, which the socket server fans out like
any other notice (dropped for a slow subscriber, and counted). The dashboard shows them
as toasts when attached (embedded, it hears the records themselves: tui/log_toasts.py).

Records come from any thread (the store's writer, hook threads): each is handed to the
loop, and the bus is only touched there.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from sloth_tui.engine.bus import Bus
from sloth_tui.log_lines import one_line

LOGGER = "sloth_tui"


class LogNotices(logging.Handler):
    """Attach with install(), detach with remove(); both on the engine's loop."""

    def __init__(self, bus: Bus) -> None:
        super().__init__(logging.WARNING)
        self.bus = bus
        self._loop = asyncio.get_running_loop()

    def install(self) -> None:
        logging.getLogger(LOGGER).addHandler(self)

    def remove(self) -> None:
        logging.getLogger(LOGGER).removeHandler(self)

    def emit(self, record: logging.LogRecord) -> None:
        notice = {
            "level": "error" if record.levelno >= logging.ERROR else "warning",
            "message": one_line(record),
        }
        with contextlib.suppress(RuntimeError):  # the loop is closed: nobody is listening
            self._loop.call_soon_threadsafe(self.bus.publish, "log", notice)
