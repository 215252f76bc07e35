"""A DataTable whose rows are replaced as a whole, with the columns sized first."""

from __future__ import annotations

from collections.abc import Sequence

from rich.cells import cell_len
from rich.text import Text
from textual.widgets import DataTable


def _width(cell: object) -> int:
    text = cell.plain if isinstance(cell, Text) else str(cell)
    return max((cell_len(line) for line in text.splitlines()), default=0)


def fit_columns(table: DataTable[object], rows: Sequence[Sequence[object]]) -> None:
    """Give each column the width of its widest cell in `rows` (or of its label).

    DataTable measures new rows only when idle, and a frame drawn before that keeps
    header-wide cells in its render caches, which nothing clears once the columns
    widen (Textual 8.2): a table could stay truncated. Call after clear(), before
    adding `rows`, so every frame is drawn at the final widths.
    """
    for index, column in enumerate(table.ordered_columns):
        widest = max((_width(row[index]) for row in rows), default=0)
        column.content_width = max(_width(column.label), widest)


class FittedTable(DataTable[object]):
    def set_rows(self, rows: Sequence[Sequence[object]], keys: Sequence[str]) -> None:
        """Replace every row (row i gets key i), the columns sized before any is added."""
        self.clear()
        fit_columns(self, rows)
        for row, key in zip(rows, keys, strict=True):
            self.add_row(*row, key=key)
