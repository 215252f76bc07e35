"""The Events screen under Pilot: streaming, pause/resume, paging back, every filter form."""

from __future__ import annotations

from pathlib import Path

import pytest
from tui_helpers import screen_text, wait_for

from sloth_tui.engine.engine import Engine
from sloth_tui.tui.screens.events import EventsScreen
from sloth_tui.tui.widgets.event_table import EventTable
from sloth_tui.tui.widgets.filter_bar import FilterBar

DEPLOY = {"deploy_id": "d1", "service": "api", "error": "boom", "rollback_needed": False}


def events_screen(app) -> EventsScreen:
    screen = app.screen
    assert isinstance(screen, EventsScreen)
    return screen


async def test_streaming_rows_appear(engine: Engine, make_app) -> None:
    app = make_app(engine)
    async with app.run_test(size=(100, 30)) as pilot:
        table = app.screen.query_one(EventTable)
        last = None
        for i in range(40):
            last = await engine.dispatch(
                "deploy.failed", {**DEPLOY, "deploy_id": f"d{i}"}, source="demo"
            )
        await wait_for(pilot, lambda: table.painted_max_id == last.id)
        text = screen_text(app)
        assert "deploy.failed" in text and "deploy_id=d39" in text
        assert "LIVE" in text
        assert table.cursor_id == last.id  # following: the cursor rides the tail


async def test_history_rows_show_their_hook_outcomes(
    engine: Engine, make_app, tmp_path: Path
) -> None:
    ok = tmp_path / "ok.lua"
    ok.write_text("function on_event() end")
    bad = tmp_path / "bad.lua"
    bad.write_text('function on_event() error("no") end')
    await engine.add_hook("ok", ["deploy.*"], ok)
    await engine.add_hook("bad", ["deploy.failed"], bad)
    failed, _ = await engine.dispatch_and_run("deploy.failed", DEPLOY, source="demo")
    started, _ = await engine.dispatch_and_run("deploy.started", {"service": "api"})
    await engine.test_hook("bad", "deploy.started")  # a dry run: not an outcome
    calls: list[list[int]] = []
    real = engine.hook_outcomes

    async def counted(ids: list[int]) -> dict[int, list[tuple[str, str]]]:
        calls.append(ids)
        return await real(ids)

    engine.hook_outcomes = counted  # type: ignore[method-assign]
    app = make_app(engine)
    async with app.run_test(size=(100, 30)) as pilot:
        screen = events_screen(app)
        await wait_for(pilot, lambda: started.id in screen.feed.marks)
        await wait_for(pilot, lambda: screen.feed.marks[started.id].loaded)
        marks = screen.feed.marks
        assert (marks[failed.id].ok, marks[failed.id].bad) == (1, 1)
        assert (marks[started.id].ok, marks[started.id].bad) == (1, 0)
        await wait_for(pilot, lambda: "✓1 ✗1" in screen_text(app))
        assert len(calls) == 1  # every row on screen in one request


async def test_pause_resume_and_new_marker(engine: Engine, make_app) -> None:
    app = make_app(engine)
    async with app.run_test(size=(100, 30)) as pilot:
        screen = events_screen(app)
        for _ in range(40):
            await engine.dispatch("file.created", {"path": "/a"}, source="watcher:logs")
        await wait_for(pilot, lambda: len(screen.feed) == 41)
        await pilot.press("p")
        top = screen.table.scroll_y
        for _ in range(15):
            await engine.dispatch("file.deleted", {"path": "/b"}, source="demo")
        await wait_for(pilot, lambda: screen.feed.new_count == 15)
        await wait_for(pilot, lambda: "PAUSED  +15 new" in screen_text(app))  # drawn
        assert screen.table.scroll_y == top  # the view stayed where the operator left it
        assert len(screen.feed) == 56  # losing nothing
        await pilot.press("f")
        await wait_for(pilot, lambda: screen.table.scroll_y > top)
        assert screen.feed.following and screen.feed.new_count == 0
        await pilot.press("up")  # moving off the tail pauses too
        assert not screen.feed.following
        await pilot.press("end")
        assert screen.feed.following


async def test_scrolling_back_pages_older_rows_from_the_store(engine: Engine, make_app) -> None:
    for i in range(300):
        await engine.dispatch("task.started", {"task_name": f"t{i}"}, source="demo")
    app = make_app(engine, window=120)
    async with app.run_test(size=(100, 30)) as pilot:
        screen = events_screen(app)
        await wait_for(pilot, lambda: len(screen.feed) == 120 and screen.feed.has_older)
        await pilot.press("home")
        await wait_for(pilot, lambda: screen.feed.rows[0].id == 1)
        assert not screen.feed.has_older
        ids = [e.id for e in screen.feed.rows]
        assert ids == list(range(1, 302)), (ids[:3], ids[-3:], len(ids))


HOOK = """\
function on_event()
  if event.data.service == "bad" then return false end
  return true
end
"""


@pytest.fixture
async def mixed(engine: Engine, tmp_path: Path) -> Engine:
    """History with every kind of thing a filter can pick out, one hook that fails some."""
    path = tmp_path / "alert.lua"
    path.write_text(HOOK)
    await engine.add_hook("alert", ["deploy.*"], path)
    await engine.dispatch("deploy.failed", {**DEPLOY, "service": "bad"}, source="demo")
    await engine.dispatch("deploy.started", {"service": "api"}, source="demo")
    await engine.dispatch("security.login_failed", {"user": "root"}, source="watcher:auth")
    await engine.dispatch("file.created", {"path": "/etc/passwd"}, source="cli")
    await engine.wait_idle()
    return engine


FILTERS = [
    ("passwd", {"file.created"}),
    ("type:deploy.*", {"deploy.failed", "deploy.started", "deploy.completed"}),
    ("cat:security", {"security.login_failed", "security.breach"}),
    ("src:watcher", {"security.login_failed", "security.breach"}),
    ("status:failed", {"deploy.failed"}),
    ("hook:alert", {"deploy.failed", "deploy.started", "deploy.completed"}),
    ("service=bad", {"deploy.failed"}),
    ("type:deploy.* !service=bad", {"deploy.started", "deploy.completed"}),
]


@pytest.mark.parametrize(("text", "types"), FILTERS, ids=[f[0] for f in FILTERS])
async def test_each_filter_form_on_history_and_live(mixed: Engine, make_app, text, types) -> None:
    app = make_app(mixed)
    async with app.run_test(size=(100, 30)) as pilot:
        screen = events_screen(app)
        await pilot.press("slash")
        assert screen.filter_bar.input.has_focus
        screen.filter_bar.input.value = text  # as typed; typing itself is covered below
        await pilot.press("enter")
        await wait_for(pilot, lambda: not screen.feed.loading and screen.feed.flt.text == text)
        history = {e.type for e in screen.feed.rows}
        assert history and history <= types
        # live events are filtered the same way (some only once their hooks have run)
        await mixed.dispatch("deploy.completed", {"service": "api"}, source="demo")
        await mixed.dispatch("security.breach", {"user": "x"}, source="watcher:auth")
        last = await mixed.dispatch("backup.started", {"backup_id": "b"}, source="demo")
        await mixed.wait_idle()
        # The dashboard has them all, and the live ones that match show.
        live = types & {"deploy.completed", "security.breach"}
        await wait_for(
            pilot,
            lambda: (
                app.live.last_event_id >= last.id and live <= {e.type for e in screen.feed.rows}
            ),
        )
        await pilot.pause()
        rows = {e.type for e in screen.feed.rows}
        assert rows <= types and "backup.started" not in rows
        assert screen.feed.total == len(screen.feed.rows)
        assert "match" in str(screen.query_one("#filter-info").render())


async def test_malformed_filter_is_shown_inline(mixed: Engine, make_app) -> None:
    app = make_app(mixed)
    async with app.run_test(size=(100, 30)) as pilot:
        screen = events_screen(app)
        await wait_for(pilot, lambda: not screen.feed.loading)
        before = len(screen.feed)
        bar = screen.query_one(FilterBar)
        await pilot.press("slash")
        # The whole text at once: typed key by key, a loaded machine lets the debounce
        # apply a prefix ("s", "st"...), which is then the last good filter (CI saw 2 rows).
        bar.input.value = "status:bogus"
        await pilot.press("enter")
        await wait_for(pilot, lambda: "unknown status" in screen_text(app))
        assert bar.error and "unknown status" in bar.error
        assert len(screen.feed) == before  # the last good filter still applies
        await pilot.press("escape")  # leave the input; escape again clears nothing broken
        assert app.screen is screen


async def test_escape_clears_the_filter(mixed: Engine, make_app) -> None:
    app = make_app(mixed)
    async with app.run_test(size=(100, 30)) as pilot:
        screen = events_screen(app)
        screen.set_filter("cat:file")
        await wait_for(pilot, lambda: not screen.feed.loading and len(screen.feed) == 1)
        await pilot.press("escape")
        await wait_for(pilot, lambda: not screen.feed.loading and len(screen.feed) > 1)
        assert not screen.feed.flt
