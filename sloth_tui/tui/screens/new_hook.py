"""`n` on the Hooks screen: name, event patterns (completed from the catalog), description,
and either a new file in hooks/ from a template for the chosen event type or an existing
Lua file. Every refusal is a message on the form; nothing typed is lost. A pattern the
catalog nearly spells (`deploy.faild`) gets the engine's "did you mean"; paths and
patterns are shown as plain text (`format.plain`), never markup.
"""

from __future__ import annotations

import re
from pathlib import Path

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.suggester import Suggester, SuggestFromList
from textual.widgets import Button, Input, Static

from sloth_tui import catalog
from sloth_tui.catalog import pattern_matches_catalog
from sloth_tui.model.errors import SlothError
from sloth_tui.model.records import Hook
from sloth_tui.model.rules import check_hook_name, check_pattern
from sloth_tui.tui import format as fmt
from sloth_tui.tui import hook_templates
from sloth_tui.tui.reach import engine_of
from sloth_tui.tui.screens.base import StaleMapGuard
from sloth_tui.tui.tones import Tones, tones_of
from sloth_tui.tui.widgets.lua_editor import atomic_write, display_path
from sloth_tui.user_path import user_path

GLOB_CHARS = frozenset("*?[]!")


def split_patterns(text: str) -> list[str]:
    return [p for p in re.split(r"[,\s]+", text.strip()) if p]


def pattern_typo(pattern: str) -> str | None:
    """The "did you mean" for an exact type the catalog nearly spells; None for globs."""
    return None if GLOB_CHARS & set(pattern) else fmt.typo_warning(pattern)


class PatternSuggester(Suggester):
    """Completes the last comma-separated pattern with a catalog type."""

    def __init__(self) -> None:
        super().__init__(use_cache=False, case_sensitive=True)

    async def get_suggestion(self, value: str) -> str | None:
        token = re.split(r"[,\s]+", value)[-1]
        if not token:
            return None
        for name in catalog.type_names(extensions=True):
            if name.startswith(token) and name != token:
                return value + name[len(token) :]
        return None


def patterns_hint(patterns: list[str], tones: Tones) -> Text:
    """What the patterns match in the catalog, with a warning for those matching nothing."""
    if not patterns:
        return Text(
            "an event type (→ completes) or a glob: deploy.*, *.failed; comma-separated",
            style="dim",
        )
    lines: list[Text] = []
    first = hook_templates.template_type(patterns)
    spec = catalog.get(first) if first else None
    if spec is not None:
        lines.append(Text(f"template for {spec.type}: {spec.description}", style="dim"))
    for p in patterns:
        if pattern_matches_catalog(p):
            continue
        completion = next((t for t in catalog.type_names(extensions=True) if t.startswith(p)), None)
        if completion is not None and p == patterns[-1]:  # still being typed
            lines.append(fmt.plain(f"→ completes {p} to {completion}", style="dim"))
        elif (typo := pattern_typo(p)) is not None:
            lines.append(fmt.plain(f"⚠ {typo}", style=tones.warn))
        else:
            lines.append(
                fmt.plain(
                    f"⚠ {p} matches nothing in the catalog (allowed: custom types)", tones.warn
                )
            )
    return Text("\n").join(lines)


class NewHookScreen(StaleMapGuard, ModalScreen[Hook | None]):
    CSS_PATH = "../workbench.tcss"
    BINDINGS = [
        Binding("escape", "cancel", "Cancel"),
        Binding("ctrl+s", "create", "Create"),
    ]

    def __init__(self, hooks_dir: Path, initial_events: str = "") -> None:
        super().__init__()
        self.hooks_dir = hooks_dir
        self.initial_events = initial_events
        self.created_file: Path | None = None

    def compose(self) -> ComposeResult:
        files = (
            sorted(p.name for p in self.hooks_dir.glob("*.lua")) if self.hooks_dir.is_dir() else []
        )
        files = [name for name in files if fmt.printable(name) == name]  # drawn as typed
        with Vertical(id="nh-dialog"):
            yield Static("New hook", id="nh-title")
            yield self._row(
                "name", Input(placeholder="e.g. deploy-alert", id="nh-name", compact=True)
            )
            yield self._row(
                "events",
                Input(
                    self.initial_events,
                    placeholder="e.g. deploy.failed",
                    suggester=PatternSuggester(),
                    id="nh-events",
                    compact=True,
                ),
            )
            yield Static(
                patterns_hint(split_patterns(self.initial_events), tones_of(self)),
                id="nh-events-hint",
            )
            yield self._row(
                "description", Input(placeholder="optional", id="nh-desc", compact=True)
            )
            yield self._row(
                "file",
                Input(
                    placeholder="empty: a new file from a template",
                    suggester=SuggestFromList(files),
                    id="nh-file",
                    compact=True,
                ),
            )
            yield Static("", id="nh-file-hint")
            yield Static("", id="nh-error", markup=False)
            with Horizontal(id="nh-buttons"):
                yield Button("Create ^s", id="nh-create", variant="primary", compact=True)
                yield Button("Cancel esc", id="nh-cancel", compact=True)

    @staticmethod
    def _row(label: str, field: Input) -> Horizontal:
        return Horizontal(Static(label, classes="nh-label"), field, classes="nh-row")

    def on_mount(self) -> None:
        self.query_one("#nh-name", Input).focus()
        self._file_hint()

    def value(self, widget_id: str) -> str:
        return self.query_one(f"#{widget_id}", Input).value.strip()

    def _error(self, message: str, focus: str | None = None) -> None:
        self.query_one("#nh-error", Static).update(fmt.plain(f"✗ {message}" if message else ""))
        if focus:
            self.query_one(f"#{focus}", Input).focus()

    def target(self) -> Path:
        """The file the hook will use: the one typed (relative to hooks/), or a new one."""
        typed = self.value("nh-file")
        if typed:
            path = user_path(typed)
            return path if path.is_absolute() else self.hooks_dir / path
        return self.hooks_dir / f"{hook_templates.file_stem(self.value('nh-name') or 'hook')}.lua"

    def _file_hint(self) -> None:
        path = self.target()
        if self.value("nh-file"):
            shown = display_path(path)
            text = f"uses {shown}" if path.is_file() else f"⚠ no such file: {shown}"
        else:
            kind = (
                hook_templates.template_type(split_patterns(self.value("nh-events"))) or "any event"
            )
            text = f"creates {display_path(path)} from a template for {kind}"
            if path.exists():
                text = f"⚠ {path.name} exists in hooks/: type it as the file to use it"
        self.query_one("#nh-file-hint", Static).update(fmt.plain(text, style="dim"))

    @on(Input.Changed)
    def _changed(self, event: Input.Changed) -> None:
        event.stop()
        if event.input.id == "nh-events":
            hint = patterns_hint(split_patterns(event.value), tones_of(self))
            self.query_one("#nh-events-hint", Static).update(hint)
        self._file_hint()

    @on(Input.Submitted)
    async def _submitted(self, event: Input.Submitted) -> None:
        event.stop()
        if event.input.id == "nh-file":
            await self.action_create()
        else:
            self.focus_next()

    @on(Button.Pressed, "#nh-create")
    async def _create_pressed(self) -> None:
        await self.action_create()

    @on(Button.Pressed, "#nh-cancel")
    def _cancel_pressed(self) -> None:
        self.action_cancel()

    def action_cancel(self) -> None:
        self.dismiss(None)

    async def action_create(self) -> None:
        engine = engine_of(self)
        name = self.value("nh-name")
        try:
            check_hook_name(name)
            if any(h.name == name for h in await engine.list_hooks()):
                self._error(f"a hook named {name!r} already exists: pick another name", "nh-name")
                return
            patterns = split_patterns(self.value("nh-events"))
            for pattern in patterns:
                check_pattern(pattern)
        except SlothError as exc:
            self._error(str(exc), "nh-name" if not name or "name" in str(exc) else "nh-events")
            return
        path = self.target()
        existing = bool(self.value("nh-file"))
        if existing and not path.is_file():
            self._error(f"no such file: {path}", "nh-file")
            return
        if existing and not patterns:  # a table-style file may declare its own event_types
            try:  # read by the engine's Lua (attached: the daemon's)
                patterns = await engine.declared_event_types(str(path))
            except SlothError as exc:
                self._error(str(exc), "nh-events")
                return
        if not patterns:
            self._error("a hook needs at least one event pattern, e.g. deploy.failed", "nh-events")
            return
        if not existing:
            if path.exists():
                self._error(
                    f"{path} already exists: type it as the file, or pick another name", "nh-file"
                )
                return
            try:
                atomic_write(path, hook_templates.render(name, patterns))
            except OSError as exc:
                self._error(f"could not write {path}: {exc.strerror or exc}")
                return
            self.created_file = path
        try:
            hook = await engine.add_hook(name, patterns, path, description=self.value("nh-desc"))
        except SlothError as exc:
            if self.created_file is not None:  # only what this form wrote is taken back
                self.created_file.unlink(missing_ok=True)
                self.created_file = None
            self._error(str(exc))
            return
        unmatched = [p for p in patterns if not pattern_matches_catalog(p)]
        if unmatched:
            typos = [t for p in unmatched if (t := pattern_typo(p)) is not None]
            fmt.notify(
                self.app,
                "\n".join(
                    [
                        f"{', '.join(unmatched)} matches nothing in the catalog; the hook runs "
                        "only on custom types of that name",
                        *typos,
                    ]
                ),
                title=f"Hook {name} created, with a warning",
                severity="warning",
            )
        self.dismiss(hook)
