"""`?`: every key, by where it works, read from the bindings themselves.

Nothing here is written by hand: the shared grammar (tui/nav.py), the app's keys and each
screen's own bindings give the key and its tooltip (or footer label). The README's key
table is the same list as markdown (`key_table_markdown`; a test holds the two equal).
"""

from __future__ import annotations

from rich.table import Table
from rich.text import Text
from textual.app import App, ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Static

from sloth_tui.tui.nav import NAV_BINDINGS, NavMixin, as_bindings, key_text, own_bindings, what_text
from sloth_tui.tui.screens.base import StaleMapGuard


def key_sections(app_class: type[App[None]]) -> list[tuple[str, list[Binding]]]:
    """(where, bindings) in the order the help shows them."""
    from sloth_tui.tui.screens.catalog import CatalogScreen
    from sloth_tui.tui.screens.detail import DetailScreen
    from sloth_tui.tui.screens.events import EventsScreen
    from sloth_tui.tui.screens.execution_detail import ExecutionDetailScreen
    from sloth_tui.tui.screens.executions import ExecutionsScreen
    from sloth_tui.tui.screens.fire import FireScreen
    from sloth_tui.tui.screens.hook_editor import HookEditorScreen
    from sloth_tui.tui.screens.hooks import HooksScreen
    from sloth_tui.tui.screens.stats import StatsScreen
    from sloth_tui.tui.widgets.event_table import EventTable

    palette = Binding(
        app_class.COMMAND_PALETTE_BINDING,
        "command_palette",
        "Palette",
        tooltip="command palette: fire a type, open a screen, theme, pause",
    )
    anywhere = [b for b in as_bindings(app_class.BINDINGS) if b.key != "ctrl+c"]
    table_keys = [b for b in own_bindings(EventTable) if b.key not in ("up", "down")]
    return [
        ("Anywhere", [*anywhere, palette]),
        ("Every list and detail view", list(NAV_BINDINGS)),
        ("Events", [*own_bindings(EventsScreen), *table_keys]),
        ("Event detail", own_bindings(DetailScreen)),
        ("Hooks", own_bindings(HooksScreen)),
        ("Hook editor", own_bindings(HookEditorScreen)),
        ("Executions", own_bindings(ExecutionsScreen)),
        ("Execution detail", own_bindings(ExecutionDetailScreen)),
        ("Stats", own_bindings(StatsScreen)),
        ("Catalog", own_bindings(CatalogScreen)),
        ("Fire dialog", own_bindings(FireScreen)),
    ]


def key_table_markdown(app_class: type[App[None]]) -> str:
    """The README's key table: `| where | key | what it does |`, one row per binding."""
    lines = ["| where | key | what it does |", "| --- | --- | --- |"]
    for where, bindings in key_sections(app_class):
        for b in bindings:
            what = what_text(b).replace("|", "\\|")
            lines.append(f"| {where} | `{key_text(b)}` | {what} |")
    return "\n".join(lines)


class HelpScreen(NavMixin, StaleMapGuard, ModalScreen[None]):
    NAV_TARGET = "#help-body"
    BINDINGS = [
        *NAV_BINDINGS,
        Binding("question_mark,q", "app.pop_screen", "Close", tooltip="close the help"),
    ]

    def compose(self) -> ComposeResult:
        table = Table(box=None, show_header=False, padding=(0, 1), expand=True)
        table.add_column(style="bold", no_wrap=True)
        table.add_column()
        self.rows: list[tuple[str, str, str]] = []  # (where, key, what): what is shown
        for section, bindings in key_sections(type(self.app)):
            # Text cells: a key such as "[" must not read as markup
            table.add_row(Text.assemble((section, "underline")), Text(""))
            for b in bindings:
                self.rows.append((section, key_text(b), what_text(b)))
                table.add_row(Text(key_text(b)), Text(what_text(b)))
            table.add_row(Text(""), Text(""))
        with VerticalScroll(id="help-body"):
            yield Static(
                "Keys   (escape closes; j/k scroll; mouse: click tabs, rows, buttons)",
                id="help-title",
            )
            yield Static(table)

    def nav_record(self) -> tuple[str, object] | None:
        keys = [
            {"where": where, "key": key_text(b), "what": what_text(b)}
            for where, bindings in key_sections(type(self.app))
            for b in bindings
        ]
        return "the key table", keys
