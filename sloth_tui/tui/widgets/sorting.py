"""Sorting a list view by any of its columns: `S` cycles the column, a click on a header
sorts by it (a second click on the same header reverses it).

The state is the column and the direction; each screen gives one key function per column
(raw values, not the text shown: 900 ms sorts before 1.2 s). A value that is missing
(None) sorts last whichever the direction.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar

from rich.text import Text
from textual.widgets import DataTable

from sloth_tui.tui.widgets.table_fit import FittedTable

T = TypeVar("T")
UP, DOWN = " ▲", " ▼"


@dataclass
class SortState:
    columns: tuple[str, ...]
    column: int | None = None  # None: the view's natural order
    reverse: bool = False

    def cycle(self) -> None:
        """The next column; after the last one, the natural order again."""
        if self.column is None:
            self.column = 0
        elif self.column + 1 < len(self.columns):
            self.column += 1
        else:
            self.column = None
        self.reverse = False

    def click(self, index: int) -> None:
        if index == self.column:
            self.reverse = not self.reverse
        else:
            self.column, self.reverse = index, False

    def label(self, index: int) -> Text:
        name = self.columns[index]
        if index != self.column:
            return Text(name)
        return Text(name + (DOWN if self.reverse else UP), style="bold")

    def describe(self) -> str:
        if self.column is None:
            return ""
        way = "descending" if self.reverse else "ascending"
        return f"sorted by {self.columns[self.column]}, {way}"

    def apply(self, items: Sequence[T], keys: Sequence[Callable[[T], Any]]) -> list[T]:
        if self.column is None:
            return list(items)
        key = keys[self.column]
        present = [x for x in items if key(x) is not None]
        missing = [x for x in items if key(x) is None]
        return sorted(present, key=key, reverse=self.reverse) + missing


class SortedTableMixin:
    """The sorting keys of a screen with one FittedTable: `S` cycles the column, a header
    click sorts by it, and a resize redraws (the columns shown depend on the width).

    The screen provides `sort` (a SortState), `table` (its FittedTable), `live_ready`
    and `draw()`, which sorts and shows the rows."""

    sort: SortState
    live_ready: bool

    if TYPE_CHECKING:  # the screen's own; declared for mypy, not defined here

        @property
        def table(self) -> FittedTable: ...

        def draw(self) -> None: ...

    def on_resize(self) -> None:
        if self.live_ready:
            self.draw()

    def action_sort(self) -> None:
        self.sort.cycle()
        self.draw()

    def on_data_table_header_selected(self, message: DataTable.HeaderSelected) -> None:
        message.stop()
        self.sort.click(self.table.shown_columns[message.column_index])
        self.draw()
