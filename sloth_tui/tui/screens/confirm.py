"""A small question with one key per answer (y/n, save/discard, reload/keep); escape cancels.

Titles and messages name hooks, files and events: they are shown as plain text."""

from __future__ import annotations

from dataclasses import dataclass

from rich.text import Text
from textual import events, on
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Static

from sloth_tui.tui import format as fmt
from sloth_tui.tui.screens.base import StaleMapGuard


@dataclass(frozen=True, slots=True)
class Choice:
    key: str  # one printable key, e.g. "y"
    label: str
    value: str
    variant: str = "default"  # Button variant: default | primary | warning | error


class ConfirmScreen(StaleMapGuard, ModalScreen[str | None]):
    """Dismisses with the chosen Choice.value, or None on escape."""

    CSS_PATH = "../workbench.tcss"

    def __init__(
        self, title: str, message: str, choices: list[Choice], *, default: str | None = None
    ) -> None:
        super().__init__()
        self.title_text = title
        self.message = message
        self.choices = choices
        self.default = default  # the value Enter picks; None: Enter cancels

    def compose(self) -> ComposeResult:
        with Vertical(id="confirm-dialog"):
            yield Static(fmt.plain(self.title_text, style="bold"), id="confirm-title")
            yield Static(fmt.plain(self.message, lines=True), id="confirm-message")
            with Horizontal(id="confirm-buttons"):
                for c in self.choices:
                    yield Button(
                        Text(f"{c.label} [{c.key}]"),  # Text: a str label is markup, eating [y]
                        id=f"confirm-{c.value}",
                        variant=c.variant,  # type: ignore[arg-type]
                        compact=True,
                    )
                yield Button(Text("Cancel [esc]"), id="confirm-cancel", compact=True)

    def on_mount(self) -> None:
        self.query_one(f"#confirm-{self.default or 'cancel'}", Button).focus()

    def on_key(self, event: events.Key) -> None:
        if event.key == "escape":
            event.stop()
            self.dismiss(None)
            return
        for c in self.choices:
            if event.key == c.key:
                event.stop()
                self.dismiss(c.value)
                return

    @on(Button.Pressed)
    def _pressed(self, event: Button.Pressed) -> None:
        event.stop()
        value = (event.button.id or "").removeprefix("confirm-")
        self.dismiss(None if value == "cancel" else value)
