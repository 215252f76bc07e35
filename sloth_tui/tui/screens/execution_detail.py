"""One hook run in full: logs, calls, error; a link to its event; a re-run of that event
against the hook's current code (a dry run by default, or for real after a confirmation),
shown under the original for comparison. What the hook said is shown as text, never markup."""

from __future__ import annotations

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.css.query import NoMatches
from textual.screen import Screen
from textual.widgets import Static

from sloth_tui.model.errors import NotFound, SlothError
from sloth_tui.model.records import Event, Execution
from sloth_tui.tui import format as fmt
from sloth_tui.tui.nav import NAV_BINDINGS, NavMixin
from sloth_tui.tui.reach import engine_of
from sloth_tui.tui.screens.base import StaleMapGuard
from sloth_tui.tui.screens.confirm import Choice, ConfirmScreen
from sloth_tui.tui.widgets.execution_view import ExecutionView
from sloth_tui.tui.widgets.key_footer import KeyFooter
from sloth_tui.tui.widgets.table_fit import printable


class ExecutionDetailScreen(NavMixin, StaleMapGuard, Screen[None]):
    CSS_PATH = "../workbench.tcss"
    NAV_TARGET = "#xd-body"
    BINDINGS = [
        *NAV_BINDINGS,
        Binding("o", "open_event", "Event", id="execution_detail.open_event", key_display="⏎/o",
                tooltip="open the event that ran the hook"),
        Binding("r", "rerun", "Re-run (dry)", id="execution_detail.rerun",
                tooltip="re-run the event against the hook's current code (dry run)"),
        Binding("R", "rerun_real", "Re-run for real", id="execution_detail.rerun_real",
                tooltip="re-run it for real (asks first; recorded beside the old run)"),
        Binding("e", "edit_hook", "Edit hook", id="execution_detail.edit_hook",
                tooltip="open the hook in the editor, at the error line"),
    ]  # fmt: skip

    def __init__(self, execution: Execution, *, rerun: bool = False) -> None:
        super().__init__()
        self.execution = execution
        self.event: Event | None = None  # the event that ran it, once loaded
        self.rerun_result: Execution | None = None
        self.rerun_was_real = False
        self._rerun_now = rerun

    def compose(self) -> ComposeResult:
        yield Static("", id="xd-title")
        with VerticalScroll(id="xd-body"):
            yield ExecutionView(id="xd-run")
            yield Static("", id="xd-rerun-title")
            yield ExecutionView(id="xd-rerun")
        yield KeyFooter()

    def on_mount(self) -> None:
        self.query_one("#xd-body").focus()
        self._show()
        self.load_event()

    def _event_label(self) -> str:
        ex = self.execution
        if not ex.event_id:
            return "a test-fire's sample (not stored)"
        kind = ex.event_type or (self.event.type if self.event else "")
        return " ".join(filter(None, [str(ex.event_id), kind])) + "  (o opens it)"

    def _show(self) -> bool:
        """Draw the run (and its re-run); False when the screen is closing.

        The workers below draw after an await, and Escape may have started closing the
        screen meanwhile: its widgets go before the screen's Unmount cancels its workers.
        """
        try:
            self._draw()
        except NoMatches:
            return False
        return True

    def _draw(self) -> None:
        ex = self.execution
        title = Text()
        title.append(" Execution", style="bold")
        title.append(f" {ex.id}" if ex.id else "")
        title.append(f"  hook {printable(ex.hook)}  ")
        title.append(f"event {ex.event_id}" if ex.event_id else "test-fire sample", style="dim")
        self.query_one("#xd-title", Static).update(title)
        self.query_one("#xd-run", ExecutionView).show(ex, event_label=self._event_label())
        rerun_title = self.query_one("#xd-rerun-title", Static)
        if self.rerun_result is None:
            hint = (
                f"{ex.origin}'s own run, mirrored by the bridge: shown here, never re-run"
                if ex.origin
                else "r re-runs this event against the hook's current code "
                "(dry run: nothing is sent); R re-runs it for real"
            )
            rerun_title.update(Text(printable(hint), style="dim"))
            self.query_one("#xd-rerun").display = False
        else:
            kind = "for real" if self.rerun_was_real else "dry run"
            rerun_title.update(
                Text(f"Re-run with the current code ({kind})", style="bold underline")
            )
            view = self.query_one("#xd-rerun", ExecutionView)
            view.display = True
            view.show(self.rerun_result, event_label=self._event_label())

    @work(exclusive=True, group="xd-event")
    async def load_event(self) -> None:
        if self.execution.event_id:
            try:
                self.event = await engine_of(self).get_event(self.execution.event_id)
            except SlothError:
                self.event = None  # trimmed or deleted: the run's own record still shows
            if not self._show():
                return
        if self._rerun_now:
            self._rerun_now = False
            self.action_rerun()

    def nav_open(self) -> None:
        self.action_open_event()

    def nav_record(self) -> tuple[str, object] | None:
        ex = self.execution
        return fmt.run_name(ex.hook, ex.event_id, ex.dry_run), ex.to_dict()

    def action_open_event(self) -> None:
        if not self.execution.event_id:
            self.notify("A test-fire runs on a sample event, which is not stored.")
            return
        self.app.open_detail(self.execution.event_id)

    def _mirrored(self) -> bool:
        """A run another engine made (the Sloth Runner bridge): shown, never re-run here."""
        origin = self.execution.origin
        if origin:
            self.notify(
                f"This run is {printable(origin)}'s own, mirrored by the bridge: it is shown, "
                "not re-run here.",
                markup=False,
            )
        return bool(origin)

    @work(exclusive=True, group="xd-rerun")
    async def action_rerun(self) -> None:
        engine = engine_of(self)
        if self._mirrored():
            return
        if not self.execution.event_id:
            self.notify("This run's event was a test-fire sample: test-fire it from the editor.")
            return
        try:
            event = self.event or await engine.get_event(self.execution.event_id)
            hook = await engine.get_hook(self.execution.hook)
            self.rerun_result = await engine.test_hook(hook, event=event)
            self.rerun_was_real = False
        except NotFound as exc:
            self.notify(printable(str(exc)), title="Cannot re-run", severity="error", markup=False)
            return
        except SlothError as exc:
            self.notify(printable(str(exc)), title="Re-run failed", severity="error", markup=False)
            return
        if self._show():
            self.query_one("#xd-rerun-title").scroll_visible(top=True, animate=False)

    def action_rerun_real(self) -> None:
        ex = self.execution
        if self._mirrored():
            return
        if not ex.event_id:
            self.notify("This run's event was a test-fire sample: test-fire it from the editor.")
            return

        def answer(choice: str | None) -> None:
            if choice == "rerun":
                self.rerun_for_real()

        self.app.push_screen(
            ConfirmScreen(
                f"Re-run {ex.hook} on event {ex.event_id} for real?",
                "The hook's current code runs again on the stored event: http.post calls "
                "are sent and the events it dispatches are stored. The new run is recorded "
                "beside this one, and the event's status follows it.",
                [Choice("y", "Re-run for real", "rerun", "warning")],
            ),
            answer,
        )

    @work(exclusive=True, group="xd-rerun")
    async def rerun_for_real(self) -> None:
        engine = engine_of(self)
        try:
            _event, runs = await engine.rerun(self.execution.event_id, [self.execution.hook])
        except SlothError as exc:
            self.notify(printable(str(exc)), title="Cannot re-run", severity="error", markup=False)
            return
        self.rerun_result = runs[0]
        self.rerun_was_real = True
        if self._show():
            self.query_one("#xd-rerun-title").scroll_visible(top=True, animate=False)

    async def action_edit_hook(self) -> None:
        from sloth_tui.tui.screens.hook_editor import HookEditorScreen

        try:
            hook = await engine_of(self).get_hook(self.execution.hook)
        except SlothError as exc:
            self.notify(printable(str(exc)), title="Cannot edit", severity="error", markup=False)
            return
        self.app.push_screen(HookEditorScreen(hook, line=self.execution.error_line))
