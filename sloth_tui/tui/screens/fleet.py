"""Screen 7: the fleet this engine belongs to (serve --nats, or --attach nats://...).

The header line is this engine: its name in the fleet, its role (a member runs hooks, an
observer, a dashboard's view, only takes the fleet in and fires), its link to NATS
(connected, or the last error) and its own counters. The table is the members, from
EngineAPI.fleet_status() polled on the app's tick: state, version, the age of the last
heartbeat, events/s, hook runs/s, queue depth, lag behind the stream, outbox, hooks.

Names, versions and errors come from other engines over the network: cells are Text
(FittedTable), the header plain (fmt.plain), never markup.
"""

from __future__ import annotations

import time

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.widgets import Static

from sloth_tui.model.errors import SlothError
from sloth_tui.model.fleet import FleetMember, FleetStatus
from sloth_tui.tui import format as fmt
from sloth_tui.tui.nav import NAV_BINDINGS, NavMixin
from sloth_tui.tui.screens.base import LiveScreen
from sloth_tui.tui.screens.sources import row_keys
from sloth_tui.tui.tones import Tones, on_theme_change, tones_of
from sloth_tui.tui.widgets.execution_view import clip
from sloth_tui.tui.widgets.key_footer import KeyFooter
from sloth_tui.tui.widgets.table_fit import FittedTable, columns_for
from sloth_tui.tui.widgets.top_bar import TopBar

POLL_EVERY = 1.0  # seconds (monotonic) between two asks for the fleet's status
COLUMNS = (
    "engine", "state", "version", "heartbeat", "events/s", "runs/s", "queue", "lag",
    "outbox", "hooks",
)  # fmt: skip
DROPS = ((100, ("version", "outbox")), (80, ("hooks", "runs/s")))
NAME_WIDTH = 40  # a longer name is cut, not a reason to scroll sideways
ERROR_WIDTH = 160
NOT_JOINED = "not in a fleet: serve --nats URL, or --attach nats://HOST:4222"


def state_text(state: str, tones: Tones) -> Text:
    style = {"up": tones.ok, "late": tones.warn, "down": tones.bad}.get(state, tones.muted)
    return fmt.plain(state, style=style)


def rate_text(rate: float) -> Text:
    return Text(f"{rate:.1f}" if 0 < rate < 10 else fmt.count(round(rate)))


def number_text(n: int, warn_from: int, tones: Tones) -> Text:
    return Text(f"{n:,}", style=tones.warn if n >= warn_from > 0 else "")


def header_text(status: FleetStatus, problem: str, tones: Tones) -> Text:
    """This engine's line: name, role, link, counters (all but the labels plain)."""
    line = Text(" ")
    if not status.joined:
        line.append(NOT_JOINED, style="italic")
        if problem:
            line.append("   " + problem, style="bold")
        return line
    line.append(fmt.printable(clip(status.name, NAME_WIDTH)), style="bold")
    line.append(" · observer" if status.observer else " · member")
    line.append(" · ")
    line.append(fmt.printable(status.url))
    line.append(" · ")
    if status.connected:
        line.append("connected", style=tones.ok)
    else:
        line.append("not connected", style=tones.bad)
        if status.error:
            line.append(": " + clip(status.error, ERROR_WIDTH), style=tones.bad)
    if status.counters:
        shown = "  ".join(f"{fmt.printable(k)} {v:,}" for k, v in sorted(status.counters.items()))
        line.append("   " + shown, style="dim")
    if problem:
        line.append("   " + problem, style="bold")
    return line


def member_row(m: FleetMember, now: float, tones: Tones) -> tuple[Text, ...]:
    return (
        Text(clip(m.name, NAME_WIDTH)),  # clip: one printable line
        state_text(m.state, tones),
        fmt.plain(clip(m.version, NAME_WIDTH)),
        Text(fmt.ago(m.last_heartbeat, now) if m.last_heartbeat else "never"),
        rate_text(m.events_per_s),
        rate_text(m.runs_per_s),
        number_text(m.queue_depth, 1000, tones),
        number_text(m.lag, 1000, tones),
        number_text(m.outbox, 1000, tones),
        Text(f"{m.hooks:,}"),
    )


class FleetScreen(NavMixin, LiveScreen):
    NAV_TARGET = "#fleet-table"
    DEFAULT_CSS = """
    FleetScreen #fleet-title, FleetScreen #fleet-members-title {
        height: auto;
        color: $text-muted;
    }
    FleetScreen #fleet-table { height: 1fr; }
    """
    BINDINGS = [
        *NAV_BINDINGS,
        Binding("r", "reload", "Refresh", id="fleet.refresh",
                tooltip="ask the engine for the fleet's status now"),
    ]  # fmt: skip

    def __init__(self) -> None:
        super().__init__()
        self.status = FleetStatus()
        self.problem = ""  # why the last poll failed, shown in the header
        self.loaded = False
        self._loaded_at = 0.0
        self._drawn = False

    def compose(self) -> ComposeResult:
        yield TopBar(self.MODE)
        yield Static("", id="fleet-title", markup=False)
        yield Static("", id="fleet-members-title", markup=False)
        yield FittedTable(id="fleet-table", cursor_type="row", zebra_stripes=True)
        yield KeyFooter()

    @property
    def table(self) -> FittedTable:
        return self.query_one("#fleet-table", FittedTable)

    def on_mount(self) -> None:
        self.table.focus()
        self.load()
        on_theme_change(self, self.draw)

    def refresh_view(self) -> None:
        if time.monotonic() - self._loaded_at >= POLL_EVERY and self.sloth.link_lost is None:
            self.load()
        elif self.loaded and not self._drawn:  # the first answer came before the widgets
            self.draw()

    @work(exclusive=True, group="fleet")
    async def load(self) -> None:
        """One poll (a worker: never on a frame)."""
        self._loaded_at = time.monotonic()
        try:
            status = await self.engine.fleet_status()
        except (SlothError, OSError) as exc:  # a daemon from before the op, or gone
            self.problem = f"not updated: {fmt.printable(str(exc))}"
        else:
            self.status, self.problem, self.loaded = status, "", True
        if self.live_ready:
            self.draw()

    def action_reload(self) -> None:
        self.load()

    def current_member(self) -> FleetMember | None:
        table = self.table
        members = self.status.members
        if not members or table.row_count == 0:
            return None
        row = table.cursor_row
        return members[row] if 0 <= row < len(members) else None

    def nav_record(self) -> tuple[str, object] | None:
        member = self.current_member()
        if member is None:
            return "the fleet", self.status.to_dict()
        return f"engine {member.name}", member.to_dict()

    # -- drawing ------------------------------------------------------------------------

    def draw(self) -> None:
        self._drawn = True
        now = self.sloth.clock()
        tones = tones_of(self)
        status = self.status
        self.query_one("#fleet-title", Static).update(header_text(status, self.problem, tones))
        members = status.members
        title = Text(" ")
        if status.joined and not members:
            title.append("no members seen yet", style="italic")
            if not status.connected:
                title.append(" (not connected)", style="italic")
        elif members:
            counts = {s: sum(m.state == s for m in members) for s in ("up", "late", "down")}
            title.append(f"{len(members)} engine{'' if len(members) == 1 else 's'}: ")
            title.append(", ".join(f"{n} {s}" for s, n in counts.items() if n))
        self.query_one("#fleet-members-title", Static).update(title)
        table = self.table
        before = self.current_member()
        shown = columns_for(self.app.size.width, COLUMNS, DROPS)
        table.show_columns(list(COLUMNS), shown)
        keys = row_keys([m.name for m in members])
        keep = before.name if before is not None and before.name in keys else None
        rows = [member_row(m, now, tones) for m in members]
        table.set_rows(
            [tuple(row[i] for i in shown) for row in rows],
            keys,
            keep=keep,
            fit_width=table.size.width,
        )
