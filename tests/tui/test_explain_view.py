"""The Explain view (x on the event detail): each hook's checks and outcome, as text."""

from __future__ import annotations

import json
from pathlib import Path

from tui_helpers import screen_text, wait_for

from sloth_tui.config import Settings
from sloth_tui.engine.engine import Engine
from sloth_tui.engine.store import Store
from sloth_tui.model.policy import HookPolicy
from sloth_tui.model.records import Hook
from sloth_tui.tui.screens.detail import DetailScreen
from sloth_tui.tui.screens.explain import ExplainScreen

# Markup and terminal control where the view shows outside text: a hook's name (one a
# store of an older version or an import could hold), its condition, a key value, an error.
EVIL_NAME = "[bold red]evil[/]\x1b[2J"
EVIL_VALUE = "[/srv]\x1b]0;pwned\x07\u202e"


async def test_explain_view_shows_each_hook_and_survives_hostile_text(
    settings: Settings, make_app, tmp_path: Path
) -> None:
    ok = tmp_path / "ok.lua"
    ok.write_text("function on_event() end")
    boom = tmp_path / "boom.lua"
    boom.write_text('function on_event() error("[/x] \\27[31m" .. event.data.service) end')
    store = await Store.open(settings.db_path)  # a hostile name, as only a store can hold it
    await store.save_hook(Hook(EVIL_NAME, ["deploy.*"], str(boom), created=0.0))
    await store.close()
    engine = await Engine.open(settings, lifecycle=True)
    try:
        await engine.add_hook("keyed", ["deploy.*"], ok)
        await engine.update_hook(
            "keyed", policy=HookPolicy(when="!service=[red]x[/red]", key="data.service")
        )
        await engine.add_hook("tasks", ["task.*"], ok)
        event = await engine.dispatch("deploy.failed", {"service": EVIL_VALUE}, wait=True)
        assert await engine.wait_idle()
        app = make_app(engine)
        async with app.run_test(size=(140, 60)) as pilot:
            app.open_detail(event.id)
            await wait_for(pilot, lambda: isinstance(app.screen, DetailScreen) and app.screen.event)
            await pilot.press("x")
            await wait_for(
                pilot, lambda: isinstance(app.screen, ExplainScreen) and app.screen.verdicts
            )
            view = app.screen
            assert isinstance(view, ExplainScreen)
            await wait_for(pilot, lambda: "tasks  would not run" in screen_text(app))  # drawn
            text = screen_text(app)
            assert f"Explain event {event.id}  deploy.failed" in text
            assert "3 hooks: 2 would run, 1 would not" in text
            # The name and the values as written, their controls as pictures, no markup.
            assert "[bold red]evil[/]␛[2J  would run" in text
            assert "holds: !service=[red]x[/red]" in text
            assert "(this event: [/srv]␛]0;pwned␇" in text
            assert "ran: error" in text and "[/x] ␛[31m[/srv]" in text
            assert "tasks  would not run" in text
            assert "✗ pattern   none of task.* matches deploy.failed" in text
            assert "not run: no pattern of the hook matches deploy.failed" in text
            assert "\x1b" not in text and "\u202e" not in text

            await pilot.press("y")  # the verdicts, as JSON
            copied = json.loads(app.clipboard)
            assert [v["hook"] for v in copied] == [EVIL_NAME, "keyed", "tasks"]
            assert copied[1]["key_value"] == EVIL_VALUE

            await pilot.press("escape")
            await wait_for(pilot, lambda: isinstance(app.screen, DetailScreen))
    finally:
        await engine.close(reason="test finished")


async def test_explain_of_an_event_gone_says_so(engine: Engine, make_app) -> None:
    app = make_app(engine)
    async with app.run_test(size=(100, 30)) as pilot:
        app.push_screen(ExplainScreen(4242))
        await wait_for(pilot, lambda: "no event with id 4242" in screen_text(app))
        assert isinstance(app.screen, ExplainScreen) and app.screen.verdicts is None


async def test_explain_with_no_hooks_is_a_clear_empty_state(engine: Engine, make_app) -> None:
    event = await engine.dispatch("custom.thing", {})
    app = make_app(engine)
    async with app.run_test(size=(100, 30)) as pilot:
        app.push_screen(ExplainScreen(event.id))
        await wait_for(pilot, lambda: "No hooks: add one on the Hooks screen" in screen_text(app))
