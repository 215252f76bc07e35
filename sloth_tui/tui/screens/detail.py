"""One event in full: data, metadata, the hook runs it caused, and its child events.

All of it comes from producers and hooks: shown as text (Text cells, never markup) with
no control character left for the terminal (see `format.plain`)."""

from __future__ import annotations

import json
import time

from rich.syntax import Syntax
from rich.table import Table
from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.widgets import Footer, OptionList, Static
from textual.widgets.option_list import Option

from sloth_tui.engine.errors import NotFound, SlothError
from sloth_tui.engine.records import OK_STATUSES, Event, Execution
from sloth_tui.tui import format as fmt
from sloth_tui.tui.live import Batch
from sloth_tui.tui.screens.base import LiveScreen
from sloth_tui.tui.screens.confirm import Choice, ConfirmScreen
from sloth_tui.tui.widgets.execution_view import clip
from sloth_tui.tui.widgets.safe_option_list import SafeOptionList

RELOAD_EVERY = 0.5  # seconds: coalesce live updates of the shown event
DETAIL_WIDTH = 300  # characters of a run's error or last log line in the runs table


class DetailScreen(LiveScreen):
    BINDINGS = [
        Binding("escape", "app.pop_screen", "Back"),
        Binding("r", "refire", "Re-fire"),
        Binding("R", "rerun", "Re-run hooks"),
        Binding("c", "copy", "Copy JSON", show=False),  # in ? help; the footer is full
        Binding("u", "parent", "Parent"),
        Binding("e", "edit_fire", "Edit+fire"),
    ]

    def __init__(self, event_id: int) -> None:
        super().__init__()
        self.event_id = event_id
        self.event: Event | None = None
        self.executions: list[Execution] = []
        self.child_events: list[Event] = []
        self._dirty = True  # the first refresh_view, once mounted, loads it
        self._last_load = -RELOAD_EVERY

    def compose(self) -> ComposeResult:
        yield Static(f" Event {self.event_id}", id="detail-title", markup=False)
        with VerticalScroll(id="detail-body"):
            yield Static("loading…", id="detail-meta")
            yield Static("", id="detail-data")
            yield Static("", id="detail-execs")
            yield Static("", id="detail-children-title", markup=False)
            yield SafeOptionList(id="detail-children")
        yield Footer()

    def on_mount(self) -> None:
        self.query_one("#detail-body").focus()

    # -- live updates ------------------------------------------------------------

    def ingest(self, batch: Batch) -> None:
        eid = self.event_id
        if (
            any(ex.event_id == eid for ex in batch.executions)
            or any(ev.id == eid for ev in batch.statuses)
            or any(ev.parent_id == eid for ev in batch.events)
            or batch.reconnected
        ):
            self._dirty = True

    def refresh_view(self) -> None:
        now = time.monotonic()
        if self._dirty and now - self._last_load >= RELOAD_EVERY:
            self._dirty = False
            self.load()

    @work(exclusive=True, group="detail")
    async def load(self) -> None:
        self._last_load = time.monotonic()
        engine = self.engine
        try:
            self.event = await engine.get_event(self.event_id)
            self.executions = await engine.executions_of(self.event_id)
            self.child_events = await engine.child_events(self.event_id)
        except NotFound:
            self.query_one("#detail-meta", Static).update(
                Text(f"Event {self.event_id} is not in the store (deleted or trimmed).")
            )
            return
        except SlothError as exc:
            fmt.notify(self, str(exc), title="Could not load the event", severity="error")
            return
        self._show_event()

    # -- rendering -----------------------------------------------------------------

    def _show_event(self) -> None:
        ev = self.event
        assert ev is not None
        colors = self.sloth.category_colors
        title = Text.assemble(
            " Event ", (str(ev.id), "bold"), "  ", (ev.type, f"bold {colors.get(ev.category, '')}")
        )
        self.query_one("#detail-title", Static).update(title)
        self.query_one("#detail-meta", Static).update(self._meta(ev))
        dark = self.app.current_theme.dark
        data = Syntax(
            fmt.pretty_json(ev.data),
            "json",
            theme="ansi_dark" if dark else "ansi_light",
            background_color="default",
            word_wrap=True,
        )
        self.query_one("#detail-data", Static).update(data)
        self.query_one("#detail-execs", Static).update(self._executions())
        kids = self.query_one("#detail-children", OptionList)
        kids.clear_options()
        kids_title = self.query_one("#detail-children-title", Static)
        if self.child_events:
            kids_title.update(Text(f"Child events ({len(self.child_events)}): Enter opens one"))
            kids.add_options(Option(self._child_line(c), id=str(c.id)) for c in self.child_events)
            kids.display = True
        else:
            kids_title.update(Text("Child events: none"))
            kids.display = False

    @staticmethod
    def _child_line(c: Event) -> Text:
        """One child event as text: `[completed]` stays in brackets, data is not markup."""
        return Text.assemble(
            f"{c.id}  ",
            fmt.printable(c.type),
            f"  [{fmt.printable(c.status)}]  ",
            fmt.summary(c.type, c.data),
        )

    def _meta(self, ev: Event) -> Table:
        grid = Table.grid(padding=(0, 2))
        grid.add_column(style="bold", no_wrap=True)
        grid.add_column()
        # Every cell a Text: a str cell of a Rich table is markup (`socket:[/srv]` raised).
        grid.add_row("id", Text(str(ev.id)))
        grid.add_row("type", fmt.plain(f"{ev.type}  (category {ev.category})"))
        grid.add_row("time", Text(fmt.full_time(ev.ts)))
        grid.add_row("source", fmt.plain(ev.source))
        status_style = {"failed": "red", "completed": "green"}.get(ev.status, "yellow")
        grid.add_row("status", fmt.plain(ev.status, style=status_style))
        parent = "-" if ev.parent_id is None else f"{ev.parent_id}  (u opens it)"
        grid.add_row("parent", Text(parent))
        grid.add_row("depth", Text(str(ev.depth)))
        warnings = "\n".join(f"⚠ {w}" for w in ev.warnings)
        grid.add_row(
            "warnings",
            fmt.plain(warnings, style="yellow", lines=True) if warnings else Text("none"),
        )
        return grid

    def _executions(self) -> Table | Text:
        if not self.executions:
            return Text("Hook runs: none (no hook matched, or not run yet)", style="dim")
        table = Table(title="Hook runs", title_justify="left", expand=True, box=None)
        for col in ("time", "hook", "status", "duration", "detail"):
            table.add_column(col, no_wrap=col != "detail", overflow="fold")
        for ex in self.executions:
            style = "green" if ex.status in OK_STATUSES else "red"
            detail = clip(ex.error or (ex.logs[-1].message if ex.logs else ""), DETAIL_WIDTH)
            if ex.dry_run:
                detail = f"(dry run) {detail}"
            table.add_row(
                Text(fmt.clock_time(ex.started)),  # tells a re-run from the first run
                fmt.plain(ex.hook),
                fmt.plain(ex.status, style=style),
                Text(fmt.duration_ms(ex.duration_ms)),
                Text(detail),  # clip made it one printable line
            )
        return table

    # -- actions ------------------------------------------------------------------

    def on_option_list_option_selected(self, message: OptionList.OptionSelected) -> None:
        message.stop()
        if message.option.id:
            self.sloth.open_detail(int(message.option.id))

    async def action_refire(self) -> None:
        if self.event is None:
            return
        try:
            ev = await self.engine.dispatch(self.event.type, self.event.data, source="dashboard")
        except SlothError as exc:
            fmt.notify(self, str(exc), title="Re-fire refused", severity="error")
            return
        fmt.notify(self, f"Re-fired {ev.type} as event {ev.id}")

    def action_rerun(self) -> None:
        event = self.event
        if event is None:
            return

        def answer(choice: str | None) -> None:
            if choice == "rerun":
                self.rerun_hooks(event.id)

        self.app.push_screen(
            ConfirmScreen(
                f"Re-run the hooks of event {event.id}?",
                f"Every enabled hook matching {event.type} runs again on this event, for "
                "real: http.post calls are sent and the events they dispatch are stored. "
                "The new runs are listed beside the old ones.",
                [Choice("y", "Re-run for real", "rerun", "warning")],
            ),
            answer,
        )

    @work(exclusive=True, group="detail-rerun")
    async def rerun_hooks(self, event_id: int) -> None:
        try:
            _event, runs = await self.engine.rerun(event_id)
        except SlothError as exc:
            fmt.notify(self, str(exc), title="Cannot re-run", severity="error")
            return
        good = sum(r.status in OK_STATUSES for r in runs)
        fmt.notify(
            self,
            f"Re-ran {len(runs)} hook{'s' if len(runs) != 1 else ''} on event {event_id}: "
            f"{good} ok, {len(runs) - good} not",
            severity="information" if good == len(runs) else "warning",
        )
        self._dirty = True

    def action_copy(self) -> None:
        if self.event is not None:
            payload = json.dumps(self.event.to_dict(), indent=2, default=str)
            self.app.copy_to_clipboard(payload)
            fmt.notify(self, f"Copied event {self.event.id} as JSON")

    def action_edit_fire(self) -> None:
        if self.event is not None:
            self.sloth.open_fire(self.event.type, self.event.data)

    def action_parent(self) -> None:
        if self.event is None or self.event.parent_id is None:
            fmt.notify(self, "This event has no parent (it was not dispatched by a hook).")
            return
        self.sloth.open_detail(self.event.parent_id)
