"""Screen 4: throughput, what is flowing, how hooks fare, and what it all costs.

Table cells are Text (a str cell of a Rich table is markup): type and hook names too."""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable
from typing import Any

from rich.style import Style
from rich.table import Table
from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Grid, Vertical
from textual.widgets import Sparkline, Static

from sloth_tui.model.errors import SlothError
from sloth_tui.model.stats import HookStats, SourceHealth
from sloth_tui.tui import format as fmt
from sloth_tui.tui.nav import NAV_BINDINGS, NavMixin
from sloth_tui.tui.screens.base import LiveScreen
from sloth_tui.tui.tones import on_theme_change, tones_of
from sloth_tui.tui.widgets.key_footer import KeyFooter
from sloth_tui.tui.widgets.sorting import SortState
from sloth_tui.tui.widgets.table_fit import columns_for
from sloth_tui.tui.widgets.top_bar import TopBar

SPARK_SECONDS = 300
REDRAW_EVERY = 1.0  # seconds (monotonic): the figures are per-second anyway
HOOKS_EVERY = 2.0
TOP_TYPES = 12
HOOK_COLUMNS = ("hook", "ok", "p50", "p95")
# The hooks panel is a third of the screen: below 80 columns the latencies go, so the
# name (ellipsised when still too long) and its success rate stay readable.
HOOK_DROPS = ((80, ("p50", "p95")),)
HOOK_KEYS: tuple[Callable[[tuple[str, HookStats]], Any], ...] = (
    lambda item: item[0],
    lambda item: item[1].success_rate,
    lambda item: item[1].p50_ms,
    lambda item: item[1].p95_ms,
)


def _table(title: str, columns: tuple[str, ...]) -> Table:
    table = Table(box=None, title=title, title_justify="left", pad_edge=False, expand=True)
    for i, name in enumerate(columns):
        right = name in ("n", "ok", "p50", "p95")
        table.add_column(
            name, no_wrap=True, justify="right" if right else "left", ratio=1 if i == 0 else None
        )
    table.title_style = "bold"
    return table


def bar(value: float, top: float, width: int = 8) -> str:
    if top <= 0 or value <= 0:
        return ""
    cells = max(1, round(width * value / top))
    return "█" * min(width, cells)


class StatsScreen(NavMixin, LiveScreen):
    BINDINGS = [
        *NAV_BINDINGS,
        Binding("S", "sort", "Sort hooks", id="stats.sort",
                tooltip="sort the hooks panel by its next column"),
    ]  # fmt: skip

    def __init__(self) -> None:
        super().__init__()
        self.hook_stats: dict[str, HookStats] = {}
        self.sources: list[SourceHealth] = []  # the serving engine's producers
        self.sort = SortState(HOOK_COLUMNS)  # none: by name
        self._drawn = 0.0
        self._hooks_at = 0.0

    def compose(self) -> ComposeResult:
        yield TopBar(self.MODE)
        yield Static("", id="rate-title", markup=False)
        yield Sparkline([], id="rate-spark")
        with Grid(id="stats-grid"):
            yield Static("", id="stats-cats", classes="panel")
            yield Static("", id="stats-types", classes="panel")
            with Vertical(classes="panel"):
                yield Static("", id="stats-hooks")
                yield Static("", id="stats-engine")
        yield KeyFooter()

    def on_mount(self) -> None:
        self.load_hook_stats()
        on_theme_change(self, self.draw)

    def nav_record(self) -> tuple[str, object] | None:
        live = self.sloth.live
        return "the stats", {
            "categories": dict(live.categories),
            "types": dict(live.types),
            "hooks": {name: dataclasses.asdict(hs) for name, hs in self.hook_stats.items()},
        }

    def refresh_view(self) -> None:
        mono = time.monotonic()
        if mono - self._hooks_at >= HOOKS_EVERY and self.sloth.link_lost is None:
            self.load_hook_stats()
        if mono - self._drawn >= REDRAW_EVERY:
            self.draw()

    @work(exclusive=True, group="hook-stats")
    async def load_hook_stats(self) -> None:
        self._hooks_at = time.monotonic()
        try:
            self.hook_stats = await self.engine.hook_stats()
            self.sources = await self.engine.source_health()
        except SlothError as exc:
            fmt.notify(self, str(exc), title="Hook stats unavailable", severity="warning")
            return
        if self.live_ready:
            self.draw()

    # -- drawing ---------------------------------------------------------------------

    def draw(self) -> None:
        self._drawn = time.monotonic()
        live, now = self.sloth.live, self.sloth.clock()
        series = live.series(now, SPARK_SECONDS)
        minute = series[-60:]
        self.query_one("#rate-title", Static).update(
            f"Events/s, last {SPARK_SECONDS // 60} min   now {fmt.count(live.rate(now))}/s  "
            f"1 min avg {fmt.count(sum(minute) / 60)}/s  peak {fmt.count(max(series, default=0))}/s"
        )
        self.query_one("#rate-spark", Sparkline).data = series
        self.query_one("#stats-cats", Static).update(self._categories())
        self.query_one("#stats-types", Static).update(self._types())
        self.query_one("#stats-hooks", Static).update(self._hooks())
        self.query_one("#stats-engine", Static).update(self._engine())

    def _categories(self) -> Table:
        colors = self.sloth.category_colors
        cats = self.sloth.live.categories
        top = max(cats.values(), default=0)
        table = _table("Per category", ("category", "n", ""))
        for name, n in cats.most_common():
            color = colors.get(name, "")
            table.add_row(
                fmt.plain(name, style=color), Text(fmt.count(n)), Text(bar(n, top, 6), style=color)
            )
        if not cats:
            table.add_row(Text("(none yet)"), Text(""), Text(""))
        return table

    def _types(self) -> Table:
        types = self.sloth.live.types
        table = _table("Top types", ("type", "n"))
        for name, n in types.most_common(TOP_TYPES):
            table.add_row(fmt.plain(name), Text(fmt.count(n)))
        if not types:
            table.add_row(Text("(none yet)"), Text(""))
        return table

    def action_sort(self) -> None:
        self.sort.cycle()
        self.draw()

    def _hooks(self) -> Table:
        title = "Hooks (last 1000 runs)"
        if self.sort.column is not None:  # short: the panel is a third of the screen
            title = f"Hooks by {self.sort.label(self.sort.column).plain}"
        shown = columns_for(self.app.size.width, HOOK_COLUMNS, HOOK_DROPS)
        table = _table(title, tuple(HOOK_COLUMNS[i] for i in shown))
        rows = self.sort.apply(sorted(self.hook_stats.items()), HOOK_KEYS)
        tones = tones_of(self)
        for name, hs in rows:
            rate = hs.success_rate
            ok = "-" if rate is None else f"{rate:.0%}"
            # Only a rate that needs a look is coloured: a panel of green reads as noise.
            style = Style() if rate is None or rate >= 0.95 else tones.rate(rate)
            cells = (
                fmt.plain(name),
                Text(ok, style=style),
                Text(fmt.duration_ms(hs.p50_ms)),
                Text(fmt.duration_ms(hs.p95_ms)),
            )
            table.add_row(*(cells[i] for i in shown))
        if not self.hook_stats:
            table.add_row(Text("(no runs)"), *(Text("") for _ in shown[1:]))
        return table

    def _engine(self) -> Table:
        live = self.sloth.live
        grid = Table.grid(padding=(0, 1))
        grid.add_column(style="bold")
        grid.add_column()
        rate = live.success_rate
        grid.add_row(
            "runs",
            f"✓{live.exec_ok:,} ✗{live.exec_bad:,}" + ("" if rate is None else f" ({rate:.0%})"),
        )
        st = self.engine.stats()  # cheap counters; the bus's 1 s notice may lag a tick
        grid.add_row("queue", f"{st.queue_depth:,} waiting")
        drops = st.bus_dropped + live.dropped
        warn = tones_of(self).warn if drops else ""
        grid.add_row("dropped", Text(f"{drops:,} notices", style=warn))
        grid.add_row("uptime", fmt.ago(st.started, self.sloth.clock()).replace(" ago", ""))
        info = self.sloth.sysinfo()
        here = "dashboard" if self.sloth.attached else "engine"  # this process
        grid.add_row(here, f"cpu {info.proc_cpu:.0f}% rss {fmt.size(info.proc_rss)}")
        grid.add_row("host", f"cpu {info.host_cpu:.0f}% mem {info.host_mem:.0f}%")
        grid.add_row("disk", f"{info.disk:.0f}%, {fmt.size(info.disk_free)} free")
        tones = tones_of(self)
        for source in self.sources:  # names and details come from config: plain text
            tone = {"running": tones.ok, "failed": tones.bad}.get(source.state, tones.muted)
            line = Text(source.state, style=tone)
            if source.detail:
                line.append(f" {fmt.printable(source.detail)}")
            grid.add_row(fmt.plain(source.name), line)
        return grid
