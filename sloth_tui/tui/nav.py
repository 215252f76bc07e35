"""One navigation grammar for every list and detail view, from one set of bindings.

Each screen puts NAV_BINDINGS first in its BINDINGS and mixes in NavMixin, which runs
the actions on whatever the screen navigates: a DataTable, an OptionList, a Tree, the
live EventTable, or a scrolling detail body. The help screen and the README key table
are built from these same Binding objects, so what they say is what the keys do.

(Textual merges BINDINGS only from DOMNode classes, so a plain mixin cannot carry them:
each screen spreads NAV_BINDINGS into its own list instead.)
"""

from __future__ import annotations

import json
from typing import Any

from textual.binding import Binding
from textual.containers import ScrollableContainer
from textual.keys import key_to_character
from textual.widget import Widget
from textual.widgets import DataTable, OptionList, Tree

from sloth_tui.tui import format as fmt

NAV_BINDINGS: tuple[Binding, ...] = (
    Binding("j", "nav_move(1)", "Down", show=False, id="nav.down",
            tooltip="next row (the arrow keys work too)"),
    Binding("k", "nav_move(-1)", "Up", show=False, id="nav.up", tooltip="previous row"),
    Binding("g", "nav_edge(0)", "Top", show=False, id="nav.top",
            tooltip="first row (Events: the oldest; older pages load)"),
    Binding("G", "nav_edge(1)", "Bottom", show=False, id="nav.bottom",
            tooltip="last row (Events: the newest, following again)"),
    Binding("ctrl+d", "nav_half(1)", "Half page down", show=False, id="nav.half_down",
            tooltip="half a page down"),
    Binding("ctrl+u", "nav_half(-1)", "Half page up", show=False, id="nav.half_up",
            tooltip="half a page up"),
    Binding("enter", "nav_open", "Open", show=False, id="nav.open",
            tooltip="open the highlighted record"),
    Binding("escape", "back", "Back", show=False, id="nav.back",
            tooltip="back out: leave input, clear filter, close"),
    Binding("slash", "filter", "Filter", id="nav.filter",
            tooltip="filter the list (Events and Executions)"),
    Binding("y", "copy_record", "Copy JSON", show=False, id="nav.copy",
            tooltip="copy the highlighted record as JSON"),
)  # fmt: skip

_KEY_NAMES = {"slash": "/", "question_mark": "?", "space": "space", "minus": "-", "plus": "+"}


def key_name(key: str) -> str:
    """One key as a person types it: `?` for question_mark (a [keymap] entry's `?` reaches
    us as Textual's long name), `escape` and `tab` by name."""
    if key in _KEY_NAMES:
        return _KEY_NAMES[key]
    char = key_to_character(key)
    return char if char and char.isprintable() and not char.isspace() else key


def key_text(binding: Binding) -> str:
    """How a binding's keys read in the help and the README: `j`, `/`, `ctrl+d`, `up / k`."""
    if binding.key_display:
        return binding.key_display
    keys = [k.strip() for k in binding.key.split(",")]
    return fmt.printable(" / ".join(key_name(k) for k in keys))  # [keymap] keys: outside text


def what_text(binding: Binding) -> str:
    """What a binding does, in a few words: its tooltip, else its footer label (else its
    action: some of Textual's own bindings have neither)."""
    return binding.tooltip or binding.description or binding.action


def as_bindings(items: Any) -> list[Binding]:
    """A BINDINGS list as Binding objects (a tuple entry becomes one)."""
    out = []
    for item in items:
        out.append(item if isinstance(item, Binding) else Binding(*item))
    return out


def own_bindings(screen_class: type) -> list[Binding]:
    """The bindings a screen class adds to the shared grammar (NAV_BINDINGS left out, and
    one that overrides a shared key keeps that key's meaning, so it is not repeated)."""
    shared = {b.key for b in NAV_BINDINGS}
    return [b for b in as_bindings(getattr(screen_class, "BINDINGS", [])) if b.key not in shared]


class NavMixin:
    """NAV_BINDINGS' actions. A screen says what `/` does (`action_filter`, NAV_FILTER)
    and what `y` copies (`nav_record`); the moves work on the focused navigable widget,
    else on the widget NAV_TARGET selects."""

    NAV_TARGET = ""  # CSS selector of the widget the keys move in when focus is elsewhere
    NAV_FILTER = False  # True where `/` filters

    app: Any
    focused: Widget | None

    # -- what the keys act on ---------------------------------------------------------

    def nav_widget(self) -> Widget | None:
        focused = self.focused
        if focused is not None and _navigable(focused):
            return focused
        if self.NAV_TARGET:
            found = self.query(self.NAV_TARGET)  # type: ignore[attr-defined]
            return found.first() if found else None
        return None

    def nav_record(self) -> tuple[str, Any] | None:
        """(what it is, a JSON-able value) for `y`: the highlighted record; None: nothing."""
        return None

    def nav_open(self) -> None:
        """Enter when the focused widget did not take it (a detail body, say)."""
        widget = self.nav_widget()
        if isinstance(widget, DataTable | Tree):
            widget.action_select_cursor()
        elif isinstance(widget, OptionList):
            widget.action_select()

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "filter" and not self.NAV_FILTER:
            return False  # hidden from the footer, and the key does nothing here
        checked: bool | None = super().check_action(action, parameters)  # type: ignore[misc]
        return checked

    # -- the actions -------------------------------------------------------------------

    def action_nav_move(self, delta: int) -> None:
        move(self.nav_widget(), delta)

    def action_nav_edge(self, end: int) -> None:
        widget: Any = self.nav_widget()
        if widget is not None and hasattr(widget, "action_top"):  # the live EventTable
            widget.action_bottom() if end else widget.action_top()
        elif isinstance(widget, DataTable):
            if widget.row_count:
                widget.move_cursor(row=widget.row_count - 1 if end else 0, animate=False)
        elif isinstance(widget, OptionList):
            widget.action_last() if end else widget.action_first()
        elif isinstance(widget, Tree):
            widget.cursor_line = widget.last_line if end else 0
        elif widget is not None:
            widget.scroll_end(animate=False) if end else widget.scroll_home(animate=False)

    def action_nav_half(self, direction: int) -> None:
        widget = self.nav_widget()
        if widget is not None:
            move(widget, direction * max(1, widget.scrollable_content_region.height // 2))

    def action_nav_open(self) -> None:
        self.nav_open()

    def action_back(self) -> object:
        # The app's (async) back: Textual awaits what an action returns.
        return self.app.action_back()

    def action_copy_record(self) -> None:
        record = self.nav_record()
        if record is None:
            fmt.notify(self, "Nothing highlighted to copy.")  # type: ignore[arg-type]
            return
        what, value = record
        self.app.copy_to_clipboard(json.dumps(value, indent=2, default=str, ensure_ascii=False))
        fmt.notify(self, f"Copied {what} as JSON")  # type: ignore[arg-type]


def _navigable(widget: Widget) -> bool:
    return isinstance(widget, DataTable | OptionList | Tree | ScrollableContainer) or hasattr(
        widget, "action_top"
    )


def move(widget: Widget | None, delta: int) -> None:
    """Move the cursor of `widget` by `delta` rows (clamped), or scroll it by as many lines."""
    if widget is None or delta == 0:
        return
    if hasattr(widget, "action_move") and hasattr(widget, "action_top"):  # EventTable
        widget.action_move(delta)
    elif isinstance(widget, DataTable):
        if widget.row_count:
            row = max(0, min(widget.cursor_row + delta, widget.row_count - 1))
            widget.move_cursor(row=row, animate=False)
    elif isinstance(widget, OptionList | Tree):
        step = widget.action_cursor_down if delta > 0 else widget.action_cursor_up
        for _ in range(abs(delta)):  # one by one: an OptionList skips disabled lines
            step()
    else:
        widget.scroll_relative(y=delta, animate=False)
