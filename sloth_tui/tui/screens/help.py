"""`?`: every key, by where it works."""

from __future__ import annotations

from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Static

from sloth_tui.tui.screens.base import StaleMapGuard

KEYS: tuple[tuple[str, tuple[tuple[str, str], ...]], ...] = (
    ("Anywhere", (
        ("1 2 3 4 5", "Events, Hooks, Executions, Stats, Catalog"),
        ("F", "fire an event (type with completion, form or raw JSON)"),
        ("ctrl+p", "command palette: fire a type, open a screen, theme, pause"),
        ("?", "this help"),
        ("escape", "back out: close, leave input, clear filter, follow"),
        ("q / ctrl+q", "quit"),
    )),
    ("Events", (
        ("/", "filter: text type:deploy.* cat:security src:demo status:failed hook:NAME k=v !neg"),
        ("enter / double-click", "event detail"),
        ("up down k j", "move (moving off the tail pauses)"),
        ("pgup pgdn space", "page"),
        ("home g", "oldest loaded row (older pages load from the store)"),
        ("p", "pause / resume the stream"),
        ("f end G", "follow the tail again"),
        ("c", "copy the row as JSON"),
    )),
    ("Event detail", (
        ("r", "re-fire the event (source dashboard)"),
        ("R", "re-run its hooks on it, for real (asks first)"),
        ("e", "edit the data, then fire"),
        ("c", "copy the event as JSON"),
        ("u", "open the parent event"),
        ("enter", "open the selected child event"),
    )),
    ("Fire dialog", (
        ("→ / enter", "accept the type completion"),
        ("enter in a field / ctrl+s", "fire"),
        ("ctrl+t", "switch between the form and raw JSON"),
    )),
    ("Catalog", (("enter / s", "fire the selected type with its sample"),)),
    ("Hooks", (
        ("n", "new hook (name, patterns with completion, template or existing file)"),
        ("enter / e", "edit the hook's Lua file"),
        ("space", "enable / disable"),
        ("d", "delete (asks; the Lua file is kept)"),
        ("t", "open the editor and test-fire"),
        ("x", "this hook's executions"),
    )),
    ("Hook editor", (
        ("ctrl+s", "save (only code that compiles; an error moves the cursor to its line)"),
        ("ctrl+r", "dry run the buffer, saved or not (http and dispatch only recorded)"),
        ("ctrl+f", "fire the event for real"),
        ("ctrl+g", "go to the error line"),
        ("ctrl+o", "switch pane (narrow terminals)"),
        ("f2 / f3", "sample data / a recent real event (repeat to cycle)"),
        ("f4", "open the hook's last real run"),
        ("ctrl+z / ctrl+y", "undo / redo"),
    )),
    ("Executions", (
        ("/", "filter: hook:NAME status:failed dry:no words"),
        ("s / h", "cycle status / only this hook"),
        ("enter", "execution detail: logs, calls, error"),
        ("o", "open the event that ran the hook"),
        ("r", "re-run the event against the hook's current code (dry run)"),
        ("R (detail)", "re-run it for real (asks first; recorded beside the old run)"),
        ("R (list)", "retry the hook on every event where its latest run failed (asks)"),
        ("e", "edit the hook"),
    )),
)  # fmt: skip


class HelpScreen(StaleMapGuard, ModalScreen[None]):
    BINDINGS = [
        Binding("escape,question_mark,q", "app.pop_screen", "Close"),
    ]

    def compose(self) -> ComposeResult:
        table = Table(box=None, show_header=False, padding=(0, 1), expand=True)
        table.add_column(style="bold", no_wrap=True)
        table.add_column()
        for section, keys in KEYS:  # Text cells: a key such as "[" must not read as markup
            table.add_row(Text.assemble((section, "underline")), Text(""))
            for key, what in keys:
                table.add_row(Text(key), Text(what))
            table.add_row(Text(""), Text(""))
        with VerticalScroll(id="help-body"):
            yield Static(
                "Keys   (escape closes; mouse: click tabs, rows, buttons)", id="help-title"
            )
            yield Static(table)
