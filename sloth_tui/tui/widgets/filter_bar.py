"""The `/` filter line: the filter language typed live, with the match count or the error.

- An error shows whole on its own line under the input (it wraps), and the bar posts
  `Invalid` so the screen can mark its rows stale: they are the last valid filter's,
  not this text's. A term not finished yet (`type:`, `!`, an open quote) is shown as
  incomplete, not as a mistake; `Valid` follows once the text parses again.
- Up and Down walk the filter history (filters submitted with Enter, newest last), kept
  in the data dir's state file (tui/ui_state.py); Down past the newest gives back what
  was being typed.
- `@NAME` applies the filter saved as NAME under `[filters]` in config.toml.
"""

from __future__ import annotations

from pathlib import Path

from rich.cells import cell_len
from textual import events
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.message import Message
from textual.timer import Timer
from textual.widgets import Input, Static

from sloth_tui.model.filters import (
    Filter,
    FilterError,
    IncompleteFilter,
    expand_saved,
    parse_filter,
)
from sloth_tui.tui import format as fmt
from sloth_tui.tui.reach import NoDashboard, engine_of
from sloth_tui.tui.ui_state import load_state, remember_filter, update_state

DEBOUNCE = 0.2  # seconds of quiet typing before the filter applies
PLACEHOLDER = (
    "/ filter: text type:deploy.* cat:security src:demo status:failed since:10m "
    "hook:NAME k=v !neg @saved  (↑↓ history)"
)


def fit_placeholder(text: str, width: int) -> str:
    """`text` in `width` cells: whole when it fits, else cut after a word and ended with
    `…`, so a narrow terminal shows that there is more (Input would just cut it)."""
    room = width - 1  # the cursor sits on a cell past the text
    if cell_len(text) <= room:
        return text
    cut = text[: max(0, room - 1)]
    if cut and text[len(cut)] != " " and " " in cut.strip():
        cut = cut[: cut.rstrip().rfind(" ") + 1]  # whole words only, then the ellipsis
    if cut.count("(") > cut.count(")"):  # not half an aside: "(↑↓ …"
        cut = cut[: cut.rfind("(")]
        cut = cut[: len(cut.rstrip()) + 1]  # one space before the ellipsis
    while cut and cell_len(cut) > room - 1:
        cut = cut[:-1]
    return cut + "…"


class _FilterInput(Input):
    def on_resize(self, event: events.Resize) -> None:
        self.placeholder = fit_placeholder(PLACEHOLDER, event.size.width)


class FilterBar(Vertical):
    """Posts `FilterBar.Applied` with each new valid filter; shows errors under the input."""

    DEFAULT_CSS = """
    FilterBar { height: auto; }
    FilterBar #filter-row { height: 1; }
    FilterBar #filter-error { display: none; height: auto; padding: 0 1; }
    FilterBar.-error #filter-error { display: block; color: $error; }
    FilterBar.-incomplete #filter-error { color: $warning; }
    """
    BINDINGS = [
        Binding(
            "up",
            "history(-1)",
            "Older filter",
            show=False,
            tooltip="the previous filter typed (in the filter box)",
            id="filter.older",
        ),
        Binding(
            "down",
            "history(1)",
            "Newer filter",
            show=False,
            tooltip="the next filter typed (in the filter box)",
            id="filter.newer",
        ),
    ]

    class Applied(Message):
        def __init__(self, flt: Filter) -> None:
            super().__init__()
            self.filter = flt

    class Done(Message):
        """Enter: hand focus back to the table."""

    class Invalid(Message):
        """The text does not parse (yet): the rows shown are the last valid filter's."""

        def __init__(self, error: str, incomplete: bool) -> None:
            super().__init__()
            self.error = error
            self.incomplete = incomplete

    class Valid(Message):
        """The text parses again after an Invalid."""

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.current = Filter()
        self.error: str | None = None
        self.incomplete = False
        self._info = ""
        self._timer: Timer | None = None
        self._history: list[str] | None = None  # read from the state file when first needed
        self._history_pos: int | None = None  # index into the history while walking it
        self._draft = ""  # what was typed before walking the history
        self._recalled: str | None = None  # the value the history walk put in the input

    def compose(self) -> ComposeResult:
        with Horizontal(id="filter-row"):
            yield _FilterInput(placeholder=PLACEHOLDER, compact=True, id="filter-input")
            yield Static("", id="filter-info", markup=False)
        yield Static("", id="filter-error", markup=False)

    @property
    def input(self) -> Input:
        return self.query_one("#filter-input", Input)

    def on_input_changed(self, event: Input.Changed) -> None:
        event.stop()
        if event.value != self._recalled:  # typed: the history walk is over
            self._history_pos = None
        if self._timer is not None:
            self._timer.stop()
        self._timer = self.set_timer(DEBOUNCE, self.apply)

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        # Enter re-reads ages (`since:10m` counts from now again) even when unchanged.
        if self.apply(force=True) and self.input.value.strip():
            self._remember(self.input.value)
        self.post_message(self.Done())

    def apply(self, text: str | None = None, *, force: bool = False) -> bool:
        """Parse the input (or `text`) and apply it if valid and new; False on error."""
        if text is not None:
            with self.input.prevent(Input.Changed):
                self.input.value = text
        if self._timer is not None:
            self._timer.stop()
            self._timer = None
        raw = self.input.value.strip()
        try:
            flt = parse_filter(expand_saved(raw, self._saved()))
        except FilterError as exc:
            self.show_error(str(exc), incomplete=isinstance(exc, IncompleteFilter))
            return False
        if self.error is not None:
            self.error = None
            self.incomplete = False
            self.remove_class("-error", "-incomplete")
            self._info = ""
            self.post_message(self.Valid())
        changed = flt.text.strip() != self.current.text.strip()
        if changed or (force and any(t.kind in ("since", "until") for t in flt.terms)):
            self.current = flt
            self.post_message(self.Applied(flt))
        return True

    def show_error(self, message: str, *, incomplete: bool = False) -> None:
        self.error = message
        self.incomplete = incomplete
        self._info = ""
        self.add_class("-error")
        self.set_class(incomplete, "-incomplete")
        short = "… incomplete: rows not filtered by it" if incomplete else "✗ invalid: rows stale"
        self.query_one("#filter-info", Static).update(short)
        mark = "…" if incomplete else "✗"
        self.query_one("#filter-error", Static).update(fmt.plain(f"{mark} {message}"))
        self.post_message(self.Invalid(message, incomplete))

    def show_count(self, count: int | None) -> None:
        """Called every tick: touches the widget only when the text changes."""
        if self.error:
            return
        if count is None:
            text = "counting…" if self.current else ""
        elif self.current:
            text = f"{count:,} match{'es' if count != 1 else ''}"
        else:
            text = f"{count:,} event{'s' if count != 1 else ''}"
        if text != self._info:
            # The count changes every tick under load, its width seldom: no layout then.
            resized = cell_len(text) != cell_len(self._info)
            self._info = text
            self.query_one("#filter-info", Static).update(text, layout=resized)

    # -- saved filters and history -------------------------------------------------

    def _settings_attr(self, name: str) -> object:
        try:
            return getattr(engine_of(self).settings, name)
        except (AssertionError, AttributeError, NoDashboard):  # no engine yet; a bare test app
            return None

    def _saved(self) -> tuple[tuple[str, str], ...]:
        saved = self._settings_attr("filters")
        return saved if isinstance(saved, tuple) else ()

    def _home(self) -> Path | None:
        home = self._settings_attr("home")
        return home if isinstance(home, Path) else None

    @property
    def history(self) -> list[str]:
        if self._history is None:
            home = self._home()
            self._history = load_state(home).filter_history if home is not None else []
        return self._history

    def _remember(self, text: str) -> None:
        self._history = remember_filter(self.history, text)
        self._history_pos = None
        home = self._home()
        if home is None:
            return
        try:
            update_state(home, filter_history=self._history, last_filter=text.strip())
        except OSError as exc:  # the filter still works; only remembering it failed
            fmt.notify(self, f"Could not save the filter history: {exc}", severity="warning")

    def action_history(self, step: int) -> None:
        history = self.history
        if not history:
            return
        if self._history_pos is None:
            if step > 0:
                return  # already at what is being typed
            self._draft = self.input.value
            pos = len(history) - 1
        else:
            pos = max(0, self._history_pos + step)
        if pos >= len(history):
            self._history_pos = None
            value = self._draft
        else:
            self._history_pos = pos
            value = history[pos]
        self._recalled = value
        self.input.value = value
        self.input.cursor_position = len(value)
