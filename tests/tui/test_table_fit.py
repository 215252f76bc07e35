"""fit_columns: a DataTable drawn before it is idle already has its final widths."""

from __future__ import annotations

from rich.text import Text
from textual.app import App, ComposeResult
from textual.widgets import DataTable

from sloth_tui.tui.widgets.table_fit import fit_columns


class TableApp(App[None]):
    def compose(self) -> ComposeResult:
        yield DataTable()


async def test_columns_take_the_widest_cell_or_their_label() -> None:
    app = TableApp()
    async with app.run_test(size=(80, 10)) as pilot:
        table = app.query_one(DataTable)
        table.add_columns("time", "type", "status")
        rows = [
            ("12:00:01", "security.login_failed", Text("failed", style="red")),
            ("12:00:02", "x", Text("success dry")),
        ]
        fit_columns(table, rows)
        assert [c.content_width for c in table.ordered_columns] == [8, 21, 11]
        for row in rows:
            table.add_row(*row)
        await pilot.pause()
        # Textual's own measurement, once idle, agrees: nothing changes under the frame.
        assert [c.content_width for c in table.ordered_columns] == [8, 21, 11]
        table.clear()
        fit_columns(table, [("1", "ab", "ok")])  # fewer, shorter rows: back to the labels
        assert [c.content_width for c in table.ordered_columns] == [4, 4, 6]
