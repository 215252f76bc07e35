"""The editor compiles the buffer a moment after typing stops, through the engine, and
marks a compile error in the title; an answer about text the buffer no longer holds is
dropped, so a late answer never replaces a newer one. Real engine, real Lua."""

from __future__ import annotations

import asyncio
from pathlib import Path

from tui_helpers import screen_text, wait_for

from sloth_tui.engine.engine import Engine
from sloth_tui.tui.screens.hook_editor import HookEditorScreen
from sloth_tui.tui.screens.hooks import HooksScreen
from sloth_tui.tui.widgets.lua_editor import LuaEditor

SIZE = (120, 36)
GOOD = "function on_event()\n  return true\nend\n"
BROKEN = "function on_event()\n  x = = 1\nend\n"


async def editor_of(pilot, app) -> LuaEditor:
    await pilot.press("2")
    hooks = app.screen
    assert isinstance(hooks, HooksScreen)
    await wait_for(pilot, lambda: hooks.current_name == "h")
    await pilot.press("e")
    await wait_for(pilot, lambda: isinstance(app.screen, HookEditorScreen))
    return app.screen.query_one(LuaEditor)


async def add_hook(engine: Engine, tmp_path: Path) -> Path:
    path = tmp_path / "h.lua"
    path.write_text(GOOD)
    await engine.add_hook("h", ["task.*"], path)
    return path


async def test_a_compile_error_is_marked_while_typing_and_cleared_when_fixed(
    engine: Engine, make_app, tmp_path: Path
) -> None:
    path = await add_hook(engine, tmp_path)
    app = make_app(engine)
    async with app.run_test(size=SIZE) as pilot:
        editor = await editor_of(pilot, app)
        editor.move_cursor((1, 0))
        await pilot.press(*"x = = 1", "enter")
        await wait_for(pilot, lambda: "✗ line 2:" in screen_text(app).splitlines()[0])
        assert editor.problem is not None and editor.problem[0] == 2
        assert path.read_text() == GOOD  # marks only: nothing is saved
        while editor.dirty:  # typing is undone in steps
            await pilot.press("ctrl+z")
        await wait_for(pilot, lambda: editor.problem is None)
        await wait_for(pilot, lambda: "✗" not in screen_text(app).splitlines()[0])


async def test_a_late_answer_about_older_text_is_dropped(
    engine: Engine, make_app, tmp_path: Path
) -> None:
    await add_hook(engine, tmp_path)
    app = make_app(engine)
    async with app.run_test(size=SIZE) as pilot:
        editor = await editor_of(pilot, app)
        await wait_for(pilot, lambda: editor.text == GOOD)
        editor.load_text(BROKEN)
        asked = asyncio.ensure_future(editor.live_check())  # about BROKEN
        await asyncio.sleep(0)  # it has read the buffer and waits for the engine
        editor.load_text(GOOD)  # the operator fixed it before the answer came
        await asked
        assert editor.problem is None


HOSTILE_CODE = [
    # Lua quotes the offending token in its message: markup, escapes and bells reach the
    # title as text. Each is broken Lua.
    'function on_event()\n  x = "[bold red]boom[/]\n end\n',
    "function on_event()\n  local \x1b[31m = 1\nend\n",
    "function on_event()\n  y = \x07\x07 + [link=http://x]z[/link]\nend\n",
    "function on_event()\n  " + "(" * 300 + "\nend\n",
    "function on_event()\n  s = 'ünï\u202e\u0000' .. \nend\n",
]


async def test_hostile_code_is_marked_as_plain_text(
    engine: Engine, make_app, tmp_path: Path
) -> None:
    """The live mark quotes Lua's message, which quotes the code: markup and control
    characters from the buffer show as text in the title and never reach the terminal."""
    await add_hook(engine, tmp_path)
    app = make_app(engine)
    async with app.run_test(size=SIZE) as pilot:
        editor = await editor_of(pilot, app)
        for code in HOSTILE_CODE:
            editor.load_text(code)
            await editor.live_check()
            assert editor.problem is not None, code
            await wait_for(pilot, lambda: "✗ " in screen_text(app).splitlines()[0])
            text = screen_text(app)
            if "[bold red]" in code:
                assert "[bold red]boom[/]" in text.splitlines()[0]  # shown, not applied
            assert "\x1b" not in text and "\x07" not in text and "\x00" not in text
            assert app.screen is not None  # still running: no markup error took it down
            editor.load_text(GOOD)
            await editor.live_check()
            await wait_for(pilot, lambda: "✗" not in screen_text(app).splitlines()[0])
