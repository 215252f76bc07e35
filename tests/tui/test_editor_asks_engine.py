"""The attached editor asks the daemon, not its own process, to compile Lua: the save
check and the new-hook form's `event_types` both go through the EngineAPI.

Real `sloth-tui serve` subprocess; this process's Lua entry points are made to fail, so a
check made here instead of in the daemon fails the test."""

from __future__ import annotations

import sys

import pytest
from textual.widgets import Input
from tui_helpers import screen_text, wait_for

from sloth_tui.config import Settings
from sloth_tui.remote.client import RemoteEngine
from sloth_tui.tui.screens.hook_editor import HookEditorScreen
from sloth_tui.tui.screens.hooks import HooksScreen
from sloth_tui.tui.screens.new_hook import NewHookScreen
from sloth_tui.tui.widgets.lua_editor import LuaEditor

SIZE = (120, 30)
GOOD = 'function on_event() log.info("seen") return true end\n'
DECLARES = 'return { event_types = { "deploy.failed" }, on_event = function() end }\n'


@pytest.fixture
def no_local_lua(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every name `check_syntax` / `declared_event_types` in this process's sloth_tui
    modules (where an import may have bound it) refuses to answer."""

    def here(*args: object, **kwargs: object) -> None:
        raise AssertionError("Lua was compiled in the dashboard's process")

    for name, module in list(sys.modules.items()):
        if name.startswith("sloth_tui"):
            for fn in ("check_syntax", "declared_event_types"):
                if callable(getattr(module, fn, None)):
                    monkeypatch.setattr(module, fn, here)


async def shows(pilot, app, *texts: str) -> None:
    await wait_for(pilot, lambda: all(t in screen_text(app) for t in texts), timeout=10)


async def test_the_attached_editor_checks_lua_in_the_daemon(
    settings: Settings, attached: RemoteEngine, make_app, no_local_lua: None
) -> None:
    path = settings.home / "hooks" / "seen.lua"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(GOOD)
    await attached.add_hook("seen", ["task.*"], path)
    app = make_app(attached)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("2")
        hooks = app.screen
        assert isinstance(hooks, HooksScreen)
        await wait_for(pilot, lambda: hooks.current_name == "seen")
        await pilot.press("e")
        await wait_for(pilot, lambda: isinstance(app.screen, HookEditorScreen))
        editor = app.screen.query_one(LuaEditor)
        editor.move_cursor((1, 0))
        await pilot.press(*"x = = 1", "enter")
        await pilot.press("ctrl+s")
        await shows(pilot, app, "not saved", "line 2")
        assert path.read_text() == GOOD and editor.dirty
        editor.replace_all(GOOD.replace("seen", "seen again"))
        await pilot.press("ctrl+s")
        await wait_for(pilot, lambda: not editor.dirty)
        assert path.read_text() == GOOD.replace("seen", "seen again")


async def test_the_attached_new_hook_form_reads_event_types_in_the_daemon(
    settings: Settings, attached: RemoteEngine, make_app, no_local_lua: None
) -> None:
    path = settings.home / "hooks" / "declares.lua"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(DECLARES)
    app = make_app(attached)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("2")
        await wait_for(pilot, lambda: isinstance(app.screen, HooksScreen))
        await pilot.press("n")
        await wait_for(pilot, lambda: isinstance(app.screen, NewHookScreen))
        form = app.screen
        form.query_one("#nh-name", Input).value = "declared"
        form.query_one("#nh-file", Input).value = str(path)
        await pilot.press("ctrl+s")
        await wait_for(pilot, lambda: not isinstance(app.screen, NewHookScreen))
        hook = await attached.get_hook("declared")
        assert hook.events == ["deploy.failed"]
