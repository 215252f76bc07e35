"""The lower half of the Events split view: the highlighted event, as the detail shows it
(metadata, data, the hook runs it caused), redrawn as the cursor moves.

Everything in it comes from producers and hooks: Text and Syntax, never markup, and
nothing a terminal would act on (`format.plain`, `format.pretty_json`).
"""

from __future__ import annotations

from rich.console import Group
from rich.syntax import Syntax
from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.containers import VerticalScroll
from textual.widgets import Static

from sloth_tui.model.records import Event, Execution
from sloth_tui.tui import format as fmt
from sloth_tui.tui.tones import Tones, on_theme_change, tones_of
from sloth_tui.tui.widgets.execution_view import clip

RUN_DETAIL = 120  # characters of a run's error or last log line


def context_rows(ev: Event) -> list[tuple[str, Text]]:
    """(label, cell) for Sloth Runner's context the event has: its stack, agent and run
    id, each when set (the producer's text, shown plain)."""
    fields = (("stack", ev.stack), ("agent", ev.agent), ("run", ev.run_id))
    return [(label, fmt.plain(value)) for label, value in fields if value is not None]


class EventPreview(VerticalScroll, can_focus=False):
    """Scrolls with the mouse; the keys stay with the list above it."""

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.shown: tuple[object, ...] | None = None  # what is drawn: (id, status, runs)
        self._drawn: tuple[Event | None, list[Execution] | None] = (None, None)

    def on_mount(self) -> None:
        on_theme_change(self, self._retheme)

    def _retheme(self) -> None:
        if self.shown is not None:
            self.shown = None
            self.show(*self._drawn, dark=self.app.current_theme.dark)

    def compose(self) -> ComposeResult:
        yield Static(Text("no event highlighted", style="dim"), id="preview-body")

    def show(self, ev: Event | None, runs: list[Execution] | None, *, dark: bool = True) -> None:
        """Draw `ev` (and its runs, None while they load); nothing when it is already shown."""
        key = None if ev is None else (ev.id, ev.status, None if runs is None else len(runs))
        if key == self.shown:
            return
        moved = ev is None or self.shown is None or self.shown[0] != ev.id
        self.shown = key
        self._drawn = (ev, runs)
        body = self.query_one("#preview-body", Static)
        if ev is None:
            body.update(Text("no event highlighted: j/k move, Enter opens", style="dim"))
            return
        meta = Table.grid(padding=(0, 2))
        meta.add_column(style="bold", no_wrap=True)
        meta.add_column()
        meta.add_row("event", fmt.plain(f"{ev.id}  {ev.type}  (category {ev.category})"))
        meta.add_row("time", Text(fmt.full_time(ev.ts)))
        meta.add_row("source", fmt.plain(ev.source))
        for label, cell in context_rows(ev):
            meta.add_row(label, cell)
        meta.add_row("status", fmt.plain(ev.status))
        if ev.parent_id is not None:
            meta.add_row("parent", Text(str(ev.parent_id)))
        data = Syntax(
            fmt.pretty_json(ev.data),
            "json",
            theme="ansi_dark" if dark else "ansi_light",
            background_color="default",
            word_wrap=True,
        )
        body.update(Group(meta, data, self._runs(runs, tones_of(self))))
        if moved:
            self.scroll_home(animate=False)

    @staticmethod
    def _runs(runs: list[Execution] | None, tones: Tones) -> Text:
        if runs is None:
            return Text("hook runs: loading…", style="dim")
        if not runs:
            return Text("hook runs: none", style="dim")
        out = Text(f"hook runs ({len(runs)}), Enter opens the event to walk them:\n")
        for ex in runs:
            style = tones.run(ex.status)
            out.append(f"  {fmt.clock_time(ex.started)}  ")
            out.append_text(fmt.plain(ex.hook, style="bold"))
            out.append("  ")
            out.append_text(fmt.plain(ex.status, style=style))
            out.append(
                f"  {clip(ex.error or (ex.logs[-1].message if ex.logs else ''), RUN_DETAIL)}\n"
            )
        out.rstrip()
        return out
