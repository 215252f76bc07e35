"""Warnings and errors logged while the dashboard runs, shown as notifications.

Textual holds sys.stderr while it draws, so a record that went there (the command
line's handler, commands/cli_log.py) landed in Textual's capture and nobody saw it: an
embedded engine's "WAL checkpoint failed", a hook auto-disabled, a run that could not be
stored. Here each becomes a toast. Records come from any thread (the store's writer,
hook threads), so they are handed to the loop, never shown from where they were logged.
A burst is capped: SHOWN_PER_WINDOW toasts per WINDOW seconds, then one that counts the
rest, so a failing disk cannot bury the screen.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sloth_tui.log_lines import one_line

if TYPE_CHECKING:
    from textual.app import App

LOGGER = "sloth_tui"  # the engine's, the store's, the client's records; not libraries'
WINDOW = 10.0  # seconds
SHOWN_PER_WINDOW = 3
TOAST_SECONDS = 10.0


@dataclass
class _Window:
    started: float = 0.0
    shown: int = 0
    held: int = 0  # records not shown in this window, said once it ends


class LogToasts(logging.Handler):
    """Attach with install(), detach with remove(); show() runs on the app's loop."""

    def __init__(self, app: App[Any], clock: Callable[[], float] = time.monotonic) -> None:
        super().__init__(logging.WARNING)
        self.app = app
        self.clock = clock
        self._loop = asyncio.get_running_loop()
        self._window = _Window()
        self._summary: asyncio.TimerHandle | None = None

    def install(self) -> None:
        logging.getLogger(LOGGER).addHandler(self)

    def remove(self) -> None:
        logging.getLogger(LOGGER).removeHandler(self)
        if self._summary is not None:
            self._summary.cancel()
            self._summary = None

    def emit(self, record: logging.LogRecord) -> None:
        error_level = record.levelno >= logging.ERROR
        with contextlib.suppress(RuntimeError):  # the loop is closed: the dashboard is gone
            self._loop.call_soon_threadsafe(self.show, one_line(record), error_level)

    def show(self, text: str, error_level: bool) -> None:
        now = self.clock()
        window = self._window
        if now - window.started >= WINDOW:
            if self._summary is not None:  # due now anyway: said before this window's first
                self._summary.cancel()
            self._say_held()
            window.started, window.shown = now, 0
        if window.shown < SHOWN_PER_WINDOW:
            window.shown += 1
            self.app.notify(
                text,
                title="Engine error" if error_level else "Engine warning",
                severity="error" if error_level else "warning",
                timeout=TOAST_SECONDS,
            )
            return
        window.held += 1
        if self._summary is None:
            left = max(0.0, window.started + WINDOW - now)
            self._summary = self._loop.call_later(left, self._say_held)

    def _say_held(self) -> None:
        self._summary = None
        held, self._window.held = self._window.held, 0
        if held:
            self.app.notify(
                f"{held} more engine warning{'s' if held != 1 else ''} in {WINDOW:.0f} s, "
                "not shown one by one",
                title="Engine warnings",
                severity="warning",
                timeout=TOAST_SECONDS,
            )
