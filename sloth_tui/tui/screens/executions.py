"""Screen 3: the hook logs. Every run, newest first, live; filter by hook, status and text;
Enter opens a run (logs, calls, error, its event), `r` re-runs its event on the current code.

Like the Events table, the list follows the newest run while the cursor is on it (the top
row, the view at the top); moved away, the highlighted run stays on its line of the
screen while runs arrive above it or fall off the end.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from rich.style import Style
from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.css.query import NoMatches
from textual.widgets import DataTable, Input, Static

from sloth_tui.engine.retry import failed_runs, retry_runs
from sloth_tui.model.errors import SlothError
from sloth_tui.model.records import EXEC_STATUSES, OK_STATUSES, Execution
from sloth_tui.tui import format as fmt
from sloth_tui.tui.live import Batch
from sloth_tui.tui.nav import NAV_BINDINGS, NavMixin
from sloth_tui.tui.screens.base import LiveScreen
from sloth_tui.tui.screens.confirm import Choice, ConfirmScreen
from sloth_tui.tui.screens.execution_detail import ExecutionDetailScreen
from sloth_tui.tui.tones import on_theme_change, tones_of
from sloth_tui.tui.widgets.execution_view import clip
from sloth_tui.tui.widgets.key_footer import KeyFooter
from sloth_tui.tui.widgets.sorting import SortedTableMixin, SortState
from sloth_tui.tui.widgets.table_fit import FittedTable, columns_for, printable
from sloth_tui.tui.widgets.top_bar import TopBar

KEEP = 300  # newest runs kept and shown
TRIM_AT = 2 * KEEP  # runs held before the oldest are dropped back to KEEP
REDRAW_EVERY = 0.5  # seconds (monotonic)
# What matters most comes first: on 80 columns, time to took fit; the rest scrolls.
COLUMNS = ("time", "hook", "type", "status", "took", "event", "detail")
# Narrow terminals: below 110 columns the type goes (at 100 the detail would have no
# room left), below 80 the duration too; the status and the event id always stay.
DROPS = ((110, ("type",)), (80, ("took",)))
MILLIS_FROM = 100  # terminal width from which times show milliseconds
STATUS_CYCLE = (None, "bad", *EXEC_STATUSES)  # `s` steps through these
DETAIL_WIDTH = 80  # characters of the error or last log line shown in the table
RETRY_MAX = 100  # events one R retries at most (the newest failures)
PLACEHOLDER = "/ filter: hook:NAME status:bad|failed|… dry:no words   (s: status, h: this hook)"


@dataclass(frozen=True, slots=True)
class RunFilter:
    """`hook:NAME status:S dry:yes|no` plus free words (matched in hook, type, trigger,
    error, logs)."""

    hook: str | None = None
    status: str | None = None  # an exec status, or "bad" for anything but success/skipped
    dry: bool | None = None
    words: tuple[str, ...] = ()

    @classmethod
    def parse(cls, text: str) -> RunFilter:
        hook = status = None
        dry: bool | None = None
        words = []
        for token in text.split():
            key, sep, value = token.partition(":")
            if sep and key == "hook" and value:
                hook = value
            elif sep and key == "status" and value:
                if value not in (*EXEC_STATUSES, "bad"):
                    raise ValueError(f"status: one of {', '.join((*EXEC_STATUSES, 'bad'))}")
                status = value
            elif sep and key == "dry" and value in ("yes", "no"):
                dry = value == "yes"
            else:
                words.append(token.lower())
        return cls(hook, status, dry, tuple(words))

    def text(self) -> str:
        parts = [f"hook:{self.hook}"] if self.hook else []
        parts += [f"status:{self.status}"] if self.status else []
        parts += [] if self.dry is None else [f"dry:{'yes' if self.dry else 'no'}"]
        return " ".join([*parts, *self.words])

    def matches(self, ex: Execution, type_name: str = "") -> bool:
        if self.hook and ex.hook != self.hook:
            return False
        if self.status == "bad" and ex.status in OK_STATUSES:
            return False
        if self.status not in (None, "bad") and ex.status != self.status:
            return False
        if self.dry is not None and ex.dry_run != self.dry:
            return False
        if self.words:
            hay = " ".join(
                [
                    ex.hook,
                    type_name,
                    trigger_mark(ex),
                    ex.error or "",
                    *(x.message for x in ex.logs),
                ]
            )
            return all(w in hay.lower() for w in self.words)
        return True


# One per column of COLUMNS: the raw values the `S` key and header clicks sort by.
SORT_KEYS: tuple[Callable[[Execution], Any], ...] = (
    lambda ex: ex.started,
    lambda ex: ex.hook,
    lambda ex: ex.event_type,
    lambda ex: ex.status,
    lambda ex: ex.duration_ms,
    lambda ex: ex.event_id,
    lambda ex: ex.error or (ex.logs[-1].message if ex.logs else ""),
)


def trigger_mark(ex: Execution) -> str:
    """Why a run happened, when not simply its event: rerun, recovery, retry 2 (its
    attempt), test. A dry test-fire already says "dry"."""
    if ex.trigger == "event" and ex.attempt <= 1:
        return ""
    if ex.trigger == "test" and ex.dry_run:
        return ""
    return printable(ex.trigger) + (f" {ex.attempt}" if ex.attempt > 1 else "")


def run_key(ex: Execution) -> str:
    """One run, whether it came live (no id yet) or from the store (with its id)."""
    return f"{ex.hook}\x1f{ex.event_id}\x1f{ex.started!r}"


def newest_first(runs: dict[str, Execution]) -> list[Execution]:
    return sorted(runs.values(), key=lambda ex: ex.started, reverse=True)


class ExecutionsScreen(SortedTableMixin, NavMixin, LiveScreen):
    CSS_PATH = "../workbench.tcss"
    NAV_TARGET = "#execs-table"
    NAV_FILTER = True
    BINDINGS = [
        *NAV_BINDINGS,
        Binding("s", "cycle_status", "Status", id="executions.status",
                tooltip="cycle the status filter"),
        Binding("h", "this_hook", "This hook", id="executions.this_hook",
                tooltip="only the highlighted run's hook"),
        Binding("o", "open_event", "Event", id="executions.open_event",
                tooltip="open the event that ran the hook"),
        Binding("r", "rerun", "Re-run", id="executions.rerun",
                tooltip="re-run the event against the hook's current code (dry run)"),
        Binding("R", "retry_failed", "Retry failed", id="executions.retry_failed",
                show=False,  # listed in ? help
                tooltip="retry the hook on every event where its latest run failed (asks)"),
        Binding("e", "edit_hook", "Edit hook", id="executions.edit_hook",
                tooltip="edit the hook, at the error line"),
        Binding("S", "sort", "Sort", id="executions.sort", show=False,
                tooltip="sort by the next column (or click a header)"),
    ]  # fmt: skip

    def __init__(self) -> None:
        super().__init__()
        # Every run held, by run_key, all matching the filter: a run the store returned
        # and whose notice arrives next (or the other way round) is still one run.
        self.held: dict[str, Execution] = {}
        self.flt = RunFilter()
        self.shown: list[Execution] = []
        self.sort = SortState(COLUMNS)  # none: newest first
        self._dirty = False
        self._drawn = 0.0

    def compose(self) -> ComposeResult:
        yield TopBar(self.MODE)
        yield Input(placeholder=PLACEHOLDER, id="execs-filter", compact=True)
        yield Static("", id="execs-title")
        yield FittedTable(id="execs-table", cursor_type="row", zebra_stripes=True)
        yield KeyFooter()

    @property
    def table(self) -> FittedTable:
        return self.query_one("#execs-table", FittedTable)

    def on_mount(self) -> None:
        self.query_one("#execs-filter", Input).value = self.flt.text()
        self.table.focus()
        self.load()
        on_theme_change(self, self.draw)

    # -- loading and live ---------------------------------------------------------------

    @work(exclusive=True, group="execs")
    async def load(self) -> None:
        flt = self.flt
        engine = self.engine
        try:
            runs = await engine.executions(
                hook=flt.hook,
                status=flt.status if flt.status != "bad" else None,
                only_failed=flt.status == "bad",
                include_dry_runs=flt.dry is not False,
                limit=KEEP,
            )
        except SlothError as exc:
            self.notify(
                printable(str(exc)),
                title="Could not list executions",
                severity="error",
                markup=False,
            )
            return
        if flt is not self.flt:
            return
        # Runs that arrived while we waited stay; the store's copy of a run replaces the
        # notice's (it has its id), and a notice still on its way will find it here.
        for ex in runs:
            if self._matches(ex):
                self.held[run_key(ex)] = ex
        self._trim()
        with contextlib.suppress(NoMatches):  # the app is closing: the table is gone
            self.draw()

    def _matches(self, ex: Execution) -> bool:
        return self.flt.matches(ex, ex.event_type)

    def ingest(self, batch: Batch) -> None:
        for ex in batch.executions:
            if self._matches(ex) and self.held.setdefault(run_key(ex), ex) is ex:
                self._dirty = True
        if len(self.held) > TRIM_AT:
            self._trim()
        if batch.reconnected:  # runs the daemon recorded while we were cut off
            self.load()

    def _trim(self) -> None:
        if len(self.held) > KEEP:
            self.held = {run_key(ex): ex for ex in newest_first(self.held)[:KEEP]}

    def refresh_view(self) -> None:
        if self._dirty and time.monotonic() - self._drawn >= REDRAW_EVERY:
            self.draw()

    @property
    def runs(self) -> list[Execution]:
        """The runs held (at most TRIM_AT, all matching the filter), in no set order."""
        return list(self.held.values())

    @property
    def following(self) -> bool:
        """The cursor is on the newest run and the view at the top: new runs are followed."""
        table = self.table
        return table.row_count == 0 or (table.cursor_row == 0 and round(table.scroll_y) == 0)

    def draw(self, *, top: bool = False) -> None:
        """Show the runs; the cursor follows the newest, or stays on its run (`top`: go up)."""
        self._dirty = False
        self._drawn = time.monotonic()
        table = self.table
        keep = None if top or self.following else self.current_key()
        self.shown = self.sort.apply(newest_first(self.held)[:KEEP], SORT_KEYS)
        shown = columns_for(self.app.size.width, COLUMNS, DROPS)
        table.show_columns([self.sort.label(i) for i in range(len(COLUMNS))], shown)
        millis = self.app.size.width >= MILLIS_FROM
        tones = tones_of(self)
        rows: list[tuple[str | Text, ...]] = []
        for ex in self.shown:
            detail = clip(ex.error or (ex.logs[-1].message if ex.logs else ""), DETAIL_WIDTH)
            status = Text(ex.status, style=tones.run(ex.status))
            if ex.dry_run:
                status.append(" dry", style=tones.note + Style(italic=True))
            if ex.origin:  # mirrored by the bridge: the other engine's run
                status.append(" ⇄", style=tones.note)
            if why := trigger_mark(ex):
                status.append(f" {why}", style=tones.note)
            rows.append(
                (
                    fmt.clock_time(ex.started, millis=millis),
                    ex.hook,
                    ex.event_type or "?",  # "?": a run stored before runs named their type
                    status,
                    fmt.duration_ms(ex.duration_ms),
                    str(ex.event_id) if ex.event_id else "-",
                    detail,
                )
            )
        rows = [tuple(row[i] for i in shown) for row in rows]
        table.set_rows(
            rows, [run_key(ex) for ex in self.shown], keep=keep, fit_width=table.size.width
        )
        bad = sum(r.status not in OK_STATUSES for r in self.shown)
        title = Text(f" {len(self.shown)} runs", style="bold")
        title.append(f", {bad} not ok" if bad else "", style=tones.bad)
        title.append(
            f"   filter: {printable(self.flt.text())}" if self.flt.text() else "   newest first",
            style="dim",
        )
        if self.sort.describe():
            title.append(f"   {self.sort.describe()}", style="bold")
        if self.shown:
            if self.app.size.width >= MILLIS_FROM:  # narrower, the footer has the keys
                title.append("   ⏎ detail · o event · r re-run · R retry failed", style="dim")
        elif self.flt.text():
            title.append("   no runs match the filter: escape clears it", style="italic")
        else:  # what to do next
            title.append(
                "   no hook has run yet: 2 then n adds a hook, F fires an event", style="italic"
            )
        self.query_one("#execs-title", Static).update(title)

    def current_key(self) -> str | None:
        table = self.table
        if table.row_count == 0:
            return None
        return str(table.coordinate_to_cell_key(table.cursor_coordinate).row_key.value)

    def nav_record(self) -> tuple[str, object] | None:
        row = self.table.cursor_row
        if not (0 <= row < len(self.shown) and self.table.row_count):
            return None
        ex = self.shown[row]
        return fmt.run_name(ex.hook, ex.event_id, ex.dry_run), ex.to_dict()

    def current(self) -> Execution | None:
        row = self.table.cursor_row
        if 0 <= row < len(self.shown) and self.table.row_count:
            return self.shown[row]
        self.notify("No run selected.")
        return None

    # -- filter -------------------------------------------------------------------------

    def set_filter(self, text: str) -> bool:
        """Apply filter text as if typed; False (and a message) when it does not parse."""
        try:
            flt = RunFilter.parse(text)
        except ValueError as exc:
            self.notify(printable(str(exc)), title="Filter", severity="error", markup=False)
            return False
        boxes = self.query("#execs-filter").results(Input)
        box = next(boxes, None)
        if box is None:  # not composed yet (a first visit): on_mount loads with it
            self.flt = flt
            return True
        if box.value != text:
            with box.prevent(Input.Changed):
                box.value = text
        if flt != self.flt:
            highlighted = self.current_key() if self.table.row_count else None
            self.flt = flt
            self.held = {key: ex for key, ex in self.held.items() if self._matches(ex)}
            self.draw(top=highlighted not in self.held)  # the highlighted run stays, if it matches
            self.load()
        return True

    @on(Input.Submitted, "#execs-filter")
    def _filter_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        if self.set_filter(event.value.strip()):
            self.table.focus()

    def action_filter(self) -> None:
        self.query_one("#execs-filter", Input).focus()

    def action_cycle_status(self) -> None:
        at = STATUS_CYCLE.index(self.flt.status) if self.flt.status in STATUS_CYCLE else 0
        status = STATUS_CYCLE[(at + 1) % len(STATUS_CYCLE)]
        words = [t for t in self.flt.text().split() if not t.startswith("status:")]
        self.set_filter(" ".join(words + ([f"status:{status}"] if status else [])))

    def action_this_hook(self) -> None:
        if (ex := self.current()) is None:
            return
        words = [t for t in self.flt.text().split() if not t.startswith("hook:")]
        self.set_filter(" ".join([f"hook:{ex.hook}", *words]))

    def action_back(self) -> None:
        """Escape: leave the filter input, then clear the filter, then back to Events."""
        if isinstance(self.focused, Input):
            self.table.focus()
        elif self.flt.text():
            self.set_filter("")
        else:
            self.sloth.action_show("events")

    # -- opening runs -------------------------------------------------------------------

    def on_data_table_row_selected(self, message: DataTable.RowSelected) -> None:
        message.stop()
        if (ex := self.current()) is not None:
            self.app.push_screen(ExecutionDetailScreen(ex))

    def action_open_event(self) -> None:
        if (ex := self.current()) is None:
            return
        if not ex.event_id:
            self.notify("A test-fire runs on a sample event, which is not stored.")
            return
        self.sloth.open_detail(ex.event_id)

    def action_rerun(self) -> None:
        if (ex := self.current()) is not None:
            self.app.push_screen(ExecutionDetailScreen(ex, rerun=True))

    # -- retrying a hook's failures ------------------------------------------------------

    def action_retry_failed(self) -> None:
        """R: the hook of the filter (or of the selected run), on every event it last failed."""
        hook = self.flt.hook or (ex.hook if (ex := self.current()) is not None else None)
        if hook is None:
            self.notify("Select a run, or filter with hook:NAME, to pick the hook to retry.")
            return
        self.find_failed(hook)

    @work(exclusive=True, group="execs-retry")
    async def find_failed(self, hook: str) -> None:
        try:
            failed = await failed_runs(self.engine, hook, None, RETRY_MAX)
        except SlothError as exc:
            self.notify(printable(str(exc)), title="Cannot retry", severity="error", markup=False)
            return
        if not failed:
            self.notify(
                f"No failed runs of {hook} to retry: its latest run on each event worked.",
                markup=False,
            )
            return

        def answer(choice: str | None) -> None:
            if choice == "retry":
                self.retry(hook, failed)

        self.app.push_screen(
            ConfirmScreen(
                f"Retry {hook} on {len(failed)} event{'s' if len(failed) != 1 else ''}?",
                f"Its latest run failed on each of them (events {_id_list(failed)}). The "
                "hook's current code runs again on each, for real: http.post calls are sent "
                "and the events it dispatches are stored. The new runs appear here.",
                [Choice("y", "Retry for real", "retry", "warning")],
            ),
            answer,
        )

    @work(exclusive=True, group="execs-retry")
    async def retry(self, hook: str, failed: list[Execution]) -> None:
        try:
            report = await retry_runs(self.engine, hook, failed)
        except SlothError as exc:
            self.notify(printable(str(exc)), title="Retry stopped", severity="error", markup=False)
            return
        done, still = len(report.retried), report.still_failing
        self.notify(
            f"Retried {hook} on {done} events: {done - still} ok, {still} still failing"
            + (f", {len(report.gone)} gone from the store" if report.gone else ""),
            severity="warning" if still else "information",
            markup=False,
        )

    async def action_edit_hook(self) -> None:
        from sloth_tui.tui.screens.hook_editor import HookEditorScreen

        if (ex := self.current()) is None:
            return
        try:
            hook = await self.engine.get_hook(ex.hook)
        except SlothError as exc:
            self.notify(printable(str(exc)), title="Cannot edit", severity="error", markup=False)
            return
        self.app.push_screen(HookEditorScreen(hook, line=ex.error_line))


def _id_list(runs: list[Execution], shown: int = 8) -> str:
    ids = [str(ex.event_id) for ex in runs[:shown]]
    return ", ".join(ids) + (f" and {len(runs) - shown} more" if len(runs) > shown else "")
