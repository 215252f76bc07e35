"""One line on top of every screen: the screen tabs (clickable) and the live pulse."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.containers import Horizontal
from textual.widgets import Static

SCREENS: tuple[tuple[str, str, str], ...] = (
    ("1", "events", "Events"),
    ("2", "hooks", "Hooks"),
    ("3", "executions", "Execs"),
    ("4", "stats", "Stats"),
    ("5", "catalog", "Catalog"),
)


def tabs_markup(active: str) -> str:
    parts = []
    for key, mode, label in SCREENS:
        style = "reverse b" if mode == active else ""
        text = f" {key} {label} "
        link = f"@click=app.show({mode!r})"
        parts.append(f"[{style} {link}]{text}[/]" if style else f"[{link}]{text}[/]")
    return "".join(parts)


class TopBar(Horizontal):
    def __init__(self, active: str) -> None:
        super().__init__()
        self.active = active
        self._pulse = ""

    def compose(self) -> ComposeResult:
        yield Static("[b]sloth-tui[/] ", id="brand")
        yield Static(tabs_markup(self.active), id="tabs")
        yield Static("", id="pulse", markup=False)

    def set_pulse(self, text: str) -> None:
        if text != self._pulse:
            self._pulse = text
            self.query_one("#pulse", Static).update(text)
