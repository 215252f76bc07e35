"""The live event table: a Line-API view over an EventFeed that renders only visible rows.

Row y of the widget is the header at 0 and `feed.rows[scroll_y + y - 1]` below it,
so the cost of a frame is the screen's height, whatever the feed holds. Strips are
cached per (row, status, marks, cursor, width) and dropped on theme or style change.
Following, the view sticks to the tail; any move away from it (keys, wheel, scrollbar,
click) pauses, and while paused the top row is pinned by event id, so rows arriving,
trimmed or paged in never move what the operator is reading.

Rows are drawn as segments, not markup; what producers wrote (source, data) goes
through `printable` first, since a segment's text goes to the terminal as it is.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache

from rich.cells import cell_len, set_cell_size
from rich.segment import Segment
from rich.style import Style
from textual import events
from textual.binding import Binding
from textual.cache import LRUCache
from textual.geometry import Size
from textual.message import Message
from textual.scroll_view import ScrollView
from textual.scrollbar import ScrollTo, ScrollUp
from textual.strip import Strip

from sloth_tui.model.filters import Filter
from sloth_tui.model.records import Event
from sloth_tui.tui import format as fmt
from sloth_tui.tui.feed import EventFeed
from sloth_tui.tui.widgets.filter_marks import marked, marks_type, needles_of


@dataclass(frozen=True, slots=True)
class Layout:
    time: int
    id: int
    type: int
    source: int
    marks: int
    summary: int
    context: int = 0  # STACK@AGENT (Sloth Runner's context), on wide terminals only
    origin: int = 0  # ORIGIN: the fleet engine a row came from, once the table has any


@lru_cache(maxsize=64)  # per row drawn: a handful of widths in a session
def layout_for(width: int, origin: bool = False) -> Layout:
    """Column widths for a table `width` cells wide. The stack@agent column shows from
    CONTEXT_FROM columns up and is the first to go; below 100 columns the others drop by
    priority (the source, then the time's milliseconds, then the time); the id and the
    HOOKS marks (the row's status) always stay, and the summary takes what is left.
    With `origin` (rows from other fleet engines are shown) an ORIGIN column comes after
    the id from ORIGIN_FROM columns up."""
    id_ = 7
    marks = 7
    type_ = 24 if width >= 60 else 18
    source = 14 if width >= 110 else 10 if width >= 100 else 0
    time = 12 if width >= 80 else 8 if width >= 56 else 0
    context = 20 if width >= CONTEXT_FROM else 0
    origin_ = ORIGIN_WIDTH if origin and width >= ORIGIN_FROM else 0
    used = sum(w + 1 for w in (time, id_, origin_, type_, source, context, marks) if w)
    return Layout(time, id_, type_, source, marks, max(0, width - used), context, origin_)


CONTEXT_FROM = 130  # columns: wider than the snapshots' 120, where the summary has room
ORIGIN_FROM = 70  # columns: below, the type and the marks need the room
ORIGIN_WIDTH = 12  # an engine's name is up to 63 characters: cut with an ellipsis


def context_text(ev: Event) -> str:
    """An event's stack and agent in one cell: `prod@web-1`, `prod`, `@web-1` or ""."""
    stack = ev.stack or ""
    return stack + ("@" + ev.agent if ev.agent else "")


def fit(text: str, width: int) -> str:
    """Pad or cut to exactly `width` cells, marking a cut with an ellipsis."""
    if width > 0 and text.isascii() and text.isprintable():
        # One cell per character (most cells): plain slicing, the same result as below
        # at a fraction of the cost (every visible row is new at each frame under load).
        if len(text) <= width:
            return text + " " * (width - len(text))
        return text[: width - 1] + "…" if width > 1 else text[:1]
    if cell_len(text) <= width:
        return set_cell_size(text, width)
    return set_cell_size(text, width - 1) + "…" if width > 1 else set_cell_size(text, width)


class EventTable(ScrollView, can_focus=True):
    COMPONENT_CLASSES = {
        "event-table--header", "event-table--cursor", "event-table--dim",
        "event-table--ok", "event-table--bad", "event-table--warn", "event-table--empty",
    }  # fmt: skip
    BINDINGS = [
        # j k g G ctrl+d ctrl+u come from the screen's shared grammar (tui/nav.py).
        Binding("up", "move(-1)", "Up", show=False, id="table.up"),
        Binding("down", "move(1)", "Down", show=False, id="table.down"),
        Binding(
            "pageup,ctrl+b",
            "page(-1)",
            "Page up",
            show=False,
            tooltip="page up",
            id="table.page_up",
        ),
        Binding(
            "pagedown,ctrl+f,space",
            "page(1)",
            "Page down",
            show=False,
            tooltip="page down",
            id="table.page_down",
        ),
        Binding(
            "home", "top", "Oldest", show=False, tooltip="the oldest loaded row", id="table.oldest"
        ),
        Binding(
            "end",
            "bottom",
            "Follow",
            show=False,
            tooltip="follow the tail again",
            id="table.follow",
        ),
        Binding(
            "enter",
            "select",
            "Detail",
            tooltip="event detail (double-click too)",
            id="table.detail",
        ),
    ]

    class Selected(Message):
        def __init__(self, event: Event) -> None:
            super().__init__()
            self.event = event

    class NeedOlder(Message):
        """The view reached the top and the store may hold older rows."""

    class NeedReload(Message):
        """Resumed past a gap: the tail must be reloaded from the store."""

    class NeedMarks(Message):
        def __init__(self, ids: list[int]) -> None:
            super().__init__()
            self.ids = ids

    class FollowChanged(Message):
        def __init__(self, following: bool) -> None:
            super().__init__()
            self.following = following

    def __init__(
        self,
        feed: EventFeed,
        *,
        category_colors: Callable[[], dict[str, str]],
        id: str | None = None,
    ) -> None:
        super().__init__(id=id)
        self.feed = feed
        self.cursor_id: int | None = None
        self.anchor_id: int | None = None  # top row while paused
        self.painted_max_id = 0  # newest event id drawn so far (the bench reads it)
        self.on_paint: Callable[[int], None] | None = None
        self.empty_text = "waiting for events…"
        self.hint: tuple[str, ...] = ()  # what to do next, drawn a line below the last row
        self.stale = False  # the filter text does not parse: rows are the last valid one's
        # The ORIGIN column: on from the first row drawn that came from another fleet
        # engine (so a table outside a fleet keeps its columns), and then it stays on.
        self.show_origin = False
        self._marked_filter: Filter | None = None  # what the rows' match marks are for
        self._needles: tuple[str, ...] = ()
        self._marks_type = False
        self._category_colors = category_colors
        self._cat_styles: dict[str, Style] = {}
        self._styles: dict[str, Style] = {}  # resolved CSS, per style/focus change
        self._styles_focus = False
        # (cursor, stale, category) -> the row's (dim, plain, type) styles; (component,
        # cursor, stale) -> a mark's: Style sums per cell cost as much as the text did.
        self._row_styles: dict[tuple[bool, bool, str], tuple[Style, Style, Style]] = {}
        self._mark_styles: dict[tuple[str, bool, bool], Style] = {}
        self._cache: LRUCache[tuple[object, ...], Strip] = LRUCache(512)
        self._version = -1

    # -- syncing with the feed ----------------------------------------------------

    @property
    def body_height(self) -> int:
        return max(1, self.scrollable_content_region.height - 1)

    def sync(self, force: bool = False) -> None:
        """Bring the view in line with the feed (called per tick, only when visible)."""
        feed = self.feed
        if not force and feed.version == self._version:
            return
        self._version = feed.version
        rows = feed.rows
        if feed.following:
            top = max(0, len(rows) - self.body_height)
            self.cursor_id = rows[-1].id if rows else None
        else:
            top = feed.index_of(self.anchor_id) if self.anchor_id is not None else 0
        self.virtual_size = Size(self.scrollable_content_region.width, len(rows) + 1)
        # Paused on the row already at the top: leave the scroll alone. A jump there would
        # end the page-up that a click on the scrollbar's track has just begun to animate.
        if feed.following or top != int(self.scroll_y):
            self.scroll_to(y=top, animate=False, force=True)
        self.call_after_refresh(self._settle_scrollbar)
        self.refresh()
        self._request_marks(top)

    def set_hint(self, lines: tuple[str, ...]) -> None:
        """Lines telling the operator what to do next (an empty store), or none."""
        if lines != self.hint:
            self.hint = lines
            self.refresh()

    def _settle_scrollbar(self) -> None:
        """A scrollbar that appears with the new size missed the scroll (Textual only moves
        a visible one): give it the position now, after the layout that showed it."""
        if self.show_vertical_scrollbar and self.vertical_scrollbar.position != self.scroll_y:
            self.vertical_scrollbar.position = self.scroll_y

    def _scroll_update(self, virtual_size: Size) -> None:
        # Textual's hook for size changes, where a scrollbar may just have appeared.
        super()._scroll_update(virtual_size)
        self._settle_scrollbar()

    def _request_marks(self, top: int) -> None:
        """History rows on screen whose hook outcomes are unknown: ask the screen to fetch."""
        missing = self.feed.missing_marks(self.feed.rows[top : top + self.body_height])
        if missing:
            self.post_message(self.NeedMarks(missing))

    def on_resize(self) -> None:
        self._cache.clear()
        self.sync(force=True)

    def notify_style_update(self) -> None:
        super().notify_style_update()
        self._cache.clear()
        self._cat_styles = {}
        self._styles = {}
        self._row_styles = {}
        self._mark_styles = {}

    def watch_scroll_y(self, old: float, new: float) -> None:
        super().watch_scroll_y(old, new)
        feed = self.feed
        if not feed.following and feed.rows:
            self.anchor_id = feed.rows[min(int(new), len(feed.rows) - 1)].id
            if int(new) == 0 and feed.has_older:
                self.post_message(self.NeedOlder())
            self._request_marks(int(new))

    # -- pause / follow -------------------------------------------------------------

    def pause(self) -> None:
        feed = self.feed
        if not feed.following:
            return
        feed.pause()
        rows = feed.rows
        if rows:
            self.anchor_id = rows[min(int(self.scroll_y), len(rows) - 1)].id
        self.post_message(self.FollowChanged(False))

    def follow(self) -> None:
        if self.feed.resume():
            self.post_message(self.NeedReload())
        self.sync(force=True)
        self.post_message(self.FollowChanged(True))

    # Textual calls one handler per class along the MRO, so Widget's own still scrolls
    # after each of these: here we only note that the operator moved away from the tail.
    def on_mouse_scroll_up(self, event: events.MouseScrollUp) -> None:
        self.pause()

    def on_scroll_to(self, message: ScrollTo) -> None:  # scrollbar drag
        self.pause()

    def on_scroll_up(self, message: ScrollUp) -> None:  # click on the scrollbar track
        self.pause()

    # -- cursor ------------------------------------------------------------------------

    @property
    def cursor_index(self) -> int | None:
        if self.cursor_id is None or not self.feed.rows:
            return None
        return min(self.feed.index_of(self.cursor_id), len(self.feed.rows) - 1)

    @property
    def cursor_event(self) -> Event | None:
        i = self.cursor_index
        return None if i is None else self.feed.rows[i]

    def move_cursor(self, index: int) -> None:
        rows = self.feed.rows
        if not rows:
            return
        if index < 0 and self.feed.has_older:
            self.post_message(self.NeedOlder())
        index = max(0, min(index, len(rows) - 1))
        self.cursor_id = rows[index].id
        top, height = int(self.scroll_y), self.body_height
        if index < top:
            self.scroll_to(y=index, animate=False, force=True)
        elif index >= top + height:
            self.scroll_to(y=index - height + 1, animate=False, force=True)
        self.refresh()

    def action_move(self, delta: int) -> None:
        self.pause()
        i = self.cursor_index
        self.move_cursor((len(self.feed.rows) - 1 if i is None else i) + delta)

    def action_page(self, direction: int) -> None:
        self.action_move(direction * self.body_height)

    def action_top(self) -> None:
        self.pause()
        self.move_cursor(0)
        if self.feed.has_older:
            self.post_message(self.NeedOlder())

    def action_bottom(self) -> None:
        self.follow()

    def action_select(self) -> None:
        ev = self.cursor_event
        if ev is not None:
            self.post_message(self.Selected(ev))

    def on_click(self, event: events.Click) -> None:
        if event.y < 1:
            return
        index = int(self.scroll_y) + event.y - 1
        if index >= len(self.feed.rows):
            return
        self.pause()
        self.move_cursor(index)
        if event.chain >= 2:
            self.action_select()

    # -- rendering -------------------------------------------------------------------

    def _cat_style(self, category: str) -> Style:
        if not self._cat_styles:
            self._cat_styles = {c: Style(color=v) for c, v in self._category_colors().items()}
        return self._cat_styles.get(category) or self._cat_styles.get("custom", Style())

    def _style(self, name: str) -> Style:
        """A resolved style: `base` or a component's; the cursor's depends on focus."""
        if self._styles_focus != self.has_focus:
            self._styles, self._styles_focus = {}, self.has_focus
            self._row_styles, self._mark_styles = {}, {}
            self._cache.clear()
        style = self._styles.get(name)
        if style is None:
            style = self.rich_style if name == "base" else self.get_component_rich_style(name)
            self._styles[name] = style
        return style

    def render_line(self, y: int) -> Strip:
        width = self.scrollable_content_region.width
        base = self._style("base")
        if y == 0:
            header_key = ("header", width, self.stale, self.show_origin)
            header = self._cache.get(header_key)
            if header is None:
                header = self._header(width, base)
                self._cache[header_key] = header
            return header
        if self.feed.flt is not self._marked_filter:  # a new filter: new match marks
            self._marked_filter = flt = self.feed.flt
            self._needles, self._marks_type = needles_of(flt), marks_type(flt)
            self._cache.clear()
        rows = self.feed.rows
        index = int(self.scroll_y) + y - 1
        if index >= len(rows):
            style = base + self._style("event-table--empty")
            if y == 1 and not rows:
                text = "loading…" if self.feed.loading else self.empty_text
                return Strip([Segment(fit(f"  {text}", width), style)], width)
            line = index - max(len(rows), 1) - 1  # one blank line, then the hint
            if 0 <= line < len(self.hint):
                hint = fmt.printable(self.hint[line])  # it can quote a path
                return Strip([Segment(fit(f"  {hint}", width), style)], width)
            return Strip.blank(width, base)
        ev = rows[index]
        if ev.origin is not None and not self.show_origin:
            self.show_origin = True  # every row (and the header) gains the column
            self._cache.clear()
            self.refresh()
        if ev.id > self.painted_max_id:
            self.painted_max_id = ev.id
            if self.on_paint is not None:
                self.on_paint(ev.id)
        m = self.feed.marks.get(ev.id)
        cursor = ev.id == self.cursor_id
        marks = m and (m.ok, m.bad, m.loaded)
        key = (ev.id, ev.status, marks, cursor, width, len(ev.warnings), self.stale)
        strip = self._cache.get(key)
        if strip is None:
            strip = self._render_row(ev, width, base, cursor)
            self._cache[key] = strip
        return strip

    def _header(self, width: int, base: Style) -> Strip:
        lay = layout_for(width, self.show_origin)
        style = base + self._style("event-table--header")
        parts = [
            ("TIME", lay.time), ("ID", lay.id), ("ORIGIN", lay.origin), ("TYPE", lay.type),
            ("SOURCE", lay.source), ("STACK@AGENT", lay.context), ("HOOKS", lay.marks),
            ("SUMMARY", lay.summary),
        ]  # fmt: skip
        text = " ".join(fit(name, w) for name, w in parts if w)
        if self.stale:
            style = base + self._style("event-table--warn") + Style(reverse=True)
            text = " STALE: the filter above does not parse; these rows are not filtered by it"
        return Strip([Segment(fit(text, width), style)], width)

    def _marks(self, ev: Event) -> list[tuple[str, str]]:
        """(text, component) pieces of the HOOKS column."""
        m = self.feed.marks.get(ev.id)
        out: list[tuple[str, str]] = []
        if m is not None and m.ok:
            out.append((f"✓{m.ok}", "event-table--ok"))
        if m is not None and m.bad:
            out.append((f"✗{m.bad}", "event-table--bad"))
        if not out and ev.status in ("pending", "processing"):
            out.append(("…", "event-table--dim"))
        elif not out and ev.status == "failed":
            out.append(("✗", "event-table--bad"))
        if ev.warnings:
            out.append(("⚠", "event-table--warn"))
        return out

    def set_stale(self, stale: bool) -> None:
        """Mark the rows as not matching the filter text (it does not parse): a warning
        header and dimmed rows, until the text parses again."""
        if stale != self.stale:
            self.stale = stale
            self.set_class(stale, "-stale")
            self.refresh()

    def _row_style(self, base: Style, cursor: bool, category: str) -> tuple[Style, Style, Style]:
        """(dim, plain, type) for a row: resolved once per cursor/stale/category."""
        key = (cursor, self.stale, category)
        found = self._row_styles.get(key)
        if found is None:
            if self.stale:
                base = base + self._style("event-table--dim")
            # Component styles carry the widget background: the cursor's goes on last.
            top = self._style("event-table--cursor") if cursor else Style()
            dim = base + self._style("event-table--dim") + top
            found = (dim, base + top, base + self._cat_style(category) + top)
            self._row_styles[key] = found
        return found

    def _mark_style(self, base: Style, component: str, cursor: bool) -> Style:
        key = (component, cursor, self.stale)
        found = self._mark_styles.get(key)
        if found is None:
            if self.stale:
                base = base + self._style("event-table--dim")
            top = self._style("event-table--cursor") if cursor else Style()
            found = self._mark_styles[key] = base + self._style(component) + top
        return found

    def _render_row(self, ev: Event, width: int, base: Style, cursor: bool) -> Strip:
        lay = layout_for(width, self.show_origin)
        dim, plain, type_style = self._row_style(base, cursor, ev.category)
        segs: list[Segment] = []
        if lay.time:
            segs.append(
                Segment(fit(fmt.clock_time(ev.ts, millis=lay.time > 8), lay.time) + " ", dim)
            )
        if lay.id:
            segs.append(Segment(fit(str(ev.id), lay.id) + " ", dim))
        if lay.origin:  # a stranger's name: printable first; empty for this engine's own
            segs.append(Segment(fit(fmt.printable(ev.origin or ""), lay.origin) + " ", dim))
        kind = fit(fmt.printable(ev.type), lay.type)
        segs += marked(kind, type_style, self._needles, whole=self._marks_type)
        segs.append(Segment(" ", plain))
        if lay.source:
            segs.append(Segment(fit(fmt.printable(ev.source), lay.source) + " ", dim))
        if lay.context:
            # Producers' text: printable first, since a segment goes to the terminal as is.
            segs.append(Segment(fit(fmt.printable(context_text(ev)), lay.context) + " ", plain))
        used = 0
        for text, component in self._marks(ev):
            piece = text if not used else " " + text
            if used + cell_len(piece) > lay.marks:
                break
            segs.append(Segment(piece, self._mark_style(base, component, cursor)))
            used += cell_len(piece)
        segs.append(Segment(" " * (lay.marks - used + 1), plain))
        if lay.summary:
            segs += marked(fit(fmt.summary(ev.type, ev.data), lay.summary), plain, self._needles)
        # Every column was fitted to its width, so with room left for a summary the row is
        # `width` cells: the strip is told so rather than measuring each segment again.
        return Strip(segs, width if lay.summary else None).adjust_cell_length(width, plain)
