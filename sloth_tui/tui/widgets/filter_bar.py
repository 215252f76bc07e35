"""The `/` filter line: the filter language typed live, with the match count or the error."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.containers import Horizontal
from textual.message import Message
from textual.timer import Timer
from textual.widgets import Input, Static

from sloth_tui.engine.filters import Filter, FilterError, parse_filter
from sloth_tui.tui import format as fmt

DEBOUNCE = 0.2  # seconds of quiet typing before the filter applies
PLACEHOLDER = "/ filter: text type:deploy.* cat:security src:demo status:failed hook:NAME k=v !neg"


class FilterBar(Horizontal):
    """Posts `FilterBar.Applied` with each new valid filter; shows errors inline."""

    class Applied(Message):
        def __init__(self, flt: Filter) -> None:
            super().__init__()
            self.filter = flt

    class Done(Message):
        """Enter: hand focus back to the table."""

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.current = Filter()
        self.error: str | None = None
        self._info = ""
        self._timer: Timer | None = None

    def compose(self) -> ComposeResult:
        yield Input(placeholder=PLACEHOLDER, compact=True, id="filter-input")
        yield Static("", id="filter-info", markup=False)

    @property
    def input(self) -> Input:
        return self.query_one("#filter-input", Input)

    def on_input_changed(self, event: Input.Changed) -> None:
        event.stop()
        if self._timer is not None:
            self._timer.stop()
        self._timer = self.set_timer(DEBOUNCE, self.apply)

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self.apply()
        self.post_message(self.Done())

    def apply(self, text: str | None = None) -> bool:
        """Parse the input (or `text`) and apply it if valid and new; False on error."""
        if text is not None:
            with self.input.prevent(Input.Changed):
                self.input.value = text
        if self._timer is not None:
            self._timer.stop()
            self._timer = None
        raw = self.input.value.strip()
        try:
            flt = parse_filter(raw)
        except FilterError as exc:
            self.show_error(str(exc))
            return False
        self.error = None
        self.remove_class("-error")
        if flt.text.strip() != self.current.text.strip():
            self.current = flt
            self.post_message(self.Applied(flt))
        return True

    def show_error(self, message: str) -> None:
        self.error = message
        self._info = ""
        self.add_class("-error")
        self.query_one("#filter-info", Static).update(fmt.plain(f"✗ {message}"))

    def show_count(self, count: int | None) -> None:
        """Called every tick: touches the widget only when the text changes."""
        if self.error:
            return
        if count is None:
            text = "counting…" if self.current else ""
        elif self.current:
            text = f"{count:,} match{'es' if count != 1 else ''}"
        else:
            text = f"{count:,} events"
        if text != self._info:
            self._info = text
            self.query_one("#filter-info", Static).update(text)
