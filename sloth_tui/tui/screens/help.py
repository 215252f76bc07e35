"""`?`: the keys of the screen underneath, then every key by where it works.

Nothing here is written by hand. The first section is what Textual itself would do with a
key on the screen the help was opened over (its active bindings: the focused widget's, the
screen's and the app's, with the [keymap] applied). The sections below come from the
bindings the app declares (tui/keymap.py: the shared grammar, the app's keys, each screen
spec's bindings). The README's key table is that same list as markdown
(`key_table_markdown`; a test holds the two equal).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Static

from sloth_tui.tui.keymap import Section
from sloth_tui.tui.keymap import key_sections as key_sections
from sloth_tui.tui.nav import NAV_BINDINGS, NavMixin, key_text, what_text
from sloth_tui.tui.screens.base import StaleMapGuard

if TYPE_CHECKING:
    from sloth_tui.tui.app import SlothApp

KEY_WIDTH = 14  # the key column: `ctrl+pagedown` fits, `pagedown / ctrl+f / space` wraps


def key_table_markdown(app_class: type[SlothApp]) -> str:
    """The README's key table: `| where | key | what it does |`, one row per binding."""
    lines = ["| where | key | what it does |", "| --- | --- | --- |"]
    for where, bindings in key_sections(app_class):
        for b in bindings:
            what = what_text(b).replace("|", "\\|")
            lines.append(f"| {where} | `{key_text(b)}` | {what} |")
    return "\n".join(lines)


class HelpScreen(NavMixin, StaleMapGuard, ModalScreen[None]):
    """Two columns, both in view: the keys of the screen underneath, and every key."""

    DEFAULT_CSS = """
    HelpScreen { align: center middle; }
    #help-keys {
        width: 100%;
        max-width: 150;
        height: auto;
        max-height: 100%;
        border: round $primary;
        background: $surface;
        padding: 0 1;
    }
    #help-columns { height: auto; }
    #help-columns > Static { width: 1fr; height: auto; }
    #help-here { margin-right: 2; }
    """
    NAV_TARGET = "#help-keys"
    BINDINGS = [
        *NAV_BINDINGS,
        Binding("question_mark,q", "app.pop_screen", "Close", tooltip="close the help"),
    ]

    def __init__(
        self,
        here: tuple[str, Sequence[tuple[Binding, bool]]] | None = None,
        sections: Sequence[Section] = (),
    ) -> None:
        """`here`: (the screen's title, its live (binding, enabled) pairs); `sections`: the
        reference, every key by where it works (the app builds both: tui/app.py)."""
        super().__init__()
        self.here = here
        self.sections = list(sections)
        self.rows: list[tuple[str, str, str]] = []  # (where, key, what): what is shown

    def compose(self) -> ComposeResult:
        self.rows = []
        here: list[Section] = []
        dim: set[int] = set()  # bound, but not possible right now (Textual's "disabled")
        if self.here is not None:
            title, live = self.here
            here = [(f"On this screen: {title}", [b for b, _enabled in live])]
            dim = {id(b) for b, enabled in live if not enabled}
        with VerticalScroll(id="help-keys"):
            yield Static(
                "Keys   (escape closes; j/k scroll; mouse: click tabs, rows, buttons)",
                id="help-title",
            )
            with Horizontal(id="help-columns"):
                yield Static(self._table(here, dim), id="help-here")
                yield Static(self._table(self.sections, set()), id="help-all")

    def _table(self, sections: Sequence[Section], dim: set[int]) -> Group:
        parts: list[RenderableType] = []
        for section, bindings in sections:
            # Text cells: a key such as "[" must not read as markup
            parts.append(Text(section, style="underline"))
            table = Table(box=None, show_header=False, padding=(0, 1), pad_edge=False, expand=True)
            # One width in every section, so the columns line up; long keys wrap at " / ".
            table.add_column(style="bold", width=KEY_WIDTH)
            table.add_column(ratio=1)
            for b in bindings:
                self.rows.append((section, key_text(b), what_text(b)))
                style = "dim" if id(b) in dim else ""
                table.add_row(Text(key_text(b), style=style), Text(what_text(b), style=style))
            parts += [table, Text("")]
        return Group(*parts)

    def nav_record(self) -> tuple[str, object] | None:
        keys = [{"where": where, "key": key, "what": what} for where, key, what in self.rows]
        return "the key table", keys
