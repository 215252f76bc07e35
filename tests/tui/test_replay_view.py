"""Replay before save, in the hook editor (f5): the buffer in dry run over the hook's last
real events, the recorded outcome beside the new one.

Real engine on a tmp home, real hooks that ran for real on real events, the real App.
"""

from __future__ import annotations

import asyncio
import re
from pathlib import Path

import pytest
from hostile import SAMPLES, hostile_text
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from textual.widgets import DataTable, Input
from tui_helpers import screen_text, wait_for

from sloth_tui.config import ConfigError, Settings, load_settings
from sloth_tui.engine.engine import Engine
from sloth_tui.model.policy import Throttle
from sloth_tui.remote.client import RemoteEngine
from sloth_tui.tui.screens.hook_editor import HookEditorScreen
from sloth_tui.tui.screens.replay import EMPTY, ReplayScreen
from sloth_tui.tui.widgets.lua_editor import LuaEditor

SIZE = (100, 30)
WAIT = 20.0  # seconds: a bound, not a delay (dry runs on a busy machine)
LOGS = """\
function on_event()
  log.info("got " .. tostring(event.data.msg))
  return true
end
"""
# The edit under test: breaks on msg "b", and logs one more line on every event.
EDITED = """\
function on_event()
  log.info("got " .. tostring(event.data.msg))
  if event.data.msg == "b" then error("boom") end
  log.info("new " .. tostring(event.data.msg))
  return true
end
"""
FORBIDDEN_RE = re.compile("[\x00-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069\ud800-\udfff]")


async def make_hook(engine: Engine, code: str, events: list[str], name: str = "rp") -> Path:
    path = engine.settings.hooks_dir / f"{name}.lua"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(code)
    await engine.add_hook(name, events, path)
    return path


async def open_editor(pilot, app, engine: Engine, name: str = "rp") -> HookEditorScreen:
    app.push_screen(HookEditorScreen(await engine.get_hook(name)))
    await wait_for(pilot, lambda: isinstance(app.screen, HookEditorScreen))
    screen = app.screen
    assert isinstance(screen, HookEditorScreen)
    await wait_for(pilot, lambda: bool(screen.query(LuaEditor)) and screen.editor.has_focus)
    return screen


async def replay(pilot, app) -> ReplayScreen:
    await pilot.press("f5")
    await wait_for(pilot, lambda: isinstance(app.screen, ReplayScreen))
    view = app.screen
    assert isinstance(view, ReplayScreen)
    await wait_for(pilot, lambda: view.report is not None or view.error is not None, WAIT)
    await pilot.pause()
    return view


async def test_worse_rows_first_marked_beside_the_same_ones(engine: Engine, make_app) -> None:
    path = await make_hook(engine, LOGS, ["deploy.*"])
    for msg in ("a", "b", "c"):
        await engine.dispatch("deploy.started", {"msg": msg}, source="test")
    await engine.dispatch("health.ok", {"msg": "other"}, source="test")  # not the hook's
    await engine.wait_idle()
    app = make_app(engine)
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_editor(pilot, app, engine)
        screen.query_one(LuaEditor).replace_all(EDITED)
        view = await replay(pilot, app)
        assert view.error is None and view.report is not None
        assert view.report.matched == 3 and view.report.worse == 1
        table = view.query_one(DataTable)
        assert table.row_count == 3
        first = [str(c) for c in table.get_row_at(0)]
        assert first[0] == "✗" and first[2] == "success" and first[3] == "error"
        # The other two changed (one more log line) but are not worse.
        for i in (1, 2):
            row = [str(c) for c in table.get_row_at(i)]
            assert row[0] == "≠" and row[2] == row[3] == "success" and row[4] == "+1"
        text = screen_text(app)
        assert "3 events of hook rp: 0 same, 3 changed, 1 worse" in text
        assert "rp.lua:3: boom" in text  # the worse row's details: the new error
        table.move_cursor(row=1)
        await wait_for(pilot, lambda: "+ info: new " in screen_text(app))  # the added line
        # Nothing was saved or stored: the file is as it was, no new execution.
        assert path.read_text() == LOGS
        runs = await engine.executions(hook="rp")
        assert len(runs) == 3 and not any(r.dry_run for r in runs)

        # The unchanged code replays as "same" everywhere.
        await pilot.press("escape")
        await wait_for(pilot, lambda: app.screen is screen)
        screen.query_one(LuaEditor).replace_all(LOGS)
        view = await replay(pilot, app)
        assert view.report is not None and view.report.same == 3
        assert [str(view.query_one(DataTable).get_row_at(i)[0]) for i in range(3)] == ["="] * 3


async def test_no_matching_event_is_a_clear_empty_state(engine: Engine, make_app) -> None:
    await make_hook(engine, LOGS, ["backup.*"])
    await engine.dispatch("deploy.started", {"msg": "a"}, source="test")
    await engine.wait_idle()
    app = make_app(engine)
    async with app.run_test(size=SIZE) as pilot:
        await open_editor(pilot, app, engine)
        view = await replay(pilot, app)
        assert view.report is not None and view.report.matched == 0
        await wait_for(pilot, lambda: EMPTY[:60] in screen_text(app))
        assert not view.query_one(DataTable).display


async def test_running_indicator_then_escape_closes(engine: Engine, make_app) -> None:
    """The replay runs in a worker: the view says it is running, the UI answers keys."""
    await make_hook(engine, LOGS, ["deploy.*"])
    await engine.dispatch("deploy.started", {"msg": "a"}, source="test")
    await engine.wait_idle()
    gate = asyncio.Event()

    async def slow_replay():
        await gate.wait()
        return await engine.replay("rp", code=EDITED, last=5)

    app = make_app(engine)
    async with app.run_test(size=SIZE) as pilot:
        app.push_screen(ReplayScreen("rp", 5, slow_replay))
        await wait_for(pilot, lambda: isinstance(app.screen, ReplayScreen))
        view = app.screen
        await wait_for(pilot, lambda: "replaying hook rp over up to 5 events" in screen_text(app))
        assert view.running and not view.query_one(DataTable).display
        gate.set()
        await wait_for(pilot, lambda: not view.running, WAIT)
        assert view.report is not None and view.report.matched == 1
        await pilot.press("escape")
        await wait_for(pilot, lambda: not isinstance(app.screen, ReplayScreen))

        # Closed while running: the answer is dropped, nothing breaks.
        gate.clear()
        app.push_screen(ReplayScreen("rp", 5, slow_replay))
        await wait_for(pilot, lambda: isinstance(app.screen, ReplayScreen))
        # its worker waits at the gate
        await wait_for(pilot, lambda: "replaying hook rp over up to 5 events" in screen_text(app))
        running = [w for w in app.workers if w.group == "replay" and not w.is_finished]
        assert running
        await pilot.press("escape")
        await wait_for(pilot, lambda: not isinstance(app.screen, ReplayScreen))
        gate.set()
        # Its worker ends (cancelled, or answering a closed view), and what it posted runs.
        await wait_for(pilot, lambda: all(w.is_finished for w in running), WAIT)
        await pilot.pause()
        assert not isinstance(app.screen, ReplayScreen)


async def test_a_missing_hook_is_one_line(engine: Engine, make_app) -> None:
    app = make_app(engine)
    async with app.run_test(size=SIZE) as pilot:
        app.push_screen(ReplayScreen("gone", 5, lambda: engine.replay("gone", last=5)))
        await wait_for(pilot, lambda: isinstance(app.screen, ReplayScreen))
        view = app.screen
        await wait_for(pilot, lambda: view.error is not None, WAIT)
        assert "\n" not in view.error
        await wait_for(pilot, lambda: "✗ replay failed:" in screen_text(app))


@settings(
    max_examples=3,  # each example starts a dashboard and runs real hooks
    phases=[Phase.explicit, Phase.generate],  # no shrinking: an example costs seconds
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(msgs=st.lists(hostile_text(60), min_size=1, max_size=4))
async def test_hostile_log_lines_reach_the_table_as_text(
    engine: Engine, make_app, msgs: list[str]
) -> None:
    """Markup, control characters, odd unicode, huge: logged by the recorded run and by the
    edit, they reach the table and the details as text, and no control byte is drawn."""
    msgs = [m for m in msgs if not any("\ud800" <= c <= "\udfff" for c in m)]  # unstorable
    msgs += [SAMPLES[-1][:5000], SAMPLES[-2][:5000]]
    for hook in await engine.list_hooks():
        await engine.delete_hook(hook.name)
    await make_hook(engine, LOGS, ["deploy.*"])
    for msg in msgs:
        await engine.dispatch("deploy.started", {"msg": msg}, source="test")
    await engine.wait_idle()
    app = make_app(engine)
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_editor(pilot, app, engine)
        screen.query_one(LuaEditor).replace_all(EDITED)
        view = await replay(pilot, app)
        assert view.report is not None and view.report.matched >= len(msgs)
        table = view.query_one(DataTable)
        for i in range(table.row_count):
            table.move_cursor(row=i)
            await pilot.pause()
            rendered = screen_text(app)
            assert not FORBIDDEN_RE.search(rendered.replace("\n", " "))


# -- attached: the settings and the replay go over the daemon's socket ---------------------


async def test_attached_editor_saves_settings_and_replays_in_the_daemon(
    settings: Settings, attached: RemoteEngine, make_app
) -> None:
    """A real `serve` subprocess: the policy travels update_hook, the replay the REPLAY op."""
    path = settings.home / "hooks" / "rp.lua"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(LOGS)
    await attached.add_hook("rp", ["deploy.*"], path)
    for msg in ("a", "b"):
        await attached.dispatch("deploy.started", {"msg": msg}, source="cli")
    await wait_until(lambda: _ran(attached, 2))  # the real runs, recorded by the daemon
    app = make_app(attached)
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_editor(pilot, app, attached)
        await pilot.press("ctrl+t")
        box = screen.query_one("#pp-throttle", Input)
        await wait_for(pilot, lambda: box.has_focus or screen.has_class("-settings"))
        box.focus()
        await pilot.press(*"3/1m")
        await pilot.press("ctrl+s")
        await wait_for(pilot, lambda: not screen.dirty, WAIT)
        assert (await attached.get_hook("rp")).policy.throttle == Throttle(3, 60.0)

        screen.query_one(LuaEditor).replace_all(EDITED)
        view = await replay(pilot, app)
        assert view.error is None and view.report is not None
        assert view.report.matched == 2 and view.report.worse == 1
        assert str(view.query_one(DataTable).get_row_at(0)[0]) == "✗"
        assert path.read_text() == LOGS  # replayed, not saved


async def _ran(engine: RemoteEngine, n: int) -> bool:
    return len(await engine.executions(hook="rp")) >= n


async def wait_until(check, timeout: float = WAIT) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not await check():
        assert asyncio.get_running_loop().time() < deadline, "condition not met in time"
        await asyncio.sleep(0.05)


async def test_replay_last_comes_from_config_toml(tmp_path: Path, make_app) -> None:
    """`replay_last` in config.toml: how many events f5 replays over (default 50)."""
    home = tmp_path / "cfg"
    home.mkdir()
    (home / "config.toml").write_text("replay_last = 2\n")
    assert load_settings(tmp_path / "other").replay_last == 50
    engine = await Engine.open(load_settings(home), lifecycle=True)
    try:
        await make_hook(engine, LOGS, ["deploy.*"])
        for msg in ("a", "b", "c"):
            await engine.dispatch("deploy.started", {"msg": msg}, source="test")
        await engine.wait_idle()
        app = make_app(engine)
        async with app.run_test(size=SIZE) as pilot:
            await open_editor(pilot, app, engine)
            view = await replay(pilot, app)
            assert view.report is not None and view.report.last == 2
            assert view.report.matched == 2 and view.query_one(DataTable).row_count == 2
    finally:
        await engine.close(reason="test finished")
    (home / "config.toml").write_text("replay_last = 0\n")
    with pytest.raises(ConfigError, match="replay_last = 0 is out of range"):
        load_settings(home)
