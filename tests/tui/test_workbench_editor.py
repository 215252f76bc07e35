"""The hook workbench's editor and test-fire panel, driven by keys like an operator would.

Real engine, real files, real watchdog, and a real loopback HTTP server for the hook's
http.post (a dry run must not reach it; a real fire must).
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from textual.widgets import Input
from tui_helpers import screen_text, wait_for

from sloth_tui.engine.engine import Engine
from sloth_tui.tui.screens.confirm import ConfirmScreen
from sloth_tui.tui.screens.hook_editor import HookEditorScreen
from sloth_tui.tui.screens.hooks import HooksScreen
from sloth_tui.tui.screens.new_hook import NewHookScreen
from sloth_tui.tui.widgets.lua_editor import LuaEditor
from sloth_tui.tui.widgets.test_fire_panel import TestFirePanel

SIZE = (120, 36)
ALERT = """\
function on_event()
  log.info("deploy of " .. event.data.service .. " failed")
  log.warn("rollback needed: " .. tostring(event.data.rollback_needed))
  local resp, err = http.post("{url}/alert", {{service = event.data.service}})
  if not resp then log.error(err) return false end
  return true
end
"""


@pytest.fixture
def receiver() -> Iterator[tuple[str, list[dict]]]:
    """A loopback HTTP server that records the JSON bodies posted to it."""
    got: list[dict] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            size = int(self.headers.get("Content-Length", 0))
            got.append(json.loads(self.rfile.read(size) or b"{}"))
            self.send_response(200)
            self.end_headers()
            self.wfile.write(b"{}")

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", got
    finally:
        server.shutdown()
        server.server_close()


async def shows(pilot, app, *texts: str, timeout: float = 5.0) -> None:
    """Wait until the terminal shows every one of `texts` (redraws are asynchronous)."""
    await wait_for(pilot, lambda: all(t in screen_text(app) for t in texts), timeout)


async def open_editor(pilot, app, engine: Engine, name: str) -> HookEditorScreen:
    await pilot.press("2")
    hooks = app.screen
    assert isinstance(hooks, HooksScreen)
    await wait_for(pilot, lambda: any(h.name == name for h in hooks.hooks))
    hooks.select(name)
    await pilot.press("e")
    await wait_for(pilot, lambda: isinstance(app.screen, HookEditorScreen))
    return app.screen


async def test_create_edit_save_testfire_and_fire_for_real(
    engine: Engine, make_app, receiver
) -> None:
    url, posted = receiver
    app = make_app(engine)
    async with app.run_test(size=SIZE) as pilot:
        # -- create a hook from the deploy.failed template
        await pilot.press("2", "n")
        assert isinstance(app.screen, NewHookScreen)
        await pilot.press(*"deploy-alert", "enter", *"deploy.fai", "right", "enter")
        await pilot.press("ctrl+s")
        await wait_for(pilot, lambda: isinstance(app.screen, HookEditorScreen))
        editor_screen = app.screen
        editor = editor_screen.query_one(LuaEditor)
        hook = await engine.get_hook("deploy-alert")
        path = Path(hook.file)
        assert path.parent == engine.settings.hooks_dir and path.name == "deploy_alert.lua"
        template = path.read_text()
        for field in ("deploy_id", "service", "rollback_needed", "d.error"):
            assert field in template
        assert editor.text == template and not editor.dirty
        assert editor.language == "lua" and editor.show_line_numbers

        # -- edit: a syntax error on line 8 is refused, shown with its line, disk untouched
        editor.move_cursor((7, 0))
        await pilot.press(*"x = = 1", "enter")
        assert editor.dirty
        await shows(pilot, app, "● modified")
        await pilot.press("ctrl+s")
        await shows(pilot, app, "not saved", "line 8")
        assert editor.cursor_location[0] == 7
        assert path.read_text() == template and editor.dirty

        # -- ctrl+z takes the edit back; then a real change saves
        while editor.dirty:
            await pilot.press("ctrl+z")
        editor.replace_all(ALERT.format(url=url))
        await pilot.press("ctrl+s")
        assert path.read_text() == ALERT.format(url=url) and not editor.dirty
        await shows(pilot, app, "saved deploy_alert.lua")

        # -- dry run: logs by level and the http call it would have made, nothing sent
        panel = editor_screen.query_one(TestFirePanel)
        await pilot.press("ctrl+r")
        await wait_for(pilot, lambda: panel.last_dry is not None)
        await shows(pilot, app, "success", "dry run", "deploy of api-server failed", "WARN")
        await shows(pilot, app, "would POST", f"{url}/alert")
        assert posted == []

        # -- fire for real: the event runs the saved hook, which really posts
        await pilot.press("ctrl+f")
        await wait_for(pilot, lambda: panel.last_real is not None, timeout=10)
        assert panel.last_real.status == "success" and not panel.last_real.dry_run
        assert posted == [{"service": "api-server"}]
        await shows(pilot, app, "last real run")

        # -- f4 opens that run; escape backs out to the editor, then to the list
        await pilot.press("f4")
        await shows(pilot, app, "Execution", "deploy of api-server failed")
        await pilot.press("escape")
        assert app.screen is editor_screen
        await pilot.press("escape")
        assert isinstance(app.screen, HooksScreen)


async def test_dry_run_error_line_jump_timeout_and_recent_event(
    engine: Engine, make_app, tmp_path: Path
) -> None:
    path = tmp_path / "slow.lua"
    path.write_text("function on_event()\n  while true do end\nend\n")
    # The deadline alone ends the loop (the default budget of 100M instructions took
    # 0.30 s on a fast machine, a coin toss against the 0.3 s deadline).
    await engine.add_hook("slow", ["deploy.failed"], path, timeout=0.3, max_instructions=10**12)
    real = await engine.dispatch("deploy.failed", {"service": "billing"}, source="demo")
    await engine.wait_idle()
    app = make_app(engine)
    async with app.run_test(size=SIZE) as pilot:
        # `t` on the list opens the editor and test-fires at once: the deadline trips
        await pilot.press("2")
        hooks = app.screen
        await wait_for(pilot, lambda: len(hooks.hooks) == 1)
        await pilot.press("t")
        await wait_for(pilot, lambda: isinstance(app.screen, HookEditorScreen))
        screen = app.screen
        panel = screen.query_one(TestFirePanel)
        await wait_for(pilot, lambda: panel.last_dry is not None, timeout=10)
        assert panel.last_dry.status == "timeout"
        await shows(pilot, app, "timeout", "timed out")

        # a runtime error in the unsaved buffer: the line is shown, ctrl+g goes there
        editor = screen.query_one(LuaEditor)
        editor.replace_all("function on_event()\n  local x = nil\n  return x.y\nend\n")
        await pilot.press("ctrl+r")
        await wait_for(pilot, lambda: panel.last_dry.status == "error")
        assert panel.last_dry.error_line == 3 and path.read_text().startswith("function")
        editor.move_cursor((0, 0))
        await pilot.press("ctrl+g")
        assert editor.cursor_location[0] == 2 and editor.has_focus

        # bad JSON in the data: a message, no run
        panel.data_area.text = "{not json"
        before = panel.last_dry
        await pilot.press("ctrl+r")
        await shows(pilot, app, "data is not JSON")
        assert panel.last_dry is before

        # f3 takes a recent real event from the store; f2 goes back to the sample
        await pilot.press("f3")
        await wait_for(pilot, lambda: panel.picked is not None)
        assert panel.picked.id == real.id and '"billing"' in panel.data_area.text
        await shows(pilot, app, f"event {real.id} from the store")
        await pilot.press("f2")
        assert panel.picked is None and "api-server" in panel.data_area.text

        # a type the hook's patterns don't match is allowed, with a warning
        panel.type_input.value = "db.error"
        await shows(pilot, app, "don't match")
        assert '"database"' in panel.data_area.text  # the untouched sample followed the type


async def test_file_changed_or_deleted_on_disk_is_noticed(engine: Engine, make_app) -> None:
    path = engine.settings.hooks_dir / "watch.lua"
    path.parent.mkdir(parents=True)
    path.write_text("function on_event() return true end\n")
    await engine.add_hook("watch", ["file.*"], path)
    app = make_app(engine)
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_editor(pilot, app, engine, "watch")
        editor = screen.query_one(LuaEditor)
        # a clean buffer follows the file (vim saved it)
        path.write_text("-- from vim\nfunction on_event() return true end\n")
        await wait_for(pilot, lambda: editor.text.startswith("-- from vim"))
        assert not editor.dirty

        # with unsaved edits, the change is a question; "keep" keeps the buffer
        editor.move_cursor((0, 0))
        await pilot.press(*"-- mine", "enter")
        path.write_text("-- theirs\nfunction on_event() return false end\n")
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmScreen))
        await pilot.press("k")
        assert app.screen is screen and editor.text.startswith("-- mine") and editor.dirty

        # again, and "reload" takes theirs (undoable)
        path.write_text("-- theirs again\nfunction on_event() return false end\n")
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmScreen))
        await pilot.press("r")
        assert editor.text.startswith("-- theirs again") and not editor.dirty

        # deleted underneath: the buffer stays, ctrl+s writes it back
        path.unlink()
        await shows(pilot, app, "was deleted on disk")
        assert editor.dirty and editor.text.startswith("-- theirs again")
        await pilot.press("ctrl+s")
        assert path.read_text() == editor.text and not editor.dirty


async def test_a_hook_file_kept_in_a_repo_stays_linked_when_saved(
    engine: Engine, make_app, tmp_path: Path
) -> None:
    repo = tmp_path / "ops-repo"
    repo.mkdir()
    (repo / "page.lua").write_text("function on_event() return true end\n")
    link = engine.settings.hooks_dir / "page.lua"
    link.parent.mkdir(parents=True)
    link.symlink_to(repo / "page.lua")
    await engine.add_hook("page", ["deploy.failed"], link)
    app = make_app(engine)
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_editor(pilot, app, engine, "page")
        editor = screen.query_one(LuaEditor)
        editor.move_cursor((0, 0))
        await pilot.press(*"-- edited", "enter", "ctrl+s")
        await wait_for(pilot, lambda: not editor.dirty)
        await shows(pilot, app, "saved page.lua")
        assert app.screen is screen  # no "changed on disk" question about its own save
    assert link.is_symlink()
    assert (repo / "page.lua").read_text().startswith("-- edited\n")
    assert sorted(p.name for p in repo.iterdir()) == ["page.lua"]


async def test_leaving_or_quitting_with_unsaved_changes_asks(engine: Engine, make_app) -> None:
    path = engine.settings.hooks_dir / "keep.lua"
    path.parent.mkdir(parents=True)
    original = "function on_event() return true end\n"
    path.write_text(original)
    await engine.add_hook("keep", ["deploy.*"], path)
    app = make_app(engine)
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_editor(pilot, app, engine, "keep")
        editor = screen.query_one(LuaEditor)
        await pilot.press(*"-- edit", "enter")
        await pilot.press("escape")
        assert isinstance(app.screen, ConfirmScreen)
        await pilot.press("escape")  # cancel: still editing, edits intact
        assert app.screen is screen and editor.dirty

        await pilot.press("ctrl+q")  # quitting asks too
        assert isinstance(app.screen, ConfirmScreen)
        await shows(pilot, app, "Quit")
        await pilot.press("escape")
        assert app.screen is screen and app.is_running

        await pilot.press("escape")
        await pilot.press("d")  # discard and leave
        assert isinstance(app.screen, HooksScreen)
        assert path.read_text() == original

        # save-and-leave writes the buffer
        await pilot.press("e")
        await wait_for(pilot, lambda: isinstance(app.screen, HookEditorScreen))
        await pilot.press(*"-- saved", "enter", "escape", "s")
        assert isinstance(app.screen, HooksScreen)
        assert path.read_text() == "-- saved\n" + original


async def test_lua_highlighting_and_new_hook_form_checks(engine: Engine, make_app) -> None:
    other = engine.settings.hooks_dir / "taken.lua"
    other.parent.mkdir(parents=True)
    other.write_text("function on_event() return true end\n")
    await engine.add_hook("taken", ["deploy.*"], other)
    app = make_app(engine)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("2", "n")
        form = app.screen
        name = form.query_one("#nh-name", Input)
        events = form.query_one("#nh-events", Input)
        name.value = "taken"
        events.value = "deploy.failed"
        await pilot.press("ctrl+s")
        await shows(pilot, app, "already exists")
        name.value = "bad name!"
        await pilot.press("ctrl+s")
        await shows(pilot, app, "invalid hook name")
        name.value = "billing"
        events.value = "Billing Paid"
        await pilot.press("ctrl+s")
        await shows(pilot, app, "invalid event pattern")
        # a pattern matching nothing in the catalog: a warning, still created
        events.value = "billing.*"
        await shows(pilot, app, "matches nothing in the catalog")
        await pilot.press("ctrl+s")
        await wait_for(pilot, lambda: isinstance(app.screen, HookEditorScreen))
        assert any("matches nothing" in n.message for n in app._notifications)
        editor = app.screen.query_one(LuaEditor)
        assert "for key, value in pairs(d)" in editor.text  # the generic template
        wanted = {"keyword", "comment", "string", "function.call"}
        await wait_for(
            pilot,
            lambda: wanted <= {name for spans in editor._highlights.values() for *_, name in spans},
        )
        await pilot.press("escape")

        # an existing file, named relative to hooks/, is used as it is
        await pilot.press("n")
        form = app.screen
        form.query_one("#nh-name", Input).value = "reuse"
        form.query_one("#nh-events", Input).value = "deploy.started"
        form.query_one("#nh-file", Input).value = "taken.lua"
        await pilot.press("ctrl+s")
        await wait_for(pilot, lambda: isinstance(app.screen, HookEditorScreen))
        assert (await engine.get_hook("reuse")).file == str(other)
        assert other.read_text() == "function on_event() return true end\n"
        await pilot.press("escape", "n")
        form = app.screen
        form.query_one("#nh-name", Input).value = "ghost"
        form.query_one("#nh-events", Input).value = "deploy.started"
        form.query_one("#nh-file", Input).value = "nope.lua"
        await pilot.press("ctrl+s")
        await shows(pilot, app, "no such file")
        await pilot.press("escape")
        assert isinstance(app.screen, HooksScreen)


async def test_an_unreadable_file_opens_read_only(engine: Engine, make_app) -> None:
    path = engine.settings.hooks_dir / "latin1.lua"
    path.parent.mkdir(parents=True)
    path.write_bytes(b"-- caf\xe9\nfunction on_event() return true end\n")
    await engine.add_hook("latin1", ["deploy.*"], path)
    app = make_app(engine)
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_editor(pilot, app, engine, "latin1")
        assert screen.query_one(LuaEditor).read_only
        await shows(pilot, app, "cannot edit", "read-only")
        await pilot.press("ctrl+s")
        assert path.read_bytes().startswith(b"-- caf\xe9")
        await pilot.press("escape")
        assert isinstance(app.screen, HooksScreen)


@pytest.mark.parametrize("width", [100, 140])
async def test_the_test_fire_buttons_are_whole_at_any_width(
    engine: Engine, make_app, width: int
) -> None:
    """At 100 columns the pane is narrower than the four buttons: they go two by two, each
    label whole (one row cut "Fire real ^f" off, session 21); wide, they stay one row."""
    path = engine.settings.hooks_dir / "b.lua"
    path.parent.mkdir(parents=True)
    path.write_text("function on_event() return true end\n")
    await engine.add_hook("b", ["deploy.*"], path)
    app = make_app(engine)
    async with app.run_test(size=(width, 36)) as pilot:
        await open_editor(pilot, app, engine, "b")
        await shows(pilot, app, "Dry run ^r", "Sample f2", "Recent f3", "Fire real ^f")
        panel = app.screen.query_one(TestFirePanel)
        buttons = list(panel.query("#tf-buttons Button"))
        rows = {button.region.y for button in buttons}
        assert len(rows) == (2 if width == 100 else 1), rows
        for button in buttons:  # within the pane, and not cut
            assert panel.region.contains_region(button.region), (button, button.region)
