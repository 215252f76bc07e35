"""One event in full: data, metadata, the hook runs it caused, and its child events.

The runs and the children are lists the cursor walks as one (j/k cross from the last run
to the first child): Enter opens a run's execution detail, or a child's detail; `u`
opens the parent. The keys are the shared grammar of tui/nav.py.

All of it comes from producers and hooks: shown as text (Text cells, never markup) with
no control character left for the terminal (see `format.plain`)."""

from __future__ import annotations

import contextlib
import time

from rich.syntax import Syntax
from rich.table import Table
from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.css.query import NoMatches
from textual.widget import Widget
from textual.widgets import OptionList, Static
from textual.widgets.option_list import Option

from sloth_tui.model.errors import NotFound, SlothError
from sloth_tui.model.records import OK_STATUSES, Event, Execution
from sloth_tui.tui import format as fmt
from sloth_tui.tui.live import Batch
from sloth_tui.tui.nav import NAV_BINDINGS, NavMixin, move
from sloth_tui.tui.screens.base import LiveScreen
from sloth_tui.tui.screens.confirm import Choice, ConfirmScreen
from sloth_tui.tui.screens.execution_detail import ExecutionDetailScreen
from sloth_tui.tui.screens.explain import ExplainScreen
from sloth_tui.tui.screens.trace import TraceScreen
from sloth_tui.tui.tones import Tones, on_theme_change, tones_of
from sloth_tui.tui.widgets.event_preview import context_rows
from sloth_tui.tui.widgets.execution_view import clip
from sloth_tui.tui.widgets.key_footer import KeyFooter
from sloth_tui.tui.widgets.safe_option_list import SafeOptionList

RELOAD_EVERY = 0.5  # seconds: coalesce live updates of the shown event
DETAIL_WIDTH = 300  # characters of a run's error or last log line in the runs table


class DetailScreen(NavMixin, LiveScreen):
    NAV_TARGET = "#detail-body"
    BINDINGS = [
        *NAV_BINDINGS,
        Binding("r", "refire", "Re-fire", id="detail.refire",
                tooltip="re-fire the event (source dashboard)"),
        Binding("R", "rerun", "Re-run hooks", id="detail.rerun",
                tooltip="re-run its hooks on it, for real (asks first)"),
        Binding("u", "parent", "Parent", id="detail.parent", tooltip="open the parent event"),
        Binding("e", "edit_fire", "Edit+fire", id="detail.edit_fire",
                tooltip="edit the data, then fire"),
        Binding("x", "explain", "Explain", id="detail.explain",
                tooltip="why each hook ran on this event, or why not"),
        Binding("t", "trace", "Trace", id="detail.trace",
                tooltip="the tree the event belongs to: runs, events they dispatched, times"),
    ]  # fmt: skip

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
            yield Static("", id="detail-execs-title", markup=False)
            yield SafeOptionList(id="detail-execs")
            yield Static("", id="detail-children-title", markup=False)
            yield SafeOptionList(id="detail-children")
        yield KeyFooter()

    def on_mount(self) -> None:
        self.query_one("#detail-body").focus()
        self._placed = False  # the cursor goes to the first run or child once, on load
        on_theme_change(self, self._retheme)
        # Read now, while the first layout runs, rather than at the next tick (up to one
        # TICK later): the event shows a frame or two sooner (bench --scale's detail open).
        self.refresh_view()

    def _retheme(self) -> None:
        if self.event is not None:
            self._show_event()

    @property
    def runs_list(self) -> OptionList:
        return self.query_one("#detail-execs", OptionList)

    @property
    def kids_list(self) -> OptionList:
        return self.query_one("#detail-children", OptionList)

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
            with contextlib.suppress(NoMatches):  # see below
                self.query_one("#detail-meta", Static).update(
                    Text(f"Event {self.event_id} is not in the store (deleted or trimmed).")
                )
            return
        except SlothError as exc:
            fmt.notify(self, str(exc), title="Could not load the event", severity="error")
            return
        # The reads above yield: the screen may have been closed meanwhile (escape, or
        # the app quitting), its widgets gone. Then there is nothing left to show; a
        # NoMatches here used to end the whole app (a worker's error is the app's).
        with contextlib.suppress(NoMatches):
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
        runs_title = self.query_one("#detail-execs-title", Static)
        if self.executions:
            runs_title.update(
                Text(f"Hook runs ({len(self.executions)}): Enter opens one (logs, calls)")
            )
        else:
            runs_title.update(Text("Hook runs: none (no hook matched, or not run yet)"))
        _refill(
            self.runs_list,
            [
                Option(self._run_line(ex, tones_of(self)), id=f"run:{i}")
                for i, ex in enumerate(self.executions)
            ],
        )
        kids_title = self.query_one("#detail-children-title", Static)
        if self.child_events:
            kids_title.update(Text(f"Child events ({len(self.child_events)}): Enter opens one"))
        else:
            kids_title.update(Text("Child events: none"))
        _refill(
            self.kids_list,
            [Option(self._child_line(c), id=f"event:{c.id}") for c in self.child_events],
        )
        if not self._placed and (self.executions or self.child_events):
            # The records one key away get the cursor, so j/k/Enter reach them at once.
            self._placed = True
            # The detail still opens at its top: the event's own fields come first.
            first = self.runs_list if self.executions else self.kids_list
            self._focus_list(first, first=True, scroll=False)

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
        tones = tones_of(self)
        grid = Table.grid(padding=(0, 2))
        grid.add_column(style="bold", no_wrap=True)
        grid.add_column()
        # Every cell a Text: a str cell of a Rich table is markup (`socket:[/srv]` raised).
        grid.add_row("id", Text(str(ev.id)))
        grid.add_row("type", fmt.plain(f"{ev.type}  (category {ev.category})"))
        grid.add_row("time", Text(fmt.full_time(ev.ts)))
        grid.add_row("source", fmt.plain(ev.source))
        if ev.origin is not None:  # taken in from another fleet engine (serve --nats)
            grid.add_row("origin", fmt.plain(ev.origin))
        for label, cell in context_rows(ev):
            grid.add_row(label, cell)
        grid.add_row("status", fmt.plain(ev.status, style=tones.event(ev.status)))
        parent = "-" if ev.parent_id is None else f"{ev.parent_id}  (u opens it)"
        grid.add_row("parent", Text(parent))
        grid.add_row("depth", Text(str(ev.depth)))
        warnings = "\n".join(f"⚠ {w}" for w in ev.warnings)
        grid.add_row(
            "warnings",
            fmt.plain(warnings, style=tones.warn, lines=True) if warnings else Text("none"),
        )
        return grid

    @staticmethod
    def _run_line(ex: Execution, tones: Tones) -> Text:
        """One hook run: time (tells a re-run from the first run), hook, status, took, and
        its error or last log line (clip made it one printable line)."""
        style = tones.run(ex.status)
        detail = clip(ex.error or (ex.logs[-1].message if ex.logs else ""), DETAIL_WIDTH)
        if ex.dry_run:
            detail = f"(dry run) {detail}"
        return Text.assemble(
            fmt.clock_time(ex.started),
            "  ",
            fmt.plain(ex.hook, style="bold"),
            "  ",
            fmt.plain(ex.status, style=style),
            f"  {fmt.duration_ms(ex.duration_ms)}  ",
            detail,
        )

    # -- the shared keys ---------------------------------------------------------------

    def _focus_list(self, target: OptionList, *, first: bool, scroll: bool = True) -> None:
        if target.option_count:
            target.focus(scroll_visible=scroll)
            target.highlighted = 0 if first else target.option_count - 1
            if scroll:
                target.scroll_visible(animate=False)

    def nav_widget(self) -> Widget | None:
        focused = self.focused
        if focused in (self.runs_list, self.kids_list):
            return focused
        return self.query_one("#detail-body")

    def action_nav_move(self, delta: int) -> None:
        """j/k walk the runs and the children as one list; with neither, they scroll."""
        widget = self.nav_widget()
        runs, kids = self.runs_list, self.kids_list
        at_last_run = widget is runs and runs.highlighted == runs.option_count - 1
        if delta > 0 and at_last_run and kids.option_count:
            self._focus_list(kids, first=True)
            return
        if widget is kids and delta < 0 and kids.highlighted == 0 and runs.option_count:
            self._focus_list(runs, first=False)
            return
        move(widget, delta)
        if isinstance(widget, OptionList):  # the first move brings the list into view
            widget.scroll_visible(animate=False)

    def action_nav_half(self, direction: int) -> None:
        body = self.query_one("#detail-body")  # the data can be long: half pages scroll it
        move(body, direction * max(1, body.scrollable_content_region.height // 2))

    def action_nav_edge(self, end: int) -> None:
        body = self.query_one("#detail-body")
        body.scroll_end(animate=False) if end else body.scroll_home(animate=False)

    def nav_record(self) -> tuple[str, object] | None:
        """The event itself, wherever the cursor is: a detail view's record is its own
        (a run or a child opens with Enter, and `y` there copies that one)."""
        return None if self.event is None else (f"event {self.event.id}", self.event.to_dict())

    # -- actions ------------------------------------------------------------------

    def on_option_list_option_selected(self, message: OptionList.OptionSelected) -> None:
        message.stop()
        kind, _, value = (message.option.id or "").partition(":")
        if kind == "event":
            self.sloth.open_detail(int(value))
        elif kind == "run" and int(value) < len(self.executions):
            self.app.push_screen(ExecutionDetailScreen(self.executions[int(value)]))

    async def action_refire(self) -> None:
        if self.event is None:
            return
        try:
            old = self.event
            # The same stack, agent and run: a stack's hooks run on the copy too.
            ev = await self.engine.dispatch(
                old.type,
                old.data,
                source="dashboard",
                stack=old.stack,
                agent=old.agent,
                run_id=old.run_id,
            )
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

    def action_edit_fire(self) -> None:
        if self.event is not None:
            self.sloth.open_fire(self.event.type, self.event.data)

    def action_trace(self) -> None:
        self.app.push_screen(TraceScreen(self.event_id))

    def action_explain(self) -> None:
        self.app.push_screen(ExplainScreen(self.event_id))

    def action_parent(self) -> None:
        if self.event is None or self.event.parent_id is None:
            fmt.notify(self, "This event has no parent (it was not dispatched by a hook).")
            return
        self.sloth.open_detail(self.event.parent_id)


def _refill(options: OptionList, items: list[Option]) -> None:
    """Replace a list's options, the highlight kept on its line (a live reload must not
    move the cursor under the reader), and the list hidden when empty."""
    was = options.highlighted
    options.clear_options()
    options.add_options(items)
    if items and was is not None:
        options.highlighted = min(was, len(items) - 1)
    options.display = bool(items)
