"""Screen 2: the hooks the engine has, with their run figures (a simple live table).

The hook workbench (edit, test-fire, enable/disable) extends this screen later;
`load()` and `rows()` are the seams to build on.
"""

from __future__ import annotations

import time

from textual import work
from textual.app import ComposeResult
from textual.widgets import DataTable, Footer, Static

from sloth_tui.engine.errors import SlothError
from sloth_tui.engine.records import Hook
from sloth_tui.engine.store import HookStats
from sloth_tui.tui import format as fmt
from sloth_tui.tui.live import Batch
from sloth_tui.tui.screens.base import LiveScreen
from sloth_tui.tui.widgets.top_bar import TopBar

RELOAD_EVERY = 2.0  # seconds (monotonic) between reloads while runs keep coming
COLUMNS = ("name", "on", "events", "runs", "ok", "p50", "p95", "last run", "description")


class HooksScreen(LiveScreen):
    MODE = "hooks"

    def __init__(self) -> None:
        super().__init__()
        self.hooks: list[Hook] = []
        self.stats: dict[str, HookStats] = {}
        self._dirty = True
        self._loaded_at = 0.0

    def compose(self) -> ComposeResult:
        yield TopBar(self.MODE)
        yield Static("", id="hooks-title", markup=False)
        yield DataTable(id="hooks-table", cursor_type="row", zebra_stripes=True)
        yield Footer()

    def on_mount(self) -> None:
        self.query_one(DataTable).add_columns(*COLUMNS)
        self.load()

    def ingest(self, batch: Batch) -> None:
        if batch.hooks_changed or batch.executions:
            self._dirty = True

    def refresh_view(self) -> None:
        if self._dirty and time.monotonic() - self._loaded_at >= RELOAD_EVERY:
            self.load()

    @work(exclusive=True, group="hooks")
    async def load(self) -> None:
        self._dirty = False
        self._loaded_at = time.monotonic()
        try:
            self.hooks = await self.engine.list_hooks()
            self.stats = await self.engine.hook_stats()
        except SlothError as exc:
            self.notify(str(exc), title="Could not list hooks", severity="error")
            return
        self.draw()

    def rows(self) -> list[tuple[str, ...]]:
        now = self.sloth.clock()
        out = []
        for h in self.hooks:
            st = self.stats.get(h.name)
            rate = st.success_rate if st else None
            out.append((
                h.name,
                "✓" if h.enabled else "✗",
                ", ".join(h.events),
                f"{h.run_count:,}",
                "-" if rate is None else f"{rate:.0%}",
                fmt.duration_ms(st.p50_ms) if st else "-",
                fmt.duration_ms(st.p95_ms) if st else "-",
                fmt.ago(h.last_run, now),
                h.description,
            ))  # fmt: skip
        return out

    def draw(self) -> None:
        table = self.query_one(DataTable)
        cursor = table.cursor_row
        table.clear()
        for row in self.rows():
            table.add_row(*row, key=row[0])
        if self.hooks:
            table.move_cursor(row=min(cursor, len(self.hooks) - 1))
        enabled = sum(h.enabled for h in self.hooks)
        title = f" {len(self.hooks)} hooks, {enabled} enabled"
        if not self.hooks:
            title += "   add one with: sloth-tui hook add NAME --event deploy.failed --file x.lua"
        self.query_one("#hooks-title", Static).update(title)
