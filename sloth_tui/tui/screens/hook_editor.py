"""The hook workbench: the hook's Lua file in an editor, a test-fire panel beside it.

The loop it serves: change a line, dry-run it on a sample or a real event, read the
logs and what it would have sent, replay it over the hook's last real events (f5: the
new outcomes beside the recorded ones, screens/replay.py), save (only code that
compiles reaches the disk), fire a real event and watch the real run arrive.

ctrl+t swaps the test-fire panel for the hook's settings (widgets/policy_panel.py: when,
mode, key, retry, throttle, dedupe, auto-disable), checked as typed; ctrl+s saves them
with the code, and an invalid one blocks the whole save (the code stays unsaved too, so
the two never disagree on disk and in the store). The file on disk stays the source of
truth: an edit made elsewhere is noticed and offered for reload, a deleted file is
written back by the next save, and nothing typed is dropped without asking.

Paths, patterns, compile errors and run errors are shown as plain text (`format.plain`,
`format.notify`): a file named `[/x].lua` is a name, not markup.
"""

from __future__ import annotations

import time
from pathlib import Path

from rich.style import Style
from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.widgets import Static

from sloth_tui.model.errors import NotFound, SlothError
from sloth_tui.model.policy import PolicyError
from sloth_tui.model.records import Execution, Hook
from sloth_tui.tui import format as fmt
from sloth_tui.tui import hook_templates
from sloth_tui.tui.live import Batch
from sloth_tui.tui.screens.base import LiveScreen
from sloth_tui.tui.screens.confirm import Choice, ConfirmScreen
from sloth_tui.tui.tones import tones_of
from sloth_tui.tui.widgets.execution_view import clip
from sloth_tui.tui.widgets.key_footer import KeyFooter
from sloth_tui.tui.widgets.lua_editor import LuaEditor, display_path
from sloth_tui.tui.widgets.policy_panel import PolicyPanel
from sloth_tui.tui.widgets.test_fire_panel import TestFirePanel

PROBLEM_WIDTH = 60  # characters of a live compile error in the title line


class HookEditorScreen(LiveScreen):
    CSS_PATH = "../workbench.tcss"
    HORIZONTAL_BREAKPOINTS = [(0, "-narrow"), (100, "-wide")]
    BINDINGS = [
        Binding("ctrl+s", "save", "Save", id="hook_editor.save",
                tooltip="save the code and its settings (only code that compiles and valid "
                        "settings; an error moves the cursor to its line)"),
        Binding("ctrl+r", "dry_run", "Dry run", id="hook_editor.dry_run",
                tooltip="dry run the buffer, saved or not (http and dispatch only recorded)"),
        Binding("ctrl+f", "fire", "Fire real", id="hook_editor.fire",
                tooltip="fire the event for real"),
        Binding("ctrl+g", "goto_error", "Error line", id="hook_editor.goto_error",
                tooltip="go to the error line"),
        Binding("ctrl+o", "other_pane", "Pane", id="hook_editor.other_pane",
                tooltip="switch pane (narrow terminals)"),
        Binding("f2", "sample", "Sample", id="hook_editor.sample", show=False,
                tooltip="sample data (repeat to cycle)"),
        Binding("f3", "recent", "Recent", id="hook_editor.recent",
                tooltip="a recent real event (repeat to cycle)"),
        Binding("f4", "open_real", "Real run", id="hook_editor.open_real", show=False,
                tooltip="open the hook's last real run"),
        Binding("f5", "replay", "Replay", id="hook_editor.replay",
                tooltip="replay the buffer in dry run over the hook's last real events, "
                        "beside what they did (config.toml replay_last, default 50)"),
        Binding("ctrl+t", "settings", "Settings", id="hook_editor.settings",
                tooltip="show the hook's settings (when, mode, retry, throttle...) or "
                        "the test-fire panel"),
        Binding("escape", "back", "Back", id="hook_editor.back",
                tooltip="back (asks when there are unsaved edits)"),
    ]  # fmt: skip

    def __init__(self, hook: Hook, *, run_test: bool = False, line: int | None = None) -> None:
        """`line`: a run's error line, where the cursor opens (ctrl+g returns to it)."""
        super().__init__()
        self.hook = hook
        self.run_test = run_test
        self.error_line: int | None = line
        self._asking = False  # one disk-change question at a time
        self._real: Execution | None = None  # a real run seen by ingest, shown on refresh

    def compose(self) -> ComposeResult:
        yield Static("", id="wb-title")
        yield Static("", id="wb-banner")
        with Horizontal(id="wb-body"):
            with Vertical(id="wb-editor-pane"):
                yield LuaEditor(Path(self.hook.file), id="wb-editor")
                yield Static("", id="wb-status")
            yield TestFirePanel(
                self.hook, lambda: self.editor.text, lambda: self.editor.dirty, id="wb-panel"
            )
            yield PolicyPanel(self.hook, id="wb-policy")
        yield KeyFooter()

    @property
    def editor(self) -> LuaEditor:
        return self.query_one(LuaEditor)

    @property
    def panel(self) -> TestFirePanel:
        return self.query_one(TestFirePanel)

    @property
    def policy_panel(self) -> PolicyPanel:
        return self.query_one(PolicyPanel)

    @property
    def dirty(self) -> bool:
        """The code or the settings differ from what is saved."""
        return self.editor.dirty or self.policy_panel.dirty

    @property
    def unsaved(self) -> bool:
        return self.is_mounted and self.dirty

    def on_mount(self) -> None:
        template = hook_templates.render(self.hook.name, self.hook.events)
        try:
            if not self.editor.open_file(fallback=template):
                self._banner(
                    f"⚠ {self.editor.path} does not exist: this is a template; "
                    "ctrl+s creates the file"
                )
        except (OSError, UnicodeError) as exc:
            # Unreadable (permissions, not UTF-8): look, never overwrite what we cannot show.
            self.editor.read_only = True
            self._banner(f"⚠ cannot edit {self.editor.path}: {exc}; the editor is read-only")
        self._title()
        self._status(
            "ctrl+s saves (after a syntax check) · ctrl+r dry-runs this buffer · "
            "f5 replays it over recent events · ctrl+t settings · ctrl+o switches pane",
            "dim",
        )
        self.editor.focus()
        if self.error_line is not None:
            self.editor.goto_line(self.error_line)
            self._status(
                f"The run failed at line {self.error_line} (ctrl+g returns here)",
                tones_of(self).bad,
            )
        if self.run_test:
            self.panel.action_run()

    # -- header, banner, status ------------------------------------------------------------

    def _title(self) -> None:
        warn = tones_of(self).warn
        t = Text()
        t.append(" hook ", style="dim")
        t.append(fmt.printable(self.hook.name), style="bold")
        if self.dirty:
            what = "" if self.editor.dirty else " settings"
            t.append(f" ●{what} modified", style=warn + Style(bold=True))
        t.append("  " + fmt.printable(", ".join(self.hook.events)))
        if self.hook.disabled_reason:
            t.append("  (disabled by the engine: ctrl+t says why)", style=warn)
        elif not self.hook.enabled:
            t.append("  (disabled)", style=warn)
        t.append(f"  {fmt.printable(display_path(self.editor.path))}", style="dim")
        if self.editor.problem is not None:
            line, message = self.editor.describe(self.editor.problem)
            where = f"line {line}: " if line else ""
            t.append(f"  ✗ {where}{clip(message, PROBLEM_WIDTH)}", style=tones_of(self).bad)
        self.query_one("#wb-title", Static).update(t)

    def _banner(self, text: str) -> None:
        banner = self.query_one("#wb-banner", Static)
        banner.update(fmt.plain(text, lines=True))
        banner.display = bool(text)

    def _status(self, text: str, style: str | Style = "") -> None:
        self.query_one("#wb-status", Static).update(fmt.plain(text, style=style, lines=True))

    def on_lua_editor_dirty_changed(self, message: LuaEditor.DirtyChanged) -> None:
        message.stop()
        self._title()

    def on_lua_editor_syntax_checked(self, message: LuaEditor.SyntaxChecked) -> None:
        message.stop()
        self._title()

    def on_policy_panel_edited(self, message: PolicyPanel.Edited) -> None:
        message.stop()
        self._title()

    # -- saving ------------------------------------------------------------------------------

    async def action_save(self) -> bool:
        if self.editor.read_only:
            fmt.notify(
                self, "This file could not be read, so it is not saved over.", severity="error"
            )
            return False
        try:
            policy = self.policy_panel.read_policy()
        except PolicyError as exc:
            # The settings are checked first: code and settings are saved together or not.
            self.policy_panel.check_all()
            self._show_settings(True)
            self._status(
                f"✗ not saved: {exc} (ctrl+t: the settings)", tones_of(self).bad + Style(bold=True)
            )
            fmt.notify(self, str(exc), title="Not saved", severity="error")
            return False
        result = await self.editor.save()
        if result.ok and policy != self.hook.policy:
            try:
                hook = await self.engine.update_hook(self.hook.name, policy=policy)
            except SlothError as exc:
                self._title()
                self._status(
                    f"✗ the code is saved, the settings are not: {exc}",
                    tones_of(self).bad + Style(bold=True),
                )
                fmt.notify(self, str(exc), title="Settings not saved", severity="error")
                return False
            self.hook = self.panel.hook = hook
            self.policy_panel.show_hook(hook, fields=True)
            self._title()
        if result.ok:
            self.error_line = None
            self._banner("")
            self._status(
                f"✓ saved {self.editor.path.name} at {time.strftime('%H:%M:%S')}; "
                "the next matching event runs it",
                tones_of(self).ok,
            )
            fmt.notify(self, f"Saved {self.editor.path.name}")
            return True
        self.error_line = result.line
        where = f"line {result.line}: " if result.line else ""
        self._status(
            f"✗ not saved, the file is unchanged: {where}{result.message}",
            tones_of(self).bad + Style(bold=True),
        )
        fmt.notify(self, f"{where}{result.message}", title="Not saved", severity="error")
        return False

    # -- test-fire -----------------------------------------------------------------------------

    def action_dry_run(self) -> None:
        self.panel.action_run()

    async def action_fire(self) -> None:
        await self.panel.action_fire()

    def action_sample(self) -> None:
        self.panel.action_sample()

    def action_recent(self) -> None:
        self.panel.action_recent()

    def on_test_fire_panel_ran(self, message: TestFirePanel.Ran) -> None:
        message.stop()
        ex = message.execution
        tones = tones_of(self)
        if self.has_class("-narrow") and not self.has_class("-show-panel"):
            # One pane at a time: show the result; ctrl+o (or ctrl+g) goes back to the code.
            self.set_class(True, "-show-panel")
            self.panel.query_one("#tf-run").focus()
        if ex.error_line:
            self.error_line = ex.error_line
            self._status(
                f"✗ dry run: line {ex.error_line}: {ex.error}  (ctrl+g jumps there)",
                tones.bad + Style(bold=True),
            )
        elif ex.error:
            self._status(f"✗ dry run: {ex.error}", tones.bad + Style(bold=True))
        else:
            self._status(f"dry run: {ex.status}", tones.run(ex.status))

    def action_goto_error(self) -> None:
        if self.error_line is None:
            fmt.notify(self, "No error line to jump to (save or dry-run first).")
            return
        self.set_class(False, "-show-panel")
        self.editor.goto_line(self.error_line)

    def action_other_pane(self) -> None:
        if self.editor.has_focus:
            self.set_class(True, "-show-panel")
            if self.has_class("-settings"):
                self.policy_panel.query_one("#pp-when").focus()
            else:
                self.panel.data_area.focus()
        else:
            self.set_class(False, "-show-panel")
            self.editor.focus()

    # -- settings and replay ---------------------------------------------------------------

    def action_settings(self) -> None:
        self._show_settings(not self.has_class("-settings"))

    def _show_settings(self, show: bool) -> None:
        """The right pane: the hook's settings, or the test-fire panel. Narrow terminals
        show the settings in place of the code (ctrl+t again, or ctrl+o, goes back)."""
        self.set_class(show, "-settings")
        if show:
            if self.has_class("-narrow"):
                self.set_class(True, "-show-panel")
            if not self.policy_panel.has_focus_within:
                self.policy_panel.query_one("#pp-when").focus()
        else:
            self.set_class(False, "-show-panel")
            self.editor.focus()

    def action_replay(self) -> None:
        from sloth_tui.tui.screens.replay import ReplayScreen

        name, code, last = self.hook.name, self.editor.text, self.engine.settings.replay_last
        engine = self.engine
        self.app.push_screen(
            ReplayScreen(name, last, lambda: engine.replay(name, code=code, last=last))
        )

    def action_open_real(self) -> None:
        from sloth_tui.tui.screens.execution_detail import ExecutionDetailScreen

        if self.panel.last_real is None:
            fmt.notify(self, "No real run of this hook seen yet (ctrl+f fires a real event).")
            return
        self.app.push_screen(ExecutionDetailScreen(self.panel.last_real))

    # -- live: real runs of this hook, the hook record changing -------------------------------

    def ingest(self, batch: Batch) -> None:
        for ex in batch.executions:
            if ex.hook == self.hook.name and not ex.dry_run:
                self._real = ex
        if batch.hooks_changed or batch.reconnected:
            self.reload_hook()

    def refresh_view(self) -> None:
        if self._real is not None:
            self.panel.show_real_run(self._real)
            self._real = None

    @work(exclusive=True, group="wb-hook")
    async def reload_hook(self) -> None:
        try:
            hook = await self.engine.get_hook(self.hook.name)
        except NotFound:
            self._banner(f"⚠ hook {self.hook.name} was deleted; the file is still saved by ctrl+s")
            return
        except SlothError:
            return
        self.hook = self.panel.hook = hook
        # New settings from elsewhere (hook update) fill the fields unless some are typed.
        panel = self.policy_panel
        panel.show_hook(hook, fields=not panel.dirty)
        self._title()

    # -- the file changing on disk -----------------------------------------------------------

    def on_lua_editor_disk_changed(self, message: LuaEditor.DiskChanged) -> None:
        message.stop()
        editor = self.editor
        if message.deleted:
            editor.acknowledge_disk(None)
            self._banner(
                f"⚠ {editor.path.name} was deleted on disk; your buffer is kept: "
                "ctrl+s writes it back"
            )
            return
        self._banner("")
        text = message.text or ""
        if not editor.dirty:
            editor.disk_text = text
            editor.replace_all(text)
            fmt.notify(self, f"{editor.path.name} changed on disk: reloaded (ctrl+z undoes)")
            return
        if self._asking:
            editor.acknowledge_disk(text)
            return
        self._asking = True

        def answer(choice: str | None) -> None:
            self._asking = False
            if choice == "reload":
                editor.disk_text = text
                editor.replace_all(text)
                fmt.notify(self, "Reloaded from disk; ctrl+z brings your edits back")
            else:
                editor.acknowledge_disk(text)
                self._status(
                    "kept your edits; ctrl+s overwrites the file's new content", tones_of(self).warn
                )

        self.app.push_screen(
            ConfirmScreen(
                "The file changed on disk",
                f"{editor.path} was changed by another program, and you have unsaved edits.",
                [
                    Choice("r", "Reload from disk", "reload", "warning"),
                    Choice("k", "Keep my edits", "keep", "primary"),
                ],
                default="keep",
            ),
            answer,
        )

    # -- leaving -------------------------------------------------------------------------------

    def action_back(self) -> None:
        if not self.dirty:
            self.app.pop_screen()
            return

        async def answer(choice: str | None) -> None:
            leave = (choice == "save" and await self.action_save()) or choice == "discard"
            # The answer runs after the dialog closes: by then the operator may have
            # switched to another screen (`1`), and popping would pop that one's stack
            # instead (its last screen: a crash). Leave only from on top.
            if leave and self.is_active:
                self.app.pop_screen()

        self.app.push_screen(self._unsaved_question("Leave the editor?"), answer)

    def _unsaved_question(self, title: str) -> ConfirmScreen:
        return ConfirmScreen(
            title,
            f"{self.editor.path.name} has unsaved changes"
            + ("." if self.editor.dirty else " (its settings)."),
            [Choice("s", "Save", "save", "primary"), Choice("d", "Discard", "discard", "error")],
            default="save",
        )

    def confirm_quit(self) -> None:
        """The app asks before quitting while this buffer is unsaved (see SlothApp.action_quit)."""

        async def answer(choice: str | None) -> None:
            if (choice == "save" and await self.action_save()) or choice == "discard":
                self.app.exit()

        self.app.push_screen(self._unsaved_question(f"Quit? Hook {self.hook.name}"), answer)
