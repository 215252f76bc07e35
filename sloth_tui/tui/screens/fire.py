"""`F`: fire an event by hand, from a form of the type's catalog fields or from raw JSON.

Firing goes through `Engine.dispatch(..., source="dashboard")` like any producer, so
the engine's own validation message is what the operator reads when it refuses. A type
the catalog nearly spells gets the engine's "did you mean" before it is fired.

Data from a stored event is the producer's: a string the one-line form cannot show as
it is (a control character, a newline) sends the dialog to raw JSON, where it is a
\\u escape and fires back unchanged.
"""

from __future__ import annotations

import json
from typing import Any

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.suggester import SuggestFromList
from textual.widgets import Button, Input, Label, Static, TextArea

from sloth_tui import catalog
from sloth_tui.catalog import FieldSpec
from sloth_tui.model.errors import SlothError
from sloth_tui.model.records import Event
from sloth_tui.tui import format as fmt
from sloth_tui.tui.reach import engine_of
from sloth_tui.tui.screens.base import StaleMapGuard
from sloth_tui.tui.tones import Tones, tones_of

MAX_MATCHES = 6


def field_text(value: Any) -> str:
    """How a value shows in a form input: strings bare, everything else as JSON."""
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)


def parse_field(spec: FieldSpec, text: str) -> Any:
    """The value typed for a field; ValueError with a readable message when it cannot be."""
    if spec.kind in ("list", "object"):
        try:
            value = json.loads(text)
        except ValueError:
            value = None
        want = list if spec.kind == "list" else dict
        if not isinstance(value, want):
            example = '["a", "b"]' if spec.kind == "list" else '{"key": "value"}'
            raise ValueError(f"{spec.name}: must be a JSON {spec.kind} like {example}")
        return value
    if isinstance(spec.sample, str):
        return text
    try:
        return json.loads(text)
    except ValueError:
        return text  # a number field given words: kept, the catalog check will warn


def get_path(data: dict[str, Any], path: tuple[str, ...]) -> Any:
    node: Any = data
    for key in path:
        if not isinstance(node, dict) or key not in node:
            return None
        node = node[key]
    return node


def set_path(data: dict[str, Any], path: tuple[str, ...], value: Any) -> None:
    *parents, leaf = path
    node = data
    for key in parents:
        node = node.setdefault(key, {})
    node[leaf] = value


def type_hint(text: str, tones: Tones) -> Text:
    spec = catalog.get(text)
    if spec is not None:
        return Text(f"{spec.description}  ({len(spec.fields)} fields, category {spec.category})")
    if not text:
        return Text(
            "Type to pick from the catalog (→ accepts the completion), or a new category.action"
        )
    matches = [t for t in catalog.type_names(extensions=True) if text in t]
    if matches:
        more = " …" if len(matches) > MAX_MATCHES else ""
        return Text("matches: " + "  ".join(matches[:MAX_MATCHES]) + more)
    typo = fmt.typo_warning(text)
    if typo is not None:
        return fmt.plain(f"⚠ {typo}", style=tones.warn)
    return Text("Not in the catalog: a new type, data as raw JSON")


def form_can_show(value: Any) -> bool:
    """False for a string an Input cannot show as it is (controls, newline, tab)."""
    return not isinstance(value, str) or fmt.printable(value) == value


class FireScreen(StaleMapGuard, ModalScreen[Event | None]):
    BINDINGS = [
        Binding("escape", "cancel", "Cancel", id="fire.cancel", tooltip="close without firing"),
        Binding("ctrl+s", "fire", "Fire", id="fire.fire", tooltip="fire (enter in a field too)"),
        Binding("ctrl+t", "toggle_raw", "Raw JSON", id="fire.toggle_raw",
                tooltip="switch between the form and raw JSON"),
    ]  # fmt: skip

    def __init__(self, type_name: str = "", data: dict[str, Any] | None = None) -> None:
        super().__init__()
        self.initial_type = type_name
        self.initial_data = data
        self.form_type: str | None = None
        self.specs: tuple[FieldSpec, ...] = ()
        self.raw_mode = False

    def compose(self) -> ComposeResult:
        names = [*catalog.type_names(extensions=True)]
        with Vertical(id="fire-dialog"):
            yield Static("Fire an event  (source: dashboard)", id="fire-title", markup=False)
            yield Input(
                value=self.initial_type,
                placeholder="event type, e.g. deploy.failed",
                suggester=SuggestFromList(names, case_sensitive=False),
                id="fire-type",
                compact=True,
            )
            yield Static(type_hint(self.initial_type, tones_of(self)), id="fire-hint")
            yield VerticalScroll(id="fire-fields")
            yield TextArea("{}", id="fire-raw", soft_wrap=True, tab_behavior="indent")
            yield Static("", id="fire-error", markup=False)
            with Horizontal(id="fire-buttons"):
                yield Button("Fire ^s", id="fire-go", variant="primary", compact=True)
                yield Button("Raw JSON ^t", id="fire-toggle", compact=True)
                yield Button("Cancel esc", id="fire-cancel", compact=True)

    async def on_mount(self) -> None:
        self.query_one("#fire-raw").display = False
        if self.initial_type:
            await self._set_type(self.initial_type, self.initial_data)
            self._focus_first_field()
        else:
            self.query_one("#fire-type", Input).focus()

    # -- type and form ----------------------------------------------------------------

    @property
    def type_name(self) -> str:
        return self.query_one("#fire-type", Input).value.strip()

    @on(Input.Changed, "#fire-type")
    async def _type_changed(self, event: Input.Changed) -> None:
        event.stop()
        text = event.value.strip()
        self.query_one("#fire-hint", Static).update(type_hint(text, tones_of(self)))
        if catalog.get(text) is not None and text != self.form_type:
            await self._set_type(text)

    @on(Input.Submitted, "#fire-type")
    async def _type_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        text = self.type_name
        if catalog.get(text) is None and text:
            matches = [t for t in catalog.type_names(extensions=True) if t.startswith(text)]
            if matches:
                self.query_one("#fire-type", Input).value = matches[0]
                await self._set_type(matches[0])
            elif text != self.form_type:
                await self._set_type(text)
        self._focus_first_field()

    async def _set_type(self, text: str, data: dict[str, Any] | None = None) -> None:
        spec = catalog.get(text)
        self.form_type = text
        self.specs = spec.fields if spec else ()
        values = data if data is not None else catalog.sample_data(text)
        fields = self.query_one("#fire-fields", VerticalScroll)
        await fields.remove_children()
        rows = []
        for i, f in enumerate(self.specs):
            value = get_path(values, f.path)
            label = f"{f.name}{'[]' if f.kind == 'list' else '{}' if f.kind == 'object' else ''}"
            rows.append(
                Horizontal(
                    Label(Text(label), classes="field-name"),
                    Input(
                        "" if value is None else field_text(value),
                        id=f"field-{i}",
                        classes="field-value",
                        compact=True,
                    ),
                    classes="field-row",
                )
            )
        await fields.mount_all(rows)
        self.query_one("#fire-raw", TextArea).text = fmt.pretty_json(values)
        known_only = spec is not None and data is not None and self._only_known(data)
        self._show_raw(spec is None or (data is not None and not known_only))
        self._error("")

    def _only_known(self, data: dict[str, Any]) -> bool:
        """True when the form shows all of `data`, exactly."""
        form: dict[str, Any] = {}
        for f in self.specs:
            if (value := get_path(data, f.path)) is not None:
                if not form_can_show(value):
                    return False
                set_path(form, f.path, value)
        return form == data

    def _focus_first_field(self) -> None:
        if self.raw_mode:
            self.query_one("#fire-raw", TextArea).focus()
        elif self.specs:
            self.query_one("#field-0", Input).focus()

    def _show_raw(self, raw: bool) -> None:
        self.raw_mode = raw
        self.query_one("#fire-raw").display = raw
        self.query_one("#fire-fields").display = not raw

    def _error(self, message: str) -> None:
        self.query_one("#fire-error", Static).update(fmt.plain(f"✗ {message}" if message else ""))

    # -- building the data ---------------------------------------------------------------

    def form_data(self) -> dict[str, Any]:
        """The data to fire; ValueError with the first problem found."""
        if self.raw_mode:
            text = self.query_one("#fire-raw", TextArea).text
            try:
                value = json.loads(text or "{}")
            except ValueError as exc:
                raise ValueError(f"raw JSON: {exc}") from None
            if not isinstance(value, dict):
                raise ValueError('raw JSON: the data must be an object like {"key": "value"}')
            return value
        data: dict[str, Any] = {}
        for i, f in enumerate(self.specs):
            text = self.query_one(f"#field-{i}", Input).value
            if text.strip():
                set_path(data, f.path, parse_field(f, text))
        return data

    # -- actions -------------------------------------------------------------------------

    @on(Input.Submitted, ".field-value")
    async def _field_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        await self.action_fire()

    @on(Button.Pressed, "#fire-go")
    async def _go(self) -> None:
        await self.action_fire()

    @on(Button.Pressed, "#fire-toggle")
    def _toggle(self) -> None:
        self.action_toggle_raw()

    @on(Button.Pressed, "#fire-cancel")
    def _cancel(self) -> None:
        self.action_cancel()

    async def action_fire(self) -> None:
        type_name = self.type_name
        if not type_name:
            self._error("pick an event type first")
            return
        if type_name != self.form_type:  # typed on without Enter: show the form first
            await self._set_type(type_name)
            typo = fmt.typo_warning(type_name)
            self._error(
                f"{typo}; fire again to use it"
                if typo
                else "new type: check the data, then fire again"
            )
            return
        try:
            data = self.form_data()
        except ValueError as exc:
            self._error(str(exc))
            return
        try:
            event = await engine_of(self).dispatch(type_name, data, source="dashboard")
        except SlothError as exc:
            self._error(str(exc))
            return
        self.dismiss(event)

    def action_toggle_raw(self) -> None:
        raw = self.query_one("#fire-raw", TextArea)
        if not self.raw_mode:
            try:
                data = self.form_data()
            except ValueError as exc:
                self._error(str(exc))
                return
            raw.text = fmt.pretty_json(data)
            self._show_raw(True)
            raw.focus()
            self._error("")
            return
        if not self.specs:
            self._error("this type has no catalog fields: edit the raw JSON")
            return
        try:
            data = self.form_data()
        except ValueError as exc:
            self._error(str(exc))
            return
        if not self._only_known(data):
            self._error("the JSON has keys (or text) the form does not show: keep editing it raw")
            return
        for i, f in enumerate(self.specs):
            value = get_path(data, f.path)
            self.query_one(f"#field-{i}", Input).value = "" if value is None else field_text(value)
        self._show_raw(False)
        self._error("")
        self._focus_first_field()

    def action_cancel(self) -> None:
        self.dismiss(None)
