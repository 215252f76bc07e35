"""Explain: why each hook ran on an event, or why not (opened from the event detail).

One block per hook: its checks in the engine's order (pattern, stack, enabled,
condition), mode and key value, throttle or dedupe state, chain depth, the runs recorded
on the event and the outcome; the same rows `hook explain` prints (model/explain.py).
Hook names, patterns, conditions, key values and errors come from outside: every one is
a Text made by `fmt.plain` (never markup, no control character left)."""

from __future__ import annotations

from contextlib import suppress

from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.containers import VerticalScroll
from textual.css.query import NoMatches
from textual.screen import Screen
from textual.widgets import Static

from sloth_tui.model.errors import NotFound, SlothError
from sloth_tui.model.explain import HookVerdict
from sloth_tui.tui import format as fmt
from sloth_tui.tui.nav import NAV_BINDINGS, NavMixin
from sloth_tui.tui.reach import engine_of
from sloth_tui.tui.screens.base import StaleMapGuard
from sloth_tui.tui.tones import Tones, tones_of
from sloth_tui.tui.widgets.key_footer import KeyFooter

MARKS = {True: "✓", False: "✗", None: "·"}  # a check passed, failed, or information


class ExplainScreen(NavMixin, StaleMapGuard, Screen[None]):
    NAV_TARGET = "#explain-body"
    BINDINGS = [*NAV_BINDINGS]  # j/k scroll, Escape goes back, y copies the verdicts

    def __init__(self, event_id: int, hook: str | None = None) -> None:
        super().__init__()
        self.event_id = event_id
        self.hook = hook
        self.verdicts: list[HookVerdict] | None = None  # None until loaded

    def compose(self) -> ComposeResult:
        yield Static(f" Explain event {self.event_id}", id="explain-title", markup=False)
        with VerticalScroll(id="explain-body"):
            yield Static(Text("loading…"), id="explain-summary")
            yield Static("", id="explain-hooks")
        yield KeyFooter()

    def on_mount(self) -> None:
        self.query_one("#explain-body").focus()
        self.load()

    @work(exclusive=True, group="explain")
    async def load(self) -> None:
        try:
            verdicts = await engine_of(self).explain(self.event_id, self.hook)
        except NotFound as exc:
            self._say(Text(fmt.printable(str(exc))))
            return
        except SlothError as exc:
            fmt.notify(self, str(exc), title="Could not explain the event", severity="error")
            self._say(Text("Could not explain the event (see the notice)."))
            return
        self.verdicts = verdicts
        self._draw(verdicts)

    def _say(self, text: Text) -> None:
        with suppress(NoMatches):  # closed while the engine answered
            self.query_one("#explain-summary", Static).update(text)

    def _draw(self, verdicts: list[HookVerdict]) -> None:
        if not verdicts:
            self._say(Text("No hooks: add one on the Hooks screen (2) to have it explained."))
            return
        title = Text.assemble(" Explain event ", (str(self.event_id), "bold"), "  ")
        title.append_text(fmt.plain(verdicts[0].event_type, style="bold"))
        with suppress(NoMatches):
            self.query_one("#explain-title", Static).update(title)
        running = sum(v.would_run for v in verdicts)
        self._say(
            Text(
                f"{len(verdicts)} hook{'s' if len(verdicts) != 1 else ''}: {running} would "
                f"run, {len(verdicts) - running} would not. ✓ passed, ✗ stopped it, · information."
            )
        )
        tones = tones_of(self)
        blocks: list[RenderableType] = []
        for v in verdicts:
            blocks.append(Text(""))
            blocks.append(_block(v, tones))
        with suppress(NoMatches):
            self.query_one("#explain-hooks", Static).update(Group(*blocks))

    def nav_record(self) -> tuple[str, object] | None:
        if self.verdicts is None:
            return None
        return f"explain of event {self.event_id}", [v.to_dict() for v in self.verdicts]


def _block(v: HookVerdict, tones: Tones) -> RenderableType:
    """A hook's verdict: its name and answer, then one row per check."""
    head = Text.assemble(
        fmt.plain(v.hook, style="bold"),
        "  ",
        ("would run", tones.ok) if v.would_run else ("would not run", tones.bad),
    )
    grid = Table.grid(padding=(0, 1))
    grid.add_column(no_wrap=True)
    grid.add_column(style="bold", no_wrap=True)
    grid.add_column()
    for label, text, ok in v.rows():
        style = tones.ok if ok else tones.bad if ok is False else "dim"
        # Every cell a Text: a str cell of a Rich table is markup.
        grid.add_row(Text(MARKS[ok], style=style), Text(label), fmt.plain(text))
    return Group(head, grid)
