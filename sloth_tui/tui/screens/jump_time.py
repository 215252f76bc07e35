"""Events' `t`: ask for a time (the forms `since:` takes) and hand it back as epoch seconds.

The parsing is the filter language's own (`filters.parse_time`), so `t 10m` and
`since:10m` read the same text the same way; a bad time is one line in the dialog."""

from __future__ import annotations

from collections.abc import Callable

from textual import events, on
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Input, Static

from sloth_tui.model.filters import TIME_HINT, parse_time
from sloth_tui.tui import format as fmt
from sloth_tui.tui.screens.base import StaleMapGuard


class JumpTimeScreen(StaleMapGuard, ModalScreen[float | None]):
    """Dismisses with the time typed (epoch seconds), or None on escape."""

    CSS_PATH = "../workbench.tcss"

    def __init__(self, clock: Callable[[], float]) -> None:
        super().__init__()
        self.clock = clock  # ages count back from the app's clock (frozen in tests)

    def compose(self) -> ComposeResult:
        with Vertical(id="jump-dialog"):
            yield Static(fmt.plain("Jump to a time", style="bold"), id="jump-title")
            yield Input(placeholder="10m, 2h, 2026-11-30T12:00", id="jump-input")
            yield Static(fmt.plain(f"{TIME_HINT}; esc cancels"), id="jump-error")

    def on_mount(self) -> None:
        self.query_one(Input).focus()

    def on_key(self, event: events.Key) -> None:
        if event.key == "escape":
            event.stop()
            self.dismiss(None)

    @on(Input.Submitted)
    def _submitted(self, event: Input.Submitted) -> None:
        event.stop()
        text = event.value.strip()
        try:
            when = parse_time(text, now=self.clock())
        except ValueError as exc:
            error = self.query_one("#jump-error", Static)
            error.update(fmt.plain(str(exc).splitlines()[0] if str(exc) else "not a time"))
            error.add_class("-error")
            return
        self.dismiss(when)
