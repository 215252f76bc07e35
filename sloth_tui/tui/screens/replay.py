"""Replay before save: the editor's code, in dry run, over the hook's last real events,
its new outcome beside the recorded one.

The replay runs in a worker (it can take seconds: one dry run per event), with a
running line meanwhile; escape closes the view at any time and the answer is dropped.
Rows come as the engine orders them (model/replay.py: worse first, then changed, then
the rest); a worse row (ok before, failing now) is marked ✗ in the error tone. The
highlighted row's details (errors, log lines and calls added or removed) show below.

Everything in a report came from outside (hook names, event types, logs, errors,
call arguments): it is shown as plain printable text, never markup.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from rich.style import Style
from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import DataTable, LoadingIndicator, Static

from sloth_tui.model.errors import SlothError
from sloth_tui.model.replay import NOT_RUN, LineDiff, ReplayReport, ReplayRow
from sloth_tui.tui import format as fmt
from sloth_tui.tui.screens.base import StaleMapGuard
from sloth_tui.tui.tones import tones_of
from sloth_tui.tui.widgets.execution_view import clip

EMPTY = "no stored event matches this hook's patterns yet: nothing to replay"
ERROR_WIDTH = 200  # characters of an error in the details


def ordered(rows: list[ReplayRow]) -> list[ReplayRow]:
    """Worse first, then changed, then the same (stable: the engine's order within)."""
    return sorted(rows, key=lambda r: (not r.worse, not r.changed))


def _diff_cell(diff: LineDiff) -> str:
    if not diff:
        return "="
    return " ".join(
        part for part in (f"+{diff.n_added}" * bool(diff.n_added),
                          f"-{diff.n_removed}" * bool(diff.n_removed)) if part
    )  # fmt: skip


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}" + ("" if n == 1 else "s")


def _delta(ms: float | None) -> str:
    if ms is None:
        return "-"
    if abs(ms) < 0.001:  # under a microsecond: the same, not "+0µs"
        return "0"
    sign = "+" if ms >= 0 else "-"
    return sign + fmt.duration_ms(abs(ms))


class ReplayScreen(StaleMapGuard, ModalScreen[None]):
    """`run` is the replay to show (api.replay with the editor's text, bound by the
    editor): called once, in a worker, when the screen mounts."""

    CSS_PATH = "../workbench.tcss"
    BINDINGS = [
        Binding("escape", "close", "Close", id="replay.close",
                tooltip="close the replay (nothing was saved or sent)"),
        Binding("f5", "again", "Again", id="replay.again",
                tooltip="replay again (the code as it was when the replay was asked)"),
    ]  # fmt: skip

    def __init__(self, hook: str, last: int, run: Callable[[], Awaitable[ReplayReport]]) -> None:
        super().__init__()
        self.hook = hook
        self.last = last
        self._run = run
        self.report: ReplayReport | None = None
        self.error: str | None = None
        self.rows: list[ReplayRow] = []

    def compose(self) -> ComposeResult:
        with Vertical(id="rp-dialog"):
            yield Static(
                fmt.plain(
                    f"Replay of hook {self.hook} over its last {self.last} events: "
                    "dry run, nothing sent or stored",
                    style="bold",
                ),
                id="rp-title",
            )
            yield Static("", id="rp-summary")
            yield LoadingIndicator(id="rp-running")
            table: DataTable[Text | str] = DataTable(
                id="rp-table", cursor_type="row", zebra_stripes=True
            )
            yield table
            with VerticalScroll(id="rp-details-box"):
                yield Static("", id="rp-details")
            yield Static(
                "↑↓ a row's details · f5 replays again · esc closes", id="rp-keys", markup=False
            )

    def on_mount(self) -> None:
        table = self.query_one(DataTable)
        table.add_column("", key="mark", width=1)
        table.add_column("event", key="event")
        table.add_column("recorded", key="recorded")
        table.add_column("new", key="new")
        table.add_column("logs", key="logs")
        table.add_column("calls", key="calls")
        table.add_column("Δ time", key="delta")
        table.add_column("what changed", key="what")
        table.add_column("type", key="type")
        self.replay()

    @property
    def running(self) -> bool:
        return self.query_one("#rp-running").display

    @work(exclusive=True, group="replay")
    async def replay(self) -> None:
        self._set_running(True)
        try:
            report = await self._run()
        except SlothError as exc:
            self.error = str(exc)
            self.report = None
            self._set_running(False)
            self._summary(fmt.plain(f"✗ replay failed: {exc}", tones_of(self).bad))
            return
        self.error = None
        self._show(report)

    def _set_running(self, running: bool) -> None:
        self.query_one("#rp-running").display = running
        self.query_one("#rp-table").display = not running
        self.query_one("#rp-details-box").display = not running
        if running:
            self._summary(
                fmt.plain(f"replaying hook {self.hook} over up to {self.last} events…", "dim")
            )

    def _summary(self, text: Text) -> None:
        self.query_one("#rp-summary", Static).update(text)

    def _show(self, report: ReplayReport) -> None:
        self.report = report
        self.rows = ordered(report.rows)
        tones = tones_of(self)
        self._set_running(False)
        table = self.query_one(DataTable)
        table.clear()
        if report.matched == 0 or not self.rows:
            self._summary(fmt.plain(EMPTY if report.matched == 0 else report.summary, "bold"))
            table.display = False
            self.query_one("#rp-details-box").display = False
            return
        style = tones.bad if report.worse else tones.warn if report.changed else tones.ok
        self._summary(fmt.plain(report.summary, style))
        for i, row in enumerate(self.rows):
            if row.worse:
                mark = Text("✗", style=tones.bad)
            elif row.changed:
                mark = Text("≠", style=tones.warn)
            else:
                mark = Text("=", style="dim")
            recorded = row.recorded.status if row.recorded is not None else NOT_RUN
            rec_style = tones.run(recorded) if row.recorded is not None else "dim"
            new_style = tones.run(row.new.status) + (Style(bold=True) if row.worse else Style())
            table.add_row(
                mark,
                str(row.event_id),
                fmt.plain(recorded, rec_style),
                fmt.plain(row.new.status, new_style),
                _diff_cell(row.logs),
                _diff_cell(row.calls),
                _delta(row.duration_delta_ms),
                fmt.plain(clip(row.what_changed() or "same", 60)),
                fmt.plain(clip(row.event_type, 30)),
                key=str(i),
            )
        table.focus()
        self._details(0)

    def on_data_table_row_highlighted(self, message: DataTable.RowHighlighted) -> None:
        message.stop()
        self._details(message.cursor_row)

    def _details(self, index: int) -> None:
        """The highlighted row: errors, then log lines and calls added (+) and removed (-)."""
        if not 0 <= index < len(self.rows):
            return
        row = self.rows[index]
        tones = tones_of(self)
        out = Text()
        out.append(f"event {row.event_id} {fmt.full_time(row.event_ts)}  ", style="dim")
        out.append(fmt.printable(row.event_type) + "\n")
        for label, outcome in (("recorded", row.recorded), ("new", row.new)):
            if outcome is None:
                out.append(f"{label}: {NOT_RUN} (the hook did not run on this event)\n", "dim")
                continue
            out.append(f"{label}: ", style="dim")
            out.append(outcome.status, style=tones.run(outcome.status))
            out.append(
                f"  {fmt.duration_ms(outcome.duration_ms)}  {_count(outcome.logs, 'log line')}, "
                f"{_count(outcome.calls, 'call')}"
            )
            if outcome.error:
                out.append("  " + fmt.printable(clip(outcome.error, ERROR_WIDTH)), tones.bad)
            out.append("\n")
        for name, diff in (("log lines", row.logs), ("calls", row.calls)):
            if not diff:
                continue
            out.append(f"{name}: +{diff.n_added} -{diff.n_removed}\n", style="bold")
            for line in diff.added:
                out.append("+ " + fmt.printable(line) + "\n", style=tones.ok)
            for line in diff.removed:
                out.append("- " + fmt.printable(line) + "\n", style=tones.bad)
            hidden = diff.n_added + diff.n_removed - len(diff.added) - len(diff.removed)
            if hidden > 0:
                out.append(f"  … {hidden} more\n", style="dim")
        out.rstrip()
        self.query_one("#rp-details", Static).update(out)

    def action_close(self) -> None:
        self.workers.cancel_group(self, "replay")
        self.dismiss(None)

    def action_again(self) -> None:
        if not self.running:
            self.replay()
