"""The Hooks list (2) and the Executions list (3): live tables and the keys that act on rows.

Also the hook templates themselves: every catalog type gets one that compiles and runs.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from tui_helpers import screen_text, wait_for

from sloth_tui import catalog
from sloth_tui.engine.engine import Engine
from sloth_tui.lua.runtime import check_syntax
from sloth_tui.model.errors import NotFound
from sloth_tui.model.records import Event, Hook
from sloth_tui.tui import hook_templates
from sloth_tui.tui.screens.confirm import ConfirmScreen
from sloth_tui.tui.screens.detail import DetailScreen
from sloth_tui.tui.screens.execution_detail import ExecutionDetailScreen
from sloth_tui.tui.screens.executions import ExecutionsScreen, RunFilter
from sloth_tui.tui.screens.hook_editor import HookEditorScreen
from sloth_tui.tui.screens.hooks import HooksScreen

SIZE = (120, 36)
GUARD = """\
function on_event()
  log.info("login by " .. tostring(event.data.user))
  if event.data.user == "root" then
    log.error("root login refused")
    return false
  end
  return true
end
"""


async def shows(pilot, app, *texts: str, timeout: float = 5.0) -> None:
    """Wait until the terminal shows every one of `texts` (redraws are asynchronous)."""
    try:
        await wait_for(pilot, lambda: all(t in screen_text(app) for t in texts), timeout)
    except AssertionError:
        missing = [t for t in texts if t not in screen_text(app)]
        raise AssertionError(f"not shown: {missing}\n{screen_text(app)}") from None


async def add(engine: Engine, tmp_path: Path, name: str, events: list[str], code: str) -> Path:
    path = tmp_path / f"{name}.lua"
    path.write_text(code)
    await engine.add_hook(name, events, path, description=f"{name} hook")
    return path


def test_every_catalog_type_gets_a_template_that_compiles() -> None:
    for type_name in catalog.type_names():
        code = hook_templates.render("x", [type_name])
        assert check_syntax(code) is None, type_name
        for spec in catalog.get(type_name).fields:
            assert hook_templates.lua_local(spec.name) in code
    assert hook_templates.template_type(["*.failed"]) == "task.failed"
    assert hook_templates.template_type(["billing.*"]) is None
    assert hook_templates.lua_local("agent.name") == "agent_name"
    assert hook_templates.lua_local("error") == "err"
    assert hook_templates.lua_local("end") == "end_"


@pytest.mark.parametrize("type_name", ["agent.registered", "workflow.failed", "custom"])
async def test_templates_run_on_their_sample(engine: Engine, type_name: str) -> None:
    hook = Hook("t", [type_name], "unused.lua")
    code = hook_templates.render("t", [type_name])
    ex = await engine.test_hook(hook, type_name, code=code)
    assert ex.status == "success", ex.error
    assert ex.logs and ex.logs[0].message.startswith(type_name)


async def test_hooks_list_enable_disable_delete(engine: Engine, make_app, tmp_path: Path) -> None:
    path = await add(engine, tmp_path, "guard", ["security.*"], GUARD)
    await add(engine, tmp_path, "audit", ["secret.*"], "return {execute = function() end}\n")
    await engine.dispatch("security.login_failed", {"user": "root"}, source="demo")
    await engine.dispatch("security.login_failed", {"user": "bob"}, source="demo")
    await engine.wait_idle()
    app = make_app(engine)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("2")
        screen = app.screen
        assert isinstance(screen, HooksScreen)
        await wait_for(pilot, lambda: len(screen.hooks) == 2)
        await shows(pilot, app, "runs", "fail", "ok", "avg", "p95", "last run")
        await shows(pilot, app, "guard", "security.*", "50%")

        screen.select("guard")
        await pilot.press("space")
        await wait_for(pilot, lambda: not screen.hooks[1].enabled)
        assert not (await engine.get_hook("guard")).enabled
        await shows(pilot, app, "off")
        assert screen.current_name == "guard"
        await pilot.press("space")
        await wait_for(pilot, lambda: screen.hooks[1].enabled)

        # a hook added elsewhere (CLI, socket) shows up live
        await add(engine, tmp_path, "late", ["deploy.*"], "return true\n")
        await wait_for(pilot, lambda: len(screen.hooks) == 3)

        screen.select("guard")
        await pilot.press("d")
        assert isinstance(app.screen, ConfirmScreen)
        await pilot.press("n")
        assert app.screen is screen and len(await engine.list_hooks()) == 3
        await pilot.press("d", "y")
        await wait_for(pilot, lambda: len(screen.hooks) == 2)
        with pytest.raises(NotFound):
            await engine.get_hook("guard")
        assert path.exists()  # the Lua file stays

        # x: this hook's runs on the Executions screen
        screen.select("audit")
        await pilot.press("x")
        runs = app.screen
        assert isinstance(runs, ExecutionsScreen) and runs.flt.hook == "audit"


async def test_executions_live_filters_detail_and_rerun(
    engine: Engine, make_app, tmp_path: Path
) -> None:
    path = await add(engine, tmp_path, "guard", ["security.*"], GUARD)
    app = make_app(engine)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("3")
        screen = app.screen
        assert isinstance(screen, ExecutionsScreen)
        root = await engine.dispatch("security.login_failed", {"user": "root"}, source="demo")
        await engine.dispatch("security.login_success", {"user": "bob"}, source="demo")
        await wait_for(pilot, lambda: len(screen.runs) == 2)
        await shows(pilot, app, "security.login_failed", "root login refused", "failed", "success")

        await pilot.press("s")  # status: bad
        await wait_for(pilot, lambda: len(screen.shown) == 1)
        assert screen.shown[0].event_id == root.id
        await pilot.press("s")  # status: success
        await wait_for(
            pilot, lambda: len(screen.shown) == 1 and screen.shown[0].status == "success"
        )
        await pilot.press("slash", *"hook:guard bob", "enter")
        await wait_for(pilot, lambda: screen.flt == RunFilter("guard", None, None, ("bob",)))
        await wait_for(pilot, lambda: len(screen.shown) == 1)
        await pilot.press("slash", *"status:nope", "enter")
        await wait_for(
            pilot, lambda: any("status: one of" in n.message for n in app._notifications)
        )
        await pilot.press("escape", "escape")  # leave the input, clear the filter
        await wait_for(pilot, lambda: len(screen.shown) == 2)

        # detail of the failed run: logs, its event, a re-run on the current code
        screen.table.move_cursor(row=[r.event_id for r in screen.shown].index(root.id))
        await pilot.press("enter")
        await wait_for(pilot, lambda: isinstance(app.screen, ExecutionDetailScreen))
        detail = app.screen
        await wait_for(pilot, lambda: detail.event is not None)
        await shows(pilot, app, "root login refused", "ERROR", "security.login_failed")
        path.write_text(GUARD.replace("root login refused", "root is fine now").replace(
            "return false", "return true"))  # fmt: skip
        await pilot.press("r")
        await wait_for(pilot, lambda: detail.rerun_result is not None)
        assert detail.rerun_result.status == "success" and detail.rerun_result.dry_run
        await shows(pilot, app, "root is fine now")
        await pilot.press("R")  # now for real, after a confirmation
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmScreen))
        await pilot.press("y")
        await wait_for(pilot, lambda: detail.rerun_was_real)
        assert detail.rerun_result.status == "success" and not detail.rerun_result.dry_run
        await shows(pilot, app, "(for real)")
        real = [r for r in await engine.executions_of(root.id) if not r.dry_run]
        assert [r.status for r in real] == ["failed", "success"]
        await pilot.press("o")
        await wait_for(pilot, lambda: isinstance(app.screen, DetailScreen))
        assert app.screen.event_id == root.id
        await pilot.press("escape", "escape")
        assert app.screen is screen

        # the dry run was stored: after a reload it is listed, marked dry
        screen.load()
        await wait_for(pilot, lambda: any(r.dry_run for r in screen.runs))
        await shows(pilot, app, " dry")

        # e opens the hook of the selected run in the editor
        await pilot.press("e")
        await wait_for(pilot, lambda: isinstance(app.screen, HookEditorScreen))
        await pilot.press("escape")
        assert app.screen is screen
        await pilot.press("escape")
        assert app.current_mode == "events"


async def test_executions_retry_a_hooks_failures(engine: Engine, make_app, tmp_path: Path) -> None:
    down = 'function on_event() error("down") end'
    path = await add(engine, tmp_path, "notify", ["task.*"], down)
    failed = [(await engine.dispatch_and_run("task.failed", {"n": n}))[0] for n in range(3)]
    app = make_app(engine)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("3")
        screen = app.screen
        assert isinstance(screen, ExecutionsScreen)
        await wait_for(pilot, lambda: len(screen.runs) == 3)
        await pilot.press("R")
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmScreen))
        await shows(pilot, app, "Retry notify on 3 events?", "Retry for real [y]")
        path.write_text('function on_event() log.info("sent") end\n')
        await pilot.press("y")
        await wait_for(
            pilot,
            lambda: any(
                n.message == "Retried notify on 3 events: 3 ok, 0 still failing"
                for n in app._notifications
            ),
            timeout=10,
        )
        for event in failed:
            runs = await engine.executions_of(event.id)
            assert [r.status for r in runs] == ["error", "success"]
        await wait_for(pilot, lambda: len(screen.runs) == 6)  # the retries arrived live
        await pilot.press("R")  # nothing left to retry
        await wait_for(
            pilot, lambda: any("No failed runs of notify" in n.message for n in app._notifications)
        )
        assert app.screen is screen


async def test_fired_from_the_panel_shows_in_executions(engine: Engine, make_app) -> None:
    """The tmux walk-through as a test: make a deploy.failed hook, fire one, find its logs."""
    app = make_app(engine)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("2", "n", *"on-fail", "enter", *"deploy.failed", "ctrl+s")
        await wait_for(pilot, lambda: isinstance(app.screen, HookEditorScreen))
        await pilot.press("ctrl+o", "ctrl+f")  # narrow: the panel replaces the editor
        await wait_for(pilot, lambda: app.screen.query_one("#wb-panel").display)
        await engine.wait_idle()
        await pilot.press("escape", "3")
        screen = app.screen
        assert isinstance(screen, ExecutionsScreen)
        await wait_for(
            pilot, lambda: any(r.hook == "on-fail" and not r.dry_run for r in screen.runs)
        )
        await shows(pilot, app, "on-fail", "deploy.failed")  # loaded from the store, typed
        await pilot.press("enter")
        await wait_for(pilot, lambda: isinstance(app.screen, ExecutionDetailScreen))
        await shows(pilot, app, "deploy_id=deploy-12345")
        assert isinstance(app.screen.execution.event_id, int)
        event: Event = await engine.get_event(app.screen.execution.event_id)
        assert (event.type, event.source) == ("deploy.failed", "dashboard")
