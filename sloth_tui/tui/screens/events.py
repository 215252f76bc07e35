"""Screen 1: the live event stream, its filter, and paging back through history."""

from __future__ import annotations

import asyncio
import contextlib
import time
from pathlib import Path
from typing import TypeVar

from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.css.query import NoMatches
from textual.widget import Widget
from textual.widgets import Input, Static

from sloth_tui.model.errors import SlothError
from sloth_tui.model.records import Event, Execution
from sloth_tui.tui import format as fmt
from sloth_tui.tui.feed import PAGE, EventFeed
from sloth_tui.tui.live import Batch
from sloth_tui.tui.nav import NAV_BINDINGS, NavMixin
from sloth_tui.tui.screens.base import LiveScreen
from sloth_tui.tui.screens.jump_time import JumpTimeScreen
from sloth_tui.tui.widgets.event_preview import EventPreview
from sloth_tui.tui.widgets.event_table import EventTable
from sloth_tui.tui.widgets.filter_bar import FilterBar
from sloth_tui.tui.widgets.key_footer import KeyFooter
from sloth_tui.tui.widgets.lua_editor import display_path
from sloth_tui.tui.widgets.top_bar import TopBar

INITIAL_ROWS = 1000  # rows fetched from the store when the screen opens or the filter changes
MARKS_BATCH = 60
SELECT_WAIT = 5.0  # seconds to wait for a fired event to show before giving up
W = TypeVar("W", bound=Widget)
EMPTY_ROWS = 3  # at most this many system.* rows, and nothing else: the store is "empty"


def empty_hint(socket: Path, own_rows: bool) -> tuple[str, ...]:
    """What to do next on an empty store; `own_rows`: the engine's system.* rows are there
    (its start), so "no events" would contradict the table above the hint."""
    return (
        "Only the engine's own events so far. To get some:"
        if own_rows
        else "No events yet. To get some:",
        "  F                fire one (type with completion, a form or raw JSON)",
        "  sloth-tui demo   a dashboard fed with sample events",
        "  sloth-tui event dispatch TYPE key=value   from a shell, through this dashboard's",
        f"                   socket {display_path(socket)} (producers send there too)",
        "  2 then n         add a hook that runs on them",
    )


class EventsScreen(NavMixin, LiveScreen):
    NAV_TARGET = "#event-table"
    NAV_FILTER = True
    BINDINGS = [
        *NAV_BINDINGS,
        Binding("p", "toggle_pause", "Pause", id="events.pause",
                tooltip="pause / resume the stream"),
        Binding("f", "follow", "Follow", id="events.follow",
                tooltip="follow the tail again (G and end too)"),
        Binding("v", "toggle_split", "Split", id="events.split",
                tooltip="split view: the highlighted event's detail below the list"),
        Binding("t", "jump_time", "Jump to time", id="events.jump_time", show=False,
                tooltip="jump to the first event at/after a time (10m, 2026-11-30T12:00)"),
    ]  # fmt: skip

    QUIET_WHEN_IDLE = True  # every change here comes with a notice

    def __init__(self) -> None:
        super().__init__()
        self.feed = EventFeed(self.sloth.window)
        self._older_busy = False
        self._status = ""
        self._select_id: int | None = None  # an event to put the cursor on once it shows
        self._select_until = 0.0  # (monotonic) when to stop waiting for it
        self._preview_runs: tuple[int, list[Execution]] | None = None  # (event id, its runs)
        self._children: dict[str, Widget] = {}
        # (settings, own rows shown, lines)
        self._hint: tuple[object, bool, tuple[str, ...]] | None = None

    def compose(self) -> ComposeResult:
        yield TopBar(self.MODE)
        yield FilterBar(id="filter-bar")
        yield EventTable(
            self.feed, category_colors=lambda: self.sloth.category_colors, id="event-table"
        )
        yield EventPreview(id="event-preview")
        yield Static("", id="status-line", markup=False)
        yield KeyFooter()

    # The tick reaches these every 0.1 s: looked up once (a DOM query each time cost more
    # than the rest of an idle tick), again only once one has left the screen.
    @property
    def table(self) -> EventTable:
        return self._child("table", EventTable)

    @property
    def filter_bar(self) -> FilterBar:
        return self._child("filter_bar", FilterBar)

    def _child(self, key: str, kind: type[W]) -> W:
        found = self._children.get(key)
        if isinstance(found, kind) and found.parent is self:
            return found
        widget = self.query_one(kind)  # NoMatches once the app is closing, as before
        self._children[key] = widget
        return widget

    def on_mount(self) -> None:
        self.sloth.events_screen = self
        self.query_one(EventPreview).display = bool(self.sloth.ui_state.split)
        self.table.focus()
        self.feed.begin_load()
        last = self.sloth.ui_state.last_filter
        if last and self.set_filter(last):
            return  # the filter of the last run is back, and its Applied loads the rows
        self.load()

    # -- the tick ------------------------------------------------------------------

    def ingest(self, batch: Batch) -> None:
        self.feed.ingest(batch)
        if self.feed.needs_reload and not self.feed.loading:
            self.feed.begin_load()
            self.load()
        elif batch.reconnected:
            self.backfill()

    def refresh_view(self) -> None:
        self.table.sync()
        self._try_select()
        self._show_status()
        self._show_hint()
        self._show_preview()

    def _show_hint(self) -> None:
        """An empty store (only the engine's own system.* rows): say what to do next."""
        feed = self.feed
        quiet = (
            not feed.flt
            and not feed.loading
            and len(feed.rows) <= EMPTY_ROWS
            and all(ev.type.startswith("system.") for ev in feed.rows)
        )
        self.table.set_hint(self._empty_hint(bool(feed.rows)) if quiet else ())

    def _empty_hint(self, own_rows: bool) -> tuple[str, ...]:
        settings = self.engine.settings  # a re-attached engine may bring other settings
        if self._hint is None or self._hint[0] is not settings or self._hint[1] != own_rows:
            self._hint = (settings, own_rows, empty_hint(settings.socket_path, own_rows))
        return self._hint[2]

    # -- the split view ------------------------------------------------------------------

    def action_toggle_split(self) -> None:
        preview = self.query_one(EventPreview)
        preview.display = not preview.display
        self.sloth.remember(split=bool(preview.display))
        self._show_preview()

    def _show_preview(self) -> None:
        """Per tick, with the split open: the highlighted event below (cheap when unchanged)."""
        preview = self._child("preview", EventPreview)
        if not preview.display:
            return
        ev = self.table.cursor_event
        runs = None
        if ev is not None and self._preview_runs is not None and self._preview_runs[0] == ev.id:
            runs = self._preview_runs[1]
        elif ev is not None:
            self.load_preview_runs(ev.id)
        preview.show(ev, runs, dark=self.app.current_theme.dark)

    @work(exclusive=True, group="preview")
    async def load_preview_runs(self, event_id: int) -> None:
        if self._preview_runs is not None and self._preview_runs[0] == event_id:
            return
        try:
            runs = await self.engine.executions_of(event_id)
        except SlothError:
            runs = []
        self._preview_runs = (event_id, runs)
        with contextlib.suppress(NoMatches):  # the app closed while we waited
            self._show_preview()

    # -- keeping the operator's place ----------------------------------------------------

    def select_event(self, event_id: int) -> None:
        """Put the cursor on event `event_id` (the one just fired) once the view has it;
        the view pauses there so the stream does not carry it away."""
        self._select_id = event_id
        self._select_until = time.monotonic() + SELECT_WAIT
        self._try_select()

    def _try_select(self) -> None:
        eid = self._select_id
        if eid is None or self.feed.loading:
            return
        rows = self.feed.rows
        i = self.feed.index_of(eid)
        if i < len(rows) and rows[i].id == eid:
            self._select_id = None
            self.table.pause()
            self.table.move_cursor(i)
        elif time.monotonic() > self._select_until:
            self._select_id = None  # not in this view (the filter leaves it out)
        elif not self.feed.following and not self.feed.at_tail:
            self.table.follow()  # paused behind a gap: the tail reloads, with it

    def _at_newest(self) -> None:
        """Paused, a (re)load shows the newest rows with the cursor on the newest: a new
        filter opens at its newest match, not its oldest."""
        rows, table = self.feed.rows, self.table
        if rows and not self.feed.following:
            table.cursor_id = rows[-1].id
            table.anchor_id = rows[max(0, len(rows) - table.body_height)].id

    def _show_status(self) -> None:
        feed = self.feed
        if feed.loading:
            text = "… loading from the store"
        elif feed.following:
            text = f"● LIVE  following the tail  {len(feed):,} rows in view"
        else:
            new = f"+{feed.new_count:,} new  " if feed.new_count else ""
            text = f"‖ PAUSED  {new}f or End follows  {len(feed):,} rows in view"
        if feed.has_older and not feed.following:
            text += "  (older rows load as you scroll up)"
        if self.filter_bar.error is not None:
            text = f"⚠ STALE: rows filtered by {self.feed.flt.text.strip() or 'nothing'!r}  " + text
        if text != self._status:
            self._status = text
            status = self.query_one("#status-line", Static)
            status.update(text, layout=False)  # one line, as wide as the screen: no layout
            status.set_class(not feed.following, "-paused")
        self.filter_bar.show_count(feed.total)

    # -- loading from the store --------------------------------------------------------

    @work(exclusive=True, group="load")
    async def load(self) -> None:
        """(Re)load the newest page for the current filter; live matches are held meanwhile."""
        feed = self.feed
        flt = feed.flt
        try:
            total = await self.engine.count_events(flt or None)
            events = await self.engine.query_events(flt or None, limit=INITIAL_ROWS)
        except SlothError as exc:
            fmt.notify(self, str(exc), title="Could not load events", severity="error")
            total, events = None, []
        if flt is not feed.flt:  # a newer filter took over while we waited
            return
        feed.finish_load(events, total, INITIAL_ROWS)
        with contextlib.suppress(NoMatches):  # the app closed while we waited
            self.table.anchor_id = None
            self._at_newest()
            if self.live_ready:
                self.refresh_view()

    @work(exclusive=True, group="backfill")
    async def backfill(self) -> None:
        """Attached, after a reconnect: what the daemon stored while its notices could not
        reach us, read forward from the last row (more than a window: reload the tail)."""
        feed = self.feed
        if feed.loading or not feed.at_tail:
            return  # the load under way brings them, or resuming reloads the tail
        flt = feed.flt
        after = feed.rows[-1].id if feed.rows else 0
        missed: list[Event] = []
        try:
            while len(missed) < feed.cap:
                page = await self.engine.query_events(flt or None, after_id=after, limit=PAGE)
                missed += page
                if len(page) < PAGE:
                    break
                after = page[-1].id
        except SlothError:
            return  # lost again: the next reconnect tries again
        if flt is not feed.flt or feed.loading:
            return
        if len(missed) >= feed.cap:
            feed.begin_load()
            self.load()
            return
        feed.merge(missed)  # the next tick shows them

    def on_event_table_need_older(self, message: EventTable.NeedOlder) -> None:
        message.stop()
        if not self._older_busy and self.feed.has_older and not self.feed.loading:
            self._older_busy = True
            self.load_older()

    @work(group="older")
    async def load_older(self) -> None:
        feed = self.feed
        try:
            if feed.rows:
                flt = feed.flt
                page = await self.engine.query_events(
                    flt or None, before_id=feed.rows[0].id, limit=PAGE
                )
                if flt is feed.flt:
                    feed.prepend(page, PAGE)
                    with contextlib.suppress(NoMatches):  # the app closed while we waited
                        self.table.sync(force=True)
        except SlothError as exc:
            fmt.notify(self, str(exc), title="Could not page back", severity="error")
        finally:
            self._older_busy = False

    def on_event_table_need_marks(self, message: EventTable.NeedMarks) -> None:
        message.stop()
        self.load_marks(message.ids[:MARKS_BATCH])

    @work(group="marks")
    async def load_marks(self, ids: list[int]) -> None:
        try:
            outcomes = await self.engine.hook_outcomes(ids)
        except SlothError:
            for event_id in ids:  # placeholders go: the next redraw asks again
                self.feed.marks.pop(event_id, None)
            return
        for event_id, runs in outcomes.items():
            self.feed.set_marks(event_id, runs)
        if self.is_current:
            with contextlib.suppress(NoMatches):  # the app closed while we waited
                self.table.sync(force=True)

    def on_event_table_need_reload(self, message: EventTable.NeedReload) -> None:
        message.stop()
        self.feed.begin_load()
        self.load()

    def on_event_table_follow_changed(self, message: EventTable.FollowChanged) -> None:
        message.stop()
        self._show_status()

    def on_event_table_selected(self, message: EventTable.Selected) -> None:
        message.stop()
        self.sloth.open_detail(message.event.id)

    # -- filter ----------------------------------------------------------------------

    def on_filter_bar_applied(self, message: FilterBar.Applied) -> None:
        message.stop()
        self.feed.set_filter(message.filter)
        self.table.anchor_id = None
        self.table.cursor_id = None
        self.table.empty_text = (
            "no events match the filter" if message.filter else ("waiting for events…")
        )
        if self.live_ready:
            self.refresh_view()
        self.load()

    def on_filter_bar_invalid(self, message: FilterBar.Invalid) -> None:
        message.stop()
        self.table.set_stale(True)  # the rows are the last valid filter's, not this text's
        self._show_status()

    def on_filter_bar_valid(self, message: FilterBar.Valid) -> None:
        message.stop()
        self.table.set_stale(False)
        self._show_status()

    def on_filter_bar_done(self, message: FilterBar.Done) -> None:
        message.stop()
        self.table.focus()

    def set_filter(self, text: str) -> bool:
        """Apply filter text as if typed (the palette and tests use this)."""
        return self.filter_bar.apply(text)

    # -- actions ---------------------------------------------------------------------

    def action_filter(self) -> None:
        self.filter_bar.input.focus()

    def action_jump_time(self) -> None:
        def chosen(when: float | None) -> None:
            if when is not None:
                self.jump_to_time(when)

        self.app.push_screen(JumpTimeScreen(self.sloth.clock), chosen)

    @work(exclusive=True, group="jump")
    async def jump_to_time(self, when: float) -> None:
        """Pause, page back until the oldest loaded row is before `when` (or the store has
        nothing older), and put the cursor on the first event at or after it."""
        feed, table = self.feed, self.table
        table.pause()
        try:
            while feed.loading:  # a reload under way would replace the rows we page into
                await asyncio.sleep(0.02)
            while feed.rows and feed.rows[0].ts >= when and feed.has_older:
                flt = feed.flt
                page = await self.engine.query_events(
                    flt or None, before_id=feed.rows[0].id, limit=PAGE
                )
                if flt is not feed.flt or not feed.prepend(page, PAGE):
                    break
        except SlothError as exc:
            fmt.notify(self, str(exc), title="Could not page back", severity="error")
            return
        rows = feed.rows
        if not rows:
            return
        # Rows are in id order, and ids follow time only nearly (a hook's child is stored
        # when its parent's run ends): the first row at or after `when`, by a scan.
        index = next((i for i, ev in enumerate(rows) if ev.ts >= when), None)
        if index is None:
            index = len(rows) - 1
            fmt.notify(self, "no event at or after that time: the newest is highlighted")
        table.sync(force=True)
        table.move_cursor(index)
        self._show_status()

    def action_toggle_pause(self) -> None:
        if self.feed.following:
            self.table.pause()
        else:
            self.table.follow()
        self._show_status()

    def action_follow(self) -> None:
        self.table.follow()
        self._show_status()

    def nav_record(self) -> tuple[str, object] | None:
        ev = self.table.cursor_event
        return None if ev is None else (f"event {ev.id}", ev.to_dict())

    def action_back(self) -> None:
        """Escape: leave the filter input, then clear the filter, then follow again."""
        if isinstance(self.focused, Input):
            self.table.focus()
        elif self.feed.flt:
            self.set_filter("")
        elif not self.feed.following:
            self.action_follow()
