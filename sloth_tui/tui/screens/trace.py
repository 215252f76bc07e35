"""The Trace view: the tree an event belongs to (event -> hook runs -> the events they
dispatched -> ...), from its root, with the time of each node after the root.

Opened from the event detail (`t`). The lines are model/trace.py's `tree_lines`, the
same drawing `sloth-tui event trace` prints. Enter on an event opens its detail, on a
run that run's execution detail; `t` moves the trace to the highlighted event (the
same tree, marked there); `r` reads it again. Types, hook names and errors come from
outside: each line is a Text of printable characters, never markup.
"""

from __future__ import annotations

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.css.query import NoMatches
from textual.screen import Screen
from textual.widgets import OptionList, Static
from textual.widgets.option_list import Option

from sloth_tui.model.errors import NotFound, SlothError
from sloth_tui.model.trace import (
    ASKED_MARK,
    Trace,
    TraceLine,
    footer_lines,
    header_lines,
    tree_lines,
)
from sloth_tui.tui import format as fmt
from sloth_tui.tui.nav import NAV_BINDINGS, NavMixin
from sloth_tui.tui.reach import engine_of
from sloth_tui.tui.screens.base import StaleMapGuard
from sloth_tui.tui.screens.execution_detail import ExecutionDetailScreen
from sloth_tui.tui.tones import Tones, tones_of
from sloth_tui.tui.widgets.key_footer import KeyFooter
from sloth_tui.tui.widgets.safe_option_list import SafeOptionList

EMPTY_NOTE = "loading…"


class TraceScreen(NavMixin, StaleMapGuard, Screen[None]):
    NAV_TARGET = "#trace-tree"
    DEFAULT_CSS = """
    TraceScreen #trace-title { height: auto; padding: 0 1; background: $boost; }
    TraceScreen #trace-notes { height: auto; padding: 0 1; color: $text-muted; }
    TraceScreen #trace-tree { height: 1fr; border: none; }
    """
    BINDINGS = [
        *NAV_BINDINGS,
        Binding("o", "open", "Open", id="trace.open", key_display="⏎/o",
                tooltip="open the highlighted event's detail, or the run's execution"),
        Binding("t", "retrace", "Trace here", id="trace.here",
                tooltip="move the trace to the highlighted event (the same tree, marked there)"),
        Binding("r", "reload", "Reload", id="trace.reload",
                tooltip="read the trace again (runs still going, new children)"),
    ]  # fmt: skip

    def __init__(self, event_id: int) -> None:
        super().__init__()
        self.event_id = event_id
        self.trace: Trace | None = None
        self.lines: list[TraceLine] = []

    def compose(self) -> ComposeResult:
        yield Static(Text(f" Trace of event {self.event_id}"), id="trace-title")
        yield Static(Text(EMPTY_NOTE), id="trace-notes")
        yield SafeOptionList(id="trace-tree")
        yield KeyFooter()

    def on_mount(self) -> None:
        self.query_one("#trace-tree").focus()
        self.load()

    @property
    def tree_list(self) -> OptionList:
        return self.query_one("#trace-tree", OptionList)

    # -- loading -------------------------------------------------------------------------

    @work(exclusive=True, group="trace")
    async def load(self) -> None:
        try:
            trace = await engine_of(self).trace(self.event_id)
        except NotFound:
            self._note(f"Event {self.event_id} is not in the store (deleted or trimmed).")
            return
        except SlothError as exc:
            self._note(f"Could not read the trace: {exc}")
            return
        self.trace = trace
        try:
            self._draw(trace)
        except NoMatches:  # Escape closed the screen while the trace was read
            return

    def _note(self, text: str) -> None:
        try:
            self.query_one("#trace-notes", Static).update(Text(fmt.printable(text)))
        except NoMatches:
            return

    def _draw(self, trace: Trace) -> None:
        self.lines = tree_lines(trace, fmt.printable)
        title = Text.assemble(
            " Trace of event ",
            (str(trace.asked_id), "bold"),
            f"  root {trace.root_id}  ·  {trace.shown} nodes",
        )
        self.query_one("#trace-title", Static).update(title)
        notes = [
            *header_lines(trace),
            "⏎ opens an event or a run · t moves the trace to an event · r reloads",
        ]
        self.query_one("#trace-notes", Static).update(Text("\n".join(notes)))
        tones = tones_of(self)
        options = [Option(self._line(line, tones), id=str(i)) for i, line in enumerate(self.lines)]
        options += [Option(Text(text, style="dim"), disabled=True) for text in footer_lines(trace)]
        tree = self.tree_list
        tree.clear_options()
        tree.add_options(options)
        asked = next((i for i, line in enumerate(self.lines) if line.asked), 0)
        tree.highlighted = asked
        tree.scroll_to_highlight()

    @staticmethod
    def _line(line: TraceLine, tones: Tones) -> Text:
        """One node: the tree's own characters dim, the status toned, the asked one bold.
        `line.label` went through fmt.printable; Text keeps it from being markup."""
        text = Text(no_wrap=True, overflow="ellipsis")
        text.append(line.prefix, style="dim")
        if line.kind == "event":
            text.append(line.label, style=tones.event(line.status))
        else:
            text.append(line.label, style=tones.run(line.status))
        if line.asked:
            text.append(f"  {ASKED_MARK}", style="bold reverse")
        return text

    # -- keys ----------------------------------------------------------------------------

    def _highlighted(self) -> TraceLine | None:
        index = self.tree_list.highlighted
        if index is None or index >= len(self.lines):
            return None
        return self.lines[index]

    def nav_open(self) -> None:
        self.action_open()

    def on_option_list_option_selected(self, message: OptionList.OptionSelected) -> None:
        message.stop()
        self.action_open()

    def nav_record(self) -> tuple[str, object] | None:
        """`y` copies the whole trace as JSON (as `event trace --json` prints it)."""
        trace = self.trace
        return None if trace is None else (f"trace of {trace.asked_id}", trace.to_dict())

    def action_open(self) -> None:
        line = self._highlighted()
        if line is None or line.event_id is None:
            return
        if line.kind == "event":
            self.app.open_detail(line.event_id)
        elif line.run_id is not None:
            self.open_run(line.event_id, line.run_id)

    @work(exclusive=True, group="trace-open")
    async def open_run(self, event_id: int, run_id: int) -> None:
        try:
            runs = await engine_of(self).executions_of(event_id)
        except SlothError as exc:
            fmt.notify(self, str(exc), title="Cannot open the run", severity="error")
            return
        found = next((r for r in runs if r.id == run_id), None)
        if found is None:
            fmt.notify(self, f"Run {run_id} is no longer stored.", severity="warning")
            return
        self.app.push_screen(ExecutionDetailScreen(found))

    def action_retrace(self) -> None:
        line = self._highlighted()
        if line is None or line.kind != "event" or line.event_id is None:
            fmt.notify(self, "Put the cursor on an event to trace from it.")
            return
        self.event_id = line.event_id
        self.load()

    def action_reload(self) -> None:
        self.load()
