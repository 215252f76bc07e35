"""Screen 1: the live event stream, its filter, and paging back through history."""

from __future__ import annotations

import contextlib
import json

from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.css.query import NoMatches
from textual.widgets import Footer, Input, Static

from sloth_tui.engine.errors import SlothError
from sloth_tui.engine.records import Event
from sloth_tui.tui import format as fmt
from sloth_tui.tui.feed import PAGE, EventFeed
from sloth_tui.tui.live import Batch
from sloth_tui.tui.screens.base import LiveScreen
from sloth_tui.tui.widgets.event_table import EventTable
from sloth_tui.tui.widgets.filter_bar import FilterBar
from sloth_tui.tui.widgets.top_bar import TopBar

INITIAL_ROWS = 1000  # rows fetched from the store when the screen opens or the filter changes
MARKS_BATCH = 60


class EventsScreen(LiveScreen):
    MODE = "events"
    BINDINGS = [
        Binding("slash", "filter", "Filter"),
        Binding("p", "toggle_pause", "Pause"),
        Binding("f", "follow", "Follow"),
        Binding("c", "copy", "Copy", show=False),
        Binding("escape", "back", "Back", show=False),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.feed = EventFeed(self.sloth.window)
        self._older_busy = False
        self._status = ""

    def compose(self) -> ComposeResult:
        yield TopBar(self.MODE)
        yield FilterBar(id="filter-bar")
        yield EventTable(
            self.feed, category_colors=lambda: self.sloth.category_colors, id="event-table"
        )
        yield Static("", id="status-line", markup=False)
        yield Footer()

    @property
    def table(self) -> EventTable:
        return self.query_one(EventTable)

    @property
    def filter_bar(self) -> FilterBar:
        return self.query_one(FilterBar)

    def on_mount(self) -> None:
        self.sloth.events_screen = self
        self.table.focus()
        self.feed.begin_load()
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
        self._show_status()

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
        if text != self._status:
            self._status = text
            status = self.query_one("#status-line", Static)
            status.update(text)
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

    def on_filter_bar_done(self, message: FilterBar.Done) -> None:
        message.stop()
        self.table.focus()

    def set_filter(self, text: str) -> bool:
        """Apply filter text as if typed (the palette and tests use this)."""
        return self.filter_bar.apply(text)

    # -- actions ---------------------------------------------------------------------

    def action_filter(self) -> None:
        self.filter_bar.input.focus()

    def action_toggle_pause(self) -> None:
        if self.feed.following:
            self.table.pause()
        else:
            self.table.follow()
        self._show_status()

    def action_follow(self) -> None:
        self.table.follow()
        self._show_status()

    def action_copy(self) -> None:
        ev = self.table.cursor_event
        if ev is not None:
            self.app.copy_to_clipboard(json.dumps(ev.to_dict(), indent=2, default=str))
            fmt.notify(self, f"Copied event {ev.id} as JSON")

    def action_back(self) -> None:
        """Escape: leave the filter input, then clear the filter, then follow again."""
        if isinstance(self.focused, Input):
            self.table.focus()
        elif self.feed.flt:
            self.set_filter("")
        elif not self.feed.following:
            self.action_follow()
