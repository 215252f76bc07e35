"""Leaving the hook editor with unsaved changes, while the operator moves on.

Found by the monkey: escape, `d` (discard), then `1` at once. The dialog's answer runs
after the mode switch, and popping then popped the Events screen's own stack (its last
screen: ScreenStackError, the app gone)."""

from __future__ import annotations

from tui_helpers import wait_for

from sloth_tui.engine.engine import Engine
from sloth_tui.tui.screens.confirm import ConfirmScreen
from sloth_tui.tui.screens.events import EventsScreen
from sloth_tui.tui.screens.hook_editor import HookEditorScreen
from sloth_tui.tui.widgets.lua_editor import LuaEditor

CODE = "function on_event() return true end\n"


async def test_discarding_then_switching_screens_at_once_keeps_the_app(
    engine: Engine, make_app
) -> None:
    path = engine.settings.hooks_dir / "pay.lua"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(CODE)
    await engine.add_hook("pay", ["deploy.*"], path)
    app = make_app(engine)
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.press("2")
        app.push_screen(HookEditorScreen(await engine.get_hook("pay")))
        await wait_for(pilot, lambda: isinstance(app.screen, HookEditorScreen))
        editor = app.screen
        assert isinstance(editor, HookEditorScreen)
        await wait_for(pilot, lambda: bool(editor.query(LuaEditor)) and editor.editor.has_focus)
        await pilot.press("x")  # unsaved
        await wait_for(pilot, lambda: editor.dirty)
        await pilot.press("escape")
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmScreen))
        confirm = app.screen
        assert isinstance(confirm, ConfirmScreen)
        confirm.dismiss("discard")  # `d`: the answer runs once the dialog has closed ...
        await app.run_action("show('events')")  # ... and `1` comes first
        await pilot.pause()
        await pilot.pause()
        assert app.is_running and app._exception is None
        assert isinstance(app.screen, EventsScreen) and len(app.screen_stack) == 1
        assert path.read_text() == CODE  # discarded: the file is as it was
