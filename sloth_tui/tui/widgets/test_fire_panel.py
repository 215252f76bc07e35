"""Beside the editor: pick an event, dry-run the buffer on it, or fire it for real.

The event is a type plus editable JSON data, pre-filled from the catalog sample or
taken from a recent real event in the store. A dry run runs the *buffer* (saved or
not) through `engine.test_hook(..., code=buffer)`, so http calls and dispatches are
only recorded; "fire for real" goes through `engine.dispatch(..., source="dashboard")`
like any producer, and the real run shows up here when the engine reports it.
A real event's data is loaded as printable JSON (`format.pretty_json`), so a control
character in it shows as a \\u escape and fires back unchanged.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from dataclasses import replace
from fnmatch import fnmatchcase
from typing import Any

from rich.cells import cell_len
from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.message import Message
from textual.suggester import SuggestFromList
from textual.widgets import Button, Input, Static, TextArea
from textual.widgets.button import ButtonVariant

from sloth_tui import catalog
from sloth_tui.model.errors import SlothError
from sloth_tui.model.filters import parse_filter
from sloth_tui.model.records import Event, Execution, Hook
from sloth_tui.tui import format as fmt
from sloth_tui.tui.hook_templates import template_type
from sloth_tui.tui.reach import engine_of
from sloth_tui.tui.tones import tones_of
from sloth_tui.tui.widgets.execution_view import ExecutionView

GRACE = 5.0  # seconds past the hook's own deadline before the dashboard gives up waiting
RECENT = 20  # real events of the type offered by "recent"


# The buttons, (label, id, variant); in one row each takes its label, a cell of padding
# on both sides and a cell of margin after it (workbench.tcss), but the last's margin.
BUTTONS: tuple[tuple[str, str, ButtonVariant], ...] = (
    ("Dry run ^r", "tf-run", "primary"),
    ("Sample f2", "tf-sample", "default"),
    ("Recent f3", "tf-recent", "default"),
    ("Fire real ^f", "tf-fire", "warning"),
)
BUTTONS_WIDE = sum(cell_len(label) + 3 for label, _id, _variant in BUTTONS) - 1


class TestFirePanel(Vertical):
    """Posts `Ran` after each dry run, so the screen can jump to an error's line."""

    __test__ = False  # not a pytest test class, whatever its name says

    class Ran(Message):
        def __init__(self, execution: Execution) -> None:
            super().__init__()
            self.execution = execution

    def __init__(
        self,
        hook: Hook,
        code: Callable[[], str],
        dirty: Callable[[], bool],
        *,
        id: str | None = None,
    ) -> None:
        super().__init__(id=id)
        self.hook = hook
        self._code = code
        self._dirty = dirty
        self.picked: Event | None = None  # a real event from the store, when one is in use
        self._recent: list[Event] = []
        self._recent_at = -1
        self.fired_id: int | None = None
        self.last_dry: Execution | None = None
        self.last_real: Execution | None = None
        self._sample_text = ""

    def compose(self) -> ComposeResult:
        yield Static("Test-fire", classes="wb-pane-title")
        with Horizontal(id="tf-type-row"):
            yield Static("event ", classes="wb-label")
            yield Input(
                placeholder="event type",
                suggester=SuggestFromList(
                    catalog.type_names(extensions=True), case_sensitive=False
                ),
                id="tf-type",
                compact=True,
            )
        yield Static("", id="tf-hint", markup=False)
        # Plain text: TextArea(language="json") corrupts memory with this tree-sitter build.
        yield TextArea("{}", soft_wrap=True, id="tf-data", tab_behavior="indent")
        yield Static("", id="tf-error", markup=False)
        with Horizontal(id="tf-buttons"):
            for label, button_id, variant in BUTTONS:
                yield Button(label, id=button_id, variant=variant, compact=True)
        with VerticalScroll(id="tf-result-box"):
            yield ExecutionView(
                "ctrl+r runs the editor's code on this event (dry run).", id="tf-result"
            )
        yield Static("", id="tf-real", markup=False)

    def on_mount(self) -> None:
        first = template_type(self.hook.events) or "custom"
        self.set_event(first, catalog.sample_data(first))

    def on_resize(self) -> None:
        # The buttons in a row need BUTTONS_WIDE cells; a narrower pane (the editor on an
        # 80- or 100-column terminal) shows them two by two rather than cut "Fire real".
        narrow = self.content_size.width < BUTTONS_WIDE
        self.query_one("#tf-buttons").set_class(narrow, "-narrow")

    # -- the event ---------------------------------------------------------------------

    @property
    def type_input(self) -> Input:
        return self.query_one("#tf-type", Input)

    @property
    def data_area(self) -> TextArea:
        return self.query_one("#tf-data", TextArea)

    @property
    def result(self) -> ExecutionView:
        return self.query_one("#tf-result", ExecutionView)

    def set_event(self, type_name: str, data: dict[str, Any], picked: Event | None = None) -> None:
        self.picked = picked
        with self.type_input.prevent(Input.Changed):
            self.type_input.value = type_name
        text = fmt.pretty_json(data)
        self._sample_text = text if picked is None else ""
        self.data_area.load_text(text)
        self._hint()
        self._error("")

    def _hint(self) -> None:
        type_name = self.type_input.value.strip()
        spec = catalog.get(type_name)
        warn = tones_of(self).warn
        hint = Text()
        if self.picked is not None:
            hint.append(f"event {self.picked.id} from the store, {fmt.full_time(self.picked.ts)}")
        elif spec is not None:
            hint.append(spec.description, style="dim")
        elif (typo := fmt.typo_warning(type_name)) is not None:
            hint.append(f"⚠ {typo}", style=warn)
        elif type_name:
            hint.append("not in the catalog: a custom type", style="dim")
        if type_name and not any(fnmatchcase(type_name, p) for p in self.hook.events):
            hint.append(
                "\n⚠ the hook's events ("
                + fmt.printable(", ".join(self.hook.events))
                + ") don't match this type: a real one would not run it",
                style=warn,
            )
        self.query_one("#tf-hint", Static).update(hint)

    def _error(self, message: str) -> None:
        self.query_one("#tf-error", Static).update(fmt.plain(f"✗ {message}" if message else ""))

    @on(Input.Changed, "#tf-type")
    def _type_changed(self, event: Input.Changed) -> None:
        event.stop()
        type_name = event.value.strip()
        if self.picked is not None and type_name != self.picked.type:
            self.picked = None
        # An untouched sample follows the type; edited data is never thrown away.
        if catalog.get(type_name) is not None and self.data_area.text == self._sample_text:
            self._sample_text = json.dumps(catalog.sample_data(type_name), indent=2)
            self.data_area.load_text(self._sample_text)
        self._hint()

    @on(Input.Submitted, "#tf-type")
    def _type_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self.data_area.focus()

    def read_event(self) -> Event | None:
        """The event to fire, built from the inputs; None (with the reason shown) if invalid."""
        type_name = self.type_input.value.strip()
        if not type_name:
            self._error("type an event type first")
            return None
        try:
            data = json.loads(self.data_area.text or "{}")
        except ValueError as exc:
            self._error(f"data is not JSON: {exc}")
            return None
        if not isinstance(data, dict):
            self._error('data must be a JSON object like {"service": "api"}')
            return None
        self._error("")
        if self.picked is not None and self.picked.type == type_name:
            return replace(self.picked, data=data)
        return Event(0, type_name, catalog.category_of(type_name), data, source="test")

    # -- actions ---------------------------------------------------------------------

    def action_sample(self) -> None:
        type_name = self.type_input.value.strip() or template_type(self.hook.events) or "custom"
        self.set_event(type_name, catalog.sample_data(type_name))

    @work(exclusive=True, group="tf-recent")
    async def action_recent(self) -> None:
        """Cycle through the newest real events of the chosen type."""
        type_name = self.type_input.value.strip()
        if not type_name:
            self._error("type an event type first")
            return
        if not self._recent or self._recent[0].type != type_name:
            try:
                flt = parse_filter(f"type:{type_name}")
                self._recent = await engine_of(self).query_events(flt, limit=RECENT)
            except SlothError as exc:
                self._error(str(exc))
                return
            self._recent_at = -1
        if not self._recent:
            self._error(f"no {type_name} events in the store yet (ctrl+f fires one)")
            return
        self._recent_at = (self._recent_at + 1) % len(self._recent)
        ev = self._recent[self._recent_at]
        self.set_event(ev.type, ev.data, picked=ev)

    @work(exclusive=True, group="tf-run")
    async def action_run(self) -> None:
        event = self.read_event()
        if event is None:
            return
        self.result.show_text("running…")
        engine = engine_of(self)
        wait = (self.hook.timeout or 10.0) + GRACE
        try:
            ex = await asyncio.wait_for(
                engine.test_hook(self.hook, event=event, code=self._code()), timeout=wait
            )
        except TimeoutError:
            self.result.show_text(
                f"⏱ no answer after {wait:.0f} s: the run was abandoned (nothing was sent)",
                tones_of(self).warn,
            )
            return
        except SlothError as exc:
            self.result.show_text(f"✗ {exc}", tones_of(self).bad)
            return
        self.last_dry = ex
        label = f"{event.type} (sample)" if not event.id else f"{event.id} {event.type}"
        self.result.show(ex, event_label=label)
        self.query_one("#tf-result-box", VerticalScroll).scroll_home(animate=False)
        self.post_message(self.Ran(ex))

    async def action_fire(self) -> None:
        event = self.read_event()
        if event is None:
            return
        try:
            fired = await engine_of(self).dispatch(event.type, event.data, source="dashboard")
        except SlothError as exc:
            self._error(str(exc))
            return
        self.fired_id = fired.id
        notes = []
        if not self.hook.enabled:
            notes.append("the hook is disabled: it will not run")
        elif not any(fnmatchcase(fired.type, p) for p in self.hook.events):
            notes.append("the hook's events don't match this type: it will not run")
        elif self._dirty():
            notes.append("unsaved edits: the saved file runs, not the buffer")
        note = f" ({'; '.join(notes)})" if notes else ", waiting for the hook's run…"
        self.query_one("#tf-real", Static).update(
            fmt.plain(
                f"fired {fired.type} as event {fired.id}{note}",
                style=tones_of(self).warn if notes else "",
            )
        )
        fmt.notify(self.app, f"Fired {fired.type} as event {fired.id}")

    def show_real_run(self, ex: Execution) -> None:
        """A real run of this hook finished (the screen passes on the engine's notice)."""
        self.last_real = ex
        line = Text()
        line.append("last real run: ", style="dim")
        line.append(f"event {ex.event_id} ")
        line.append(fmt.printable(ex.status), style=tones_of(self).run(ex.status))
        line.append(
            f" {fmt.duration_ms(ex.duration_ms)} at {fmt.clock_time(ex.started, millis=False)}"
        )
        line.append("  f4 opens it", style="dim")
        self.query_one("#tf-real", Static).update(line)

    # -- buttons -------------------------------------------------------------------------

    @on(Button.Pressed, "#tf-run")
    def _run_pressed(self) -> None:
        self.action_run()

    @on(Button.Pressed, "#tf-sample")
    def _sample_pressed(self) -> None:
        self.action_sample()

    @on(Button.Pressed, "#tf-recent")
    def _recent_pressed(self) -> None:
        self.action_recent()

    @on(Button.Pressed, "#tf-fire")
    async def _fire_pressed(self) -> None:
        await self.action_fire()
