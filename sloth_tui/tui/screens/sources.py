"""Screen 6: the serving engine's producers, how much each hands in, and their switches.

The upper table is every source (EngineAPI.source_health): kind, state, last event,
events/s, events, errors and its one-line detail. The lower one lists the items of the
highlighted source that an operator may act on (EngineAPI.source_items: each schedule,
each check); e, d and r enable, disable or run the highlighted item once, without
asking (each is easy to undo, or harmless), and the result line is a toast.

events/s is measured here, from the event counts of successive polls over a short
window (RateWindow), so the engine keeps counters only. Names, details and results come
from config and strangers: cells are Text (FittedTable), toasts plain (format.notify).
"""

from __future__ import annotations

import time
from collections import deque
from dataclasses import dataclass, field

from rich.style import Style
from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.widgets import DataTable, Static

from sloth_tui.model.errors import SlothError
from sloth_tui.model.stats import SourceHealth, SourceItem
from sloth_tui.tui import format as fmt
from sloth_tui.tui.nav import NAV_BINDINGS, NavMixin
from sloth_tui.tui.screens.base import LiveScreen
from sloth_tui.tui.tones import Tones, on_theme_change, tones_of
from sloth_tui.tui.widgets.execution_view import clip
from sloth_tui.tui.widgets.key_footer import KeyFooter
from sloth_tui.tui.widgets.table_fit import FittedTable, columns_for
from sloth_tui.tui.widgets.top_bar import TopBar

POLL_EVERY = 1.0  # seconds (monotonic) between two asks for the figures
RATE_WINDOW = 10.0  # seconds of samples events/s is measured over
COLUMNS = ("source", "kind", "state", "last event", "events/s", "events", "errors", "detail")
DROPS = ((100, ("kind", "events")),)
ITEM_COLUMNS = ("item", "on", "can", "detail")
NAME_WIDTH = 40  # a longer source or item name is cut, not a reason to scroll sideways
KEYS_HINT = "e enable · d disable · r run once · tab: sources / items"


@dataclass
class RateWindow:
    """events/s per source from (monotonic time, event count) samples: the count's rise
    over the samples of the last `window` seconds. A count that falls (the source was
    replaced, or the daemon restarted) starts the source afresh."""

    window: float = RATE_WINDOW
    samples: dict[str, deque[tuple[float, int]]] = field(default_factory=dict)

    def add(self, name: str, at: float, events: int) -> None:
        got = self.samples.setdefault(name, deque())
        if got and events < got[-1][1]:
            got.clear()
        got.append((at, events))
        while len(got) > 2 and at - got[1][0] >= self.window:
            got.popleft()  # keep one sample at or beyond the window's start

    def rate(self, name: str) -> float | None:
        """None until two samples exist."""
        got = self.samples.get(name)
        if not got or len(got) < 2:
            return None
        (t0, n0), (t1, n1) = got[0], got[-1]
        return (n1 - n0) / (t1 - t0) if t1 > t0 else None

    def keep_only(self, names: set[str]) -> None:
        for gone in set(self.samples) - names:
            del self.samples[gone]


def state_text(state: str, tones: Tones) -> Text:
    style = {"running": tones.ok, "failed": tones.bad + Style(bold=True)}.get(state)
    return fmt.plain(state, style=style if style is not None else tones.muted)


def rate_text(rate: float | None) -> Text:
    if rate is None:
        return Text("-", style="dim")
    return Text(f"{rate:.1f}" if 0 < rate < 10 else fmt.count(round(rate)))


def switch_text(enabled: bool | None, tones: Tones) -> Text:
    if enabled is None:
        return Text("-", style="dim")
    return Text("✓", style=tones.ok) if enabled else Text("✗ off", style=tones.warn)


def row_keys(names: list[str]) -> list[str]:
    """Row keys for `names`: the name, or name#i where one repeats (keys must be unique)."""
    seen: set[str] = set()
    out = []
    for i, name in enumerate(names):
        key = name if name not in seen else f"{name}#{i}"
        seen.add(name)
        out.append(key)
    return out


class SourcesScreen(NavMixin, LiveScreen):
    NAV_TARGET = "#sources-table"
    DEFAULT_CSS = """
    SourcesScreen #sources-title, SourcesScreen #sources-items-title {
        height: 1;
        color: $text-muted;
    }
    SourcesScreen #sources-table { height: 1fr; }
    SourcesScreen #sources-items { height: auto; max-height: 45%; }
    """
    BINDINGS = [
        *NAV_BINDINGS,
        Binding("e", "control('enable')", "Enable", id="sources.enable",
                tooltip="enable the highlighted schedule or check"),
        Binding("d", "control('disable')", "Disable", id="sources.disable",
                tooltip="disable the highlighted schedule or check"),
        Binding("r", "control('run')", "Run once", id="sources.run",
                tooltip="run the highlighted schedule or check once, now"),
    ]  # fmt: skip

    def __init__(self) -> None:
        super().__init__()
        self.health: list[SourceHealth] = []
        self.items: list[SourceItem] = []
        self.rates = RateWindow()
        self.problem = ""  # why the last poll failed, shown in the title
        self._loaded_at = 0.0
        self._keys: list[str] = []  # the source table's row keys, in row order

    def compose(self) -> ComposeResult:
        yield TopBar(self.MODE)
        yield Static("", id="sources-title", markup=False)
        yield FittedTable(id="sources-table", cursor_type="row", zebra_stripes=True)
        yield Static("", id="sources-items-title", markup=False)
        yield FittedTable(id="sources-items", cursor_type="row")
        yield KeyFooter()

    @property
    def table(self) -> FittedTable:
        return self.query_one("#sources-table", FittedTable)

    @property
    def item_table(self) -> FittedTable:
        return self.query_one("#sources-items", FittedTable)

    def on_mount(self) -> None:
        self.table.focus()
        self.load()
        on_theme_change(self, self.draw)

    def refresh_view(self) -> None:
        if time.monotonic() - self._loaded_at >= POLL_EVERY and self.sloth.link_lost is None:
            self.load()

    @work(exclusive=True, group="sources")
    async def load(self) -> None:
        """One poll: the figures, then the items (a worker: never on a frame)."""
        self._loaded_at = time.monotonic()
        try:
            health = await self.engine.source_health()
        except (SlothError, OSError) as exc:
            self.problem = f"not updated: {fmt.printable(str(exc))}"
            if self.live_ready:
                self.draw()
            return
        self.problem = ""
        try:
            items = await self.engine.source_items()
        except (SlothError, OSError) as exc:  # a daemon from before the op: figures only
            items = []
            self.problem = f"no items: {fmt.printable(str(exc))}"
        at = time.monotonic()
        for h in health:
            self.rates.add(h.name, at, h.events)
        self.rates.keep_only({h.name for h in health})
        self.health, self.items = health, items
        if self.live_ready:
            self.draw()

    # -- what is highlighted ------------------------------------------------------------

    def current_source(self) -> SourceHealth | None:
        table = self.table
        if not self.health or table.row_count == 0:
            return None
        key = table.coordinate_to_cell_key(table.cursor_coordinate).row_key.value
        if key is None or key not in self._keys:
            return None
        index = self._keys.index(str(key))
        return self.health[index] if index < len(self.health) else None

    def items_of(self, source: SourceHealth | None) -> list[SourceItem]:
        return [] if source is None else [i for i in self.items if i.source == source.name]

    def current_item(self) -> SourceItem | None:
        items = self.items_of(self.current_source())
        table = self.item_table
        if not items or table.row_count == 0:
            return None
        row = table.cursor_row
        return items[row] if 0 <= row < len(items) else items[0]

    def nav_record(self) -> tuple[str, object] | None:
        source = self.current_source()
        if source is None:
            return None
        record = dict(source.to_dict(), items=[i.to_dict() for i in self.items_of(source)])
        return f"source {source.name}", record

    def nav_open(self) -> None:
        """Enter on a source with items: into its items (tab goes back and forth too)."""
        if self.focused is self.table and self.items_of(self.current_source()):
            self.item_table.focus()

    def action_back(self) -> object:
        if self.focused is self.item_table:
            self.table.focus()
            return None
        return super().action_back()

    # -- drawing ------------------------------------------------------------------------

    def draw(self) -> None:
        now = self.sloth.clock()
        tones = tones_of(self)
        table = self.table
        before = self.current_source()
        rows = []
        for h in self.health:
            rows.append(
                (
                    Text(clip(h.name, NAME_WIDTH)),  # clip: one printable line
                    fmt.plain(h.kind),
                    state_text(h.state, tones),
                    Text(fmt.ago(h.last_event, now) if h.last_event else "-"),
                    rate_text(self.rates.rate(h.name)),
                    Text(f"{h.events:,}"),
                    Text(f"{h.errors:,}", style=tones.bad if h.errors else ""),
                    fmt.plain(h.detail),
                )
            )
        shown = columns_for(self.app.size.width, COLUMNS, DROPS)
        table.show_columns(list(COLUMNS), shown)
        self._keys = row_keys([h.name for h in self.health])
        keep_key = None
        if before is not None and before.name in self._keys:
            keep_key = before.name
        table.set_rows(
            [tuple(row[i] for i in shown) for row in rows],
            self._keys,
            keep=keep_key,
            fit_width=table.size.width,
        )
        self._draw_title()
        self._draw_items()

    def _draw_title(self) -> None:
        running = sum(h.state == "running" for h in self.health)
        n = len(self.health)
        title = Text(f" {n} source{'' if n == 1 else 's'}, {running} running   ")
        if self.problem:
            title.append(self.problem, style="bold")
        elif not self.health:
            title.append("this engine serves no sources", style="italic")
        self.query_one("#sources-title", Static).update(title)

    def _draw_items(self) -> None:
        source = self.current_source()
        items = self.items_of(source)
        tones = tones_of(self)
        table = self.item_table
        keep = self.current_item()
        table.show_columns(list(ITEM_COLUMNS), tuple(range(len(ITEM_COLUMNS))))
        rows = [
            (
                Text(clip(i.name, NAME_WIDTH)),
                switch_text(i.enabled, tones),
                Text(" ".join(i.actions) or "-"),
                fmt.plain(i.detail),
            )
            for i in items
        ]
        keys = row_keys([i.name for i in items])
        keep_key = keep.name if keep is not None and keep.name in keys else None
        table.set_rows(rows, keys, keep=keep_key, fit_width=table.size.width)
        title = Text(" ")
        if source is None:
            title.append("no source highlighted")
        elif items:
            noun = "item" if len(items) == 1 else "items"
            title.append(f"{fmt.printable(source.name)}: {len(items)} {noun}   ")
            if self.app.size.width >= 90:
                title.append(KEYS_HINT, style="dim")
        else:
            title.append(f"{fmt.printable(source.name)}: nothing to enable, disable or run")
            if not self.items and not self.sloth.attached:
                title.append("  (schedules and checks run in serve)", style="italic")
        self.query_one("#sources-items-title", Static).update(title)

    def on_data_table_row_highlighted(self, message: DataTable.RowHighlighted) -> None:
        if message.data_table is self.table and self.live_ready:
            self._draw_items()

    def on_data_table_row_selected(self, message: DataTable.RowSelected) -> None:
        if message.data_table is self.table:  # enter on a source: into its items
            message.stop()
            self.nav_open()

    # -- acting on an item -------------------------------------------------------------

    def action_control(self, action: str) -> None:
        source, item = self.current_source(), self.current_item()
        if source is None or item is None:
            what = source.name if source is not None else "this source"
            fmt.notify(self, f"{what}: nothing to {action} here", severity="warning")
            return
        self.control(source.name, item.name, action)

    @work(group="source-control")
    async def control(self, source: str, item: str, action: str) -> None:
        try:
            line = await self.engine.control_source(source, item, action)
        except (SlothError, OSError) as exc:
            fmt.notify(self, str(exc), title=f"Could not {action}", severity="warning")
        else:
            fmt.notify(self, line)
        self.load()
