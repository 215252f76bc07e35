"""Screen 3: the newest hook runs (a simple live table); Enter opens the event that ran them.

The executions workbench (logs, calls, filters) extends this screen later.
"""

from __future__ import annotations

import time
from collections import deque

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.widgets import DataTable, Footer, Static

from sloth_tui.engine.errors import SlothError
from sloth_tui.engine.records import Execution
from sloth_tui.tui import format as fmt
from sloth_tui.tui.live import GOOD_EXEC, Batch
from sloth_tui.tui.screens.base import LiveScreen
from sloth_tui.tui.widgets.top_bar import TopBar

KEEP = 300  # newest runs kept and shown
REDRAW_EVERY = 0.5  # seconds (monotonic)
COLUMNS = ("time", "hook", "event", "status", "took", "detail")


class ExecutionsScreen(LiveScreen):
    MODE = "executions"

    def __init__(self) -> None:
        super().__init__()
        self.runs: deque[Execution] = deque(maxlen=KEEP)  # oldest first
        self._dirty = False
        self._drawn = 0.0

    def compose(self) -> ComposeResult:
        yield TopBar(self.MODE)
        yield Static(" newest hook runs first; Enter opens the event", id="execs-title", markup=False)
        yield DataTable(id="execs-table", cursor_type="row", zebra_stripes=True)
        yield Footer()

    def on_mount(self) -> None:
        self.query_one(DataTable).add_columns(*COLUMNS)
        self.load()

    @work(exclusive=True, group="execs")
    async def load(self) -> None:
        try:
            runs = await self.engine.executions(limit=KEEP)
        except SlothError as exc:
            self.notify(str(exc), title="Could not list executions", severity="error")
            return
        seen = {(r.hook, r.event_id, r.started) for r in self.runs}
        older = [r for r in reversed(runs) if (r.hook, r.event_id, r.started) not in seen]
        self.runs = deque([*older, *self.runs], maxlen=KEEP)
        self.draw()

    def ingest(self, batch: Batch) -> None:
        if batch.executions:
            self.runs.extend(batch.executions)
            self._dirty = True

    def refresh_view(self) -> None:
        if self._dirty and time.monotonic() - self._drawn >= REDRAW_EVERY:
            self.draw()

    def draw(self) -> None:
        self._dirty = False
        self._drawn = time.monotonic()
        table = self.query_one(DataTable)
        cursor = table.cursor_row
        table.clear()
        for i, ex in enumerate(reversed(self.runs)):
            style = "green" if ex.status in GOOD_EXEC else "red"
            detail = ex.error or (ex.logs[-1].message if ex.logs else "")
            if ex.dry_run:
                detail = f"(dry run) {detail}"
            table.add_row(
                fmt.clock_time(ex.started),
                ex.hook,
                str(ex.event_id),
                Text(ex.status, style=style),
                fmt.duration_ms(ex.duration_ms),
                detail,
                key=str(i),
            )
        if self.runs:
            table.move_cursor(row=min(cursor, len(self.runs) - 1), animate=False)

    def on_data_table_row_selected(self, message: DataTable.RowSelected) -> None:
        message.stop()
        runs = list(reversed(self.runs))
        index = message.cursor_row
        if 0 <= index < len(runs) and runs[index].event_id:
            self.sloth.open_detail(runs[index].event_id)
