"""Issue 12: one navigation grammar on every list and detail view (sloth_tui/tui/nav.py).

Real engines on real SQLite files in a tmp home; keys go through Pilot as a user types.
"""

from __future__ import annotations

import json
import re
from dataclasses import replace
from pathlib import Path

from textual.widgets import Input
from tui_helpers import screen_text, wait_for

from sloth_tui.config import Settings
from sloth_tui.engine.engine import Engine
from sloth_tui.tui.app import SlothApp
from sloth_tui.tui.nav import NAV_BINDINGS, key_text, what_text
from sloth_tui.tui.screens.catalog import CatalogScreen
from sloth_tui.tui.screens.detail import DetailScreen
from sloth_tui.tui.screens.events import EventsScreen
from sloth_tui.tui.screens.execution_detail import ExecutionDetailScreen
from sloth_tui.tui.screens.executions import ExecutionsScreen
from sloth_tui.tui.screens.help import HelpScreen, key_sections, key_table_markdown
from sloth_tui.tui.screens.hook_editor import HookEditorScreen
from sloth_tui.tui.screens.hooks import HooksScreen
from sloth_tui.tui.ui_state import load_state, state_path, update_state
from sloth_tui.tui.widgets.event_preview import EventPreview
from sloth_tui.tui.widgets.event_table import layout_for

SIZE = (120, 36)


async def add_hooks(engine: Engine, tmp_path: Path, n: int) -> list[str]:
    names = []
    for i in range(n):
        path = tmp_path / f"h{i}.lua"
        path.write_text("function on_event() return true end\n")
        name = f"hook-{i}"
        await engine.add_hook(name, ["deploy.*"], path, description=f"hook number {i}")
        names.append(name)
    return names


async def test_hooks_space_toggles_the_highlighted_hook_after_vim_moves(
    engine: Engine, make_app, tmp_path: Path
) -> None:
    """The bug of issue 12: `G`, `k` x5, space disabled the first hook, not the highlighted."""
    await add_hooks(engine, tmp_path, 8)
    app = make_app(engine)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("2")
        screen = app.screen
        assert isinstance(screen, HooksScreen)
        await wait_for(pilot, lambda: len(screen.hooks) == 8 and screen.table.row_count == 8)
        order = [h.name for h in screen.hooks]
        await pilot.press("G")
        assert screen.current_name == order[7]
        await pilot.press("j", "j")  # already at the bottom: stays
        assert screen.current_name == order[7]
        await pilot.press(*["k"] * 5)
        assert screen.current_name == order[2]
        await pilot.press("space")
        hooks = lambda: {h.name: h for h in screen.hooks}  # noqa: E731
        await wait_for(pilot, lambda: not hooks()[order[2]].enabled)
        assert not (await engine.get_hook(order[2])).enabled
        assert (await engine.get_hook(order[0])).enabled  # the first hook is untouched
        await wait_for(pilot, lambda: screen.current_name == order[2])  # the cursor stays
        await pilot.press("g")
        assert screen.current_name == order[0]
        await pilot.press("ctrl+d")
        assert screen.current_name != order[0]
        await pilot.press("ctrl+u")
        assert screen.current_name == order[0]
        # d names the highlighted hook in its confirmation
        await pilot.press("j", "j", "d")
        await wait_for(pilot, lambda: f"Delete hook {order[2]}?" in screen_text(app))
        await pilot.press("n")


FAILING = """\
function on_event()
  log.info("checking " .. tostring(event.data.service))
  log.warn("second line of the log")
  error("webhook down")
end
"""
CHAIN = """\
function on_event()
  log.info("rolling back " .. event.data.service)
  event.dispatch("deploy.rollback", {service = event.data.service})
  return true
end
"""


async def test_every_list_walks_and_copies_with_the_same_keys(
    engine: Engine, make_app, tmp_path: Path
) -> None:
    await add_hooks(engine, tmp_path, 3)
    for i in range(6):
        await engine.dispatch("deploy.started", {"service": f"s{i}"}, source="demo")
    await engine.wait_idle()
    app = make_app(engine)
    async with app.run_test(size=SIZE) as pilot:
        # Events: k moves up from the tail, y copies that event
        events = app.screen
        assert isinstance(events, EventsScreen)
        await wait_for(pilot, lambda: len(events.feed) >= 6)
        await pilot.press("G", "k", "y")
        copied = json.loads(app.clipboard)
        assert copied["id"] == events.feed.rows[-2].id
        await pilot.press("g")
        assert events.table.cursor_index == 0

        # Executions: j/k/g/G on the table, y copies the highlighted run
        await pilot.press("3")
        runs = app.screen
        assert isinstance(runs, ExecutionsScreen)
        await wait_for(pilot, lambda: runs.table.row_count >= 10)
        await pilot.press("G")
        assert runs.table.cursor_row == runs.table.row_count - 1
        await pilot.press("k", "y")
        copied = json.loads(app.clipboard)
        assert copied["hook"] == runs.shown[runs.table.cursor_row].hook
        assert copied["event_id"] == runs.shown[runs.table.cursor_row].event_id
        await pilot.press("g", "j")
        assert runs.table.cursor_row == 1
        await pilot.press("slash")
        assert isinstance(app.focused, Input)
        await pilot.press("escape")

        # Catalog: j moves in the tree, y copies the highlighted type
        await pilot.press("5")
        cat = app.screen
        assert isinstance(cat, CatalogScreen)
        first = cat.selected
        await pilot.press("j", "j", "y")
        await wait_for(pilot, lambda: cat.selected is not first)
        assert json.loads(app.clipboard)["type"] == cat.selected.type
        await pilot.press("slash")  # no filter here: the key does nothing
        assert not isinstance(app.focused, Input)

        # Stats: y copies the figures
        await pilot.press("4", "y")
        assert json.loads(app.clipboard)["categories"]["deploy"] >= 6


async def test_help_lists_exactly_the_shared_bindings(engine: Engine, make_app) -> None:
    app = make_app(engine)
    async with app.run_test(size=(120, 80)) as pilot:
        await pilot.press("question_mark")
        assert isinstance(app.screen, HelpScreen)
        help_screen = app.screen
        shown = [
            (k, w) for where, k, w in help_screen.rows if where == "Every list and detail view"
        ]
        assert shown == [(key_text(b), what_text(b)) for b in NAV_BINDINGS]
        text = screen_text(app)
        for binding in NAV_BINDINGS:
            assert f"{key_text(binding)} " in text and what_text(binding)[:30] in text, binding
        sections = dict(key_sections(type(app)))
        assert [b.id for b in sections["Every list and detail view"]] == [
            b.id for b in NAV_BINDINGS
        ]
        # the screens repeat none of the shared keys in their own sections
        shared = {b.key for b in NAV_BINDINGS}
        for where, bindings in sections.items():
            if where != "Every list and detail view":
                assert not shared & {b.key for b in bindings if where != "Anywhere"}, where
        await pilot.press("escape")
        assert not isinstance(app.screen, HelpScreen)


def test_readme_key_table_matches_the_bindings() -> None:
    """The README's key table is the bindings' own (help.key_table_markdown)."""
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    table = key_table_markdown(SlothApp)
    assert table in readme, "README.md must hold help.key_table_markdown(SlothApp):\n" + table


async def test_event_detail_reaches_its_runs_children_and_parent(
    engine: Engine, make_app, tmp_path: Path
) -> None:
    bad = tmp_path / "notify.lua"
    bad.write_text(FAILING)
    await engine.add_hook("notify", ["deploy.failed"], bad)
    chain = tmp_path / "rollback.lua"
    chain.write_text(CHAIN)
    await engine.add_hook("rollback", ["deploy.failed"], chain)
    parent = await engine.dispatch("deploy.failed", {"service": "api"}, source="demo")
    await engine.wait_idle()
    child = (await engine.child_events(parent.id))[0]
    app = make_app(engine)
    async with app.run_test(size=SIZE) as pilot:
        app.open_detail(parent.id)
        await wait_for(pilot, lambda: isinstance(app.screen, DetailScreen) and app.screen.event)
        detail = app.screen
        await wait_for(pilot, lambda: detail.runs_list.option_count == 2)
        assert app.focused is detail.runs_list  # the runs have the cursor: no Tab needed
        # Enter on the highlighted run opens its execution with the full logs
        want = detail.executions[detail.runs_list.highlighted or 0]
        await pilot.press("enter")
        await wait_for(pilot, lambda: isinstance(app.screen, ExecutionDetailScreen))
        xd = app.screen
        assert xd.execution.hook == want.hook
        await pilot.press("escape")
        assert app.screen is detail
        # j past the last run reaches the child; Enter opens it; u comes back to the parent
        await pilot.press("j", "j")
        assert app.focused is detail.kids_list
        await pilot.press("k")
        assert app.focused is detail.runs_list
        await pilot.press("j", "enter")
        await wait_for(
            pilot,
            lambda: (
                isinstance(app.screen, DetailScreen)
                and app.screen.event is not None
                and app.screen.event.id == child.id
            ),
        )
        await pilot.press("u")
        await wait_for(
            pilot,
            lambda: (
                isinstance(app.screen, DetailScreen)
                and app.screen.event is not None
                and app.screen.event.id == parent.id
            ),
        )
        top = app.screen
        await wait_for(pilot, lambda: top.runs_list.option_count == 2)
        # the failed run: its logs whole, o back to its event, e into the editor at the line
        index = next(i for i, ex in enumerate(top.executions) if ex.hook == "notify")
        top.runs_list.highlighted = index
        await pilot.press("enter")
        await wait_for(pilot, lambda: isinstance(app.screen, ExecutionDetailScreen))
        xd = app.screen
        await wait_for(
            pilot,
            lambda: (
                "checking api" in screen_text(app) and "second line of the log" in screen_text(app)
            ),
        )
        await pilot.press("e")
        await wait_for(pilot, lambda: isinstance(app.screen, HookEditorScreen))
        editor = app.screen
        assert xd.execution.error_line == 4
        await wait_for(pilot, lambda: editor.editor.cursor_location[0] == 3)
        assert editor.error_line == 4
        await pilot.press("escape")
        await wait_for(pilot, lambda: app.screen is xd)
        await pilot.press("o")
        await wait_for(
            pilot,
            lambda: (
                isinstance(app.screen, DetailScreen)
                and app.screen.event is not None
                and app.screen.event.id == parent.id
                and app.screen is not top
            ),
        )


async def test_fired_event_is_selected_and_a_new_filter_opens_at_the_newest_match(
    engine: Engine, make_app
) -> None:
    for i in range(80):
        kind = "deploy.started" if i % 2 else "health.check_passed"
        await engine.dispatch(kind, {"service": f"s{i}"}, source="demo")
    await engine.wait_idle()
    app = make_app(engine)
    async with app.run_test(size=(100, 30)) as pilot:
        events = app.screen
        assert isinstance(events, EventsScreen)
        await wait_for(pilot, lambda: len(events.feed) >= 80)
        before = len(events.feed)
        await pilot.press("g")  # paused, far from the tail
        assert events.table.cursor_index == 0
        # F: the event fired is selected, even with the view paused at the top
        await pilot.press("F")
        await pilot.press(*"deploy.fai", "right", "enter")
        fire = app.screen
        await wait_for(pilot, lambda: getattr(fire, "form_type", None) == "deploy.failed")
        await pilot.press("ctrl+s")
        await wait_for(pilot, lambda: app.screen is events)
        [fired] = await engine.query_events(None, limit=1)
        assert fired.type == "deploy.failed"
        await wait_for(pilot, lambda: events.table.cursor_id == fired.id)
        assert not events.feed.following  # held there while more events arrive
        await engine.dispatch("health.check_passed", {"service": "later"}, source="demo")
        await wait_for(pilot, lambda: len(events.feed) == before + 2)
        assert events.table.cursor_id == fired.id
        assert "deploy.failed" in screen_text(app)  # and on screen

        # paused, a new filter opens at its newest match, not its oldest
        await pilot.press("g")
        assert events.set_filter("type:deploy.started")

        def at_newest_match() -> bool:
            ev = events.table.cursor_event
            return not events.feed.loading and ev is not None and ev.data.get("service") == "s79"

        await wait_for(pilot, at_newest_match)
        assert not events.feed.following
        assert "s79" in screen_text(app)


async def test_executions_follow_the_newest_and_stay_put_when_moved_away(
    engine: Engine, make_app, tmp_path: Path
) -> None:
    await add_hooks(engine, tmp_path, 1)
    for i in range(50):  # more than a screen: the view can scroll
        await engine.dispatch("deploy.started", {"service": f"s{i}"}, source="demo")
    await engine.wait_idle()
    app = make_app(engine)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("3")
        runs = app.screen
        assert isinstance(runs, ExecutionsScreen)
        await wait_for(pilot, lambda: runs.table.row_count == 50)
        newest = await engine.dispatch("deploy.started", {"service": "new"}, source="demo")
        await wait_for(pilot, lambda: runs.table.row_count == 51)
        assert runs.current().event_id == newest.id  # following: on the newest run
        await pilot.press("j", "j", "j")
        held = runs.current_key()
        line = runs.table.cursor_row - round(runs.table.scroll_y)
        for i in range(3):
            await engine.dispatch("deploy.started", {"service": f"late{i}"}, source="demo")
        await wait_for(pilot, lambda: runs.table.row_count == 54)
        assert runs.current_key() == held  # stays on its run...
        assert runs.table.cursor_row - round(runs.table.scroll_y) == line  # ...and its line
        await pilot.press("g")  # back on the newest: following again
        last = await engine.dispatch("deploy.started", {"service": "last"}, source="demo")
        await wait_for(pilot, lambda: runs.table.row_count == 55)
        assert runs.current().event_id == last.id


async def test_split_view_follows_the_cursor_and_is_remembered_with_the_theme(
    settings, make_app, tmp_path: Path
) -> None:
    engine = await Engine.open(settings, lifecycle=True)
    try:
        for i in range(5):
            await engine.dispatch("deploy.started", {"service": f"svc-{i}"}, source="demo")
        await engine.wait_idle()
        app = make_app(engine)
        async with app.run_test(size=SIZE) as pilot:
            events = app.screen
            assert isinstance(events, EventsScreen)
            preview = events.query_one(EventPreview)
            assert not preview.display
            await wait_for(pilot, lambda: len(events.feed) >= 5)
            await pilot.press("v")
            assert preview.display
            await wait_for(pilot, lambda: '"service": "svc-4"' in screen_text(app))
            await pilot.press("k")  # the preview follows the cursor
            await wait_for(pilot, lambda: '"service": "svc-3"' in screen_text(app))
            assert '"service": "svc-4"' not in screen_text(app)
            assert "Split" in screen_text(app)  # the footer names the key
            app.theme = "sloth-light"
            await pilot.pause()
        state = load_state(settings.home)
        assert state.split is True and state.theme == "sloth-light"
        assert oct(state_path(settings.home).stat().st_mode & 0o777) == "0o600"

        app = make_app(engine)  # the next run opens as this one was left
        async with app.run_test(size=SIZE) as pilot:
            events = app.screen
            await wait_for(pilot, lambda: events.query_one(EventPreview).display)
            assert app.theme == "sloth-light"
            await pilot.press("v")
            assert not events.query_one(EventPreview).display
        assert load_state(settings.home).split is False
    finally:
        await engine.close(reason="test finished")


async def test_the_last_filter_comes_back_on_the_next_run(settings, make_app) -> None:
    update_state(settings.home, last_filter="type:deploy.*")
    engine = await Engine.open(settings, lifecycle=True)
    try:
        await engine.dispatch("deploy.started", {"service": "api"}, source="demo")
        await engine.dispatch("health.check_passed", {"service": "api"}, source="demo")
        await engine.wait_idle()
        app = make_app(engine)
        async with app.run_test(size=SIZE) as pilot:
            events = app.screen
            assert isinstance(events, EventsScreen)
            await wait_for(pilot, lambda: not events.feed.loading and len(events.feed) == 1)
            assert events.feed.rows[0].type == "deploy.started"
            assert events.filter_bar.input.value == "type:deploy.*"
    finally:
        await engine.close(reason="test finished")


async def test_the_empty_store_hint_shows_a_hostile_socket_path_as_text(
    settings: Settings, tmp_path: Path, make_app
) -> None:
    """The hint quotes the socket's path, which the operator (or a config file) chose: it
    reaches the screen as text, markup and terminal control included."""
    odd = tmp_path / "[b]x[/b]\x1b[2J\x1b]0;pwned\x07\u202eevil[@click=app.quit]q[/]"
    engine = await Engine.open(replace(settings, socket=odd / "sloth.sock"), lifecycle=True)
    try:
        app = make_app(engine)
        async with app.run_test(size=(160, 30)) as pilot:
            await wait_for(pilot, lambda: "To get some:" in screen_text(app))
            await wait_for(pilot, lambda: "[b]x[/b]" in screen_text(app))
            text = screen_text(app)
            assert "[@click=app.quit]q[/]" in text  # markup is text, not a link or style
            assert not set("\x1b\x07\u202e") & set(text)  # escaped, not sent to the terminal
            assert app.is_running
    finally:
        await engine.close(reason="test finished")


async def test_an_empty_store_says_what_to_do_next(engine: Engine, make_app) -> None:
    app = make_app(engine)
    async with app.run_test(size=SIZE) as pilot:
        events = app.screen
        assert isinstance(events, EventsScreen)
        await wait_for(pilot, lambda: "To get some:" in screen_text(app))
        text = screen_text(app)
        assert "system.startup" in text  # the engine's own row is still there
        assert "Only the engine's own events so far" in text  # not "no events" above it
        # The filter bar counts its one row in the singular.
        await wait_for(pilot, lambda: re.search(r"\b1 event\b", screen_text(app)) is not None)
        assert "1 events" not in screen_text(app)
        assert "F " in text and "sloth-tui demo" in text and "sloth.sock" in text
        await engine.dispatch("deploy.started", {"service": "api"}, source="demo")
        await wait_for(pilot, lambda: "To get some:" not in screen_text(app))
        # Executions with no runs: what to do next, and with a filter, how to clear it
        await pilot.press("3")
        await wait_for(pilot, lambda: "no hook has run yet" in screen_text(app))
        assert app.screen.set_filter("hook:nothing")
        await wait_for(pilot, lambda: "no runs match" in screen_text(app))


async def test_hooks_and_executions_sort_by_any_column(
    engine: Engine, make_app, tmp_path: Path
) -> None:
    names = await add_hooks(engine, tmp_path, 3)
    for i in range(4):  # hook-0 runs least recently added... every hook runs on each event
        await engine.dispatch("deploy.started", {"service": f"s{i}"}, source="demo")
    await engine.wait_idle()
    app = make_app(engine)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("2")
        hooks = app.screen
        assert isinstance(hooks, HooksScreen)
        await wait_for(pilot, lambda: len(hooks.hooks) == 3 and hooks.table.row_count == 3)
        await pilot.press("S")  # by name, ascending
        assert [h.name for h in hooks.hooks] == sorted(names)
        assert "name ▲" in screen_text(app)
        await pilot.click("#hooks-table", offset=(2, 0))  # the name header again: reversed
        await wait_for(pilot, lambda: [h.name for h in hooks.hooks] == sorted(names)[::-1])
        assert "sorted by name, descending" in screen_text(app)
        # the highlighted hook stays highlighted through a re-sort, and toggles
        await pilot.press("g")
        first = hooks.current_name
        await pilot.press("S", "space")  # by "on"
        await wait_for(pilot, lambda: not (hooks_by_name(hooks)[first].enabled))

        await pilot.press("3")
        runs = app.screen
        assert isinstance(runs, ExecutionsScreen)
        await wait_for(pilot, lambda: runs.table.row_count == 12)
        await pilot.press("S", "S")  # time, then hook
        assert [ex.hook for ex in runs.shown] == sorted(ex.hook for ex in runs.shown)
        assert "hook ▲" in screen_text(app)
        await pilot.press("S", "S", "S", "S")  # type, status, took, then by event
        event_ids = [ex.event_id for ex in runs.shown]
        assert event_ids == sorted(event_ids)

        await pilot.press("4", "S", "S")  # Stats: the hooks panel, by success rate
        await wait_for(pilot, lambda: "Hooks by ok ▲" in screen_text(app))


def hooks_by_name(screen: HooksScreen) -> dict:
    return {h.name: h for h in screen.hooks}


def test_narrow_event_rows_keep_the_id_and_status_and_drop_by_priority() -> None:
    for width in (40, 60, 80, 99, 100, 120):
        lay = layout_for(width)
        assert lay.id == 7 and lay.marks == 7, width  # ids like 1234567 are never cut
        used = sum(w + 1 for w in (lay.time, lay.id, lay.type, lay.source, lay.marks) if w)
        assert used + lay.summary <= width, width
    assert not layout_for(99).source and layout_for(100).source  # the source goes first
    assert layout_for(79).time == 8 and layout_for(80).time == 12  # then the milliseconds
    assert not layout_for(55).time  # then the time


async def test_narrow_lists_drop_columns_by_priority_and_keep_the_status(
    engine: Engine, make_app, tmp_path: Path
) -> None:
    await add_hooks(engine, tmp_path, 2)
    await engine.dispatch("deploy.started", {"service": "api"}, source="demo")
    await engine.wait_idle()
    app = make_app(engine)
    async with app.run_test(size=(60, 20)) as pilot:
        await pilot.press("3")
        runs = app.screen
        assert isinstance(runs, ExecutionsScreen)
        await wait_for(pilot, lambda: runs.table.row_count == 2)
        labels = [c.label.plain for c in runs.table.ordered_columns]
        assert labels == ["time", "hook", "status", "event", "detail"]
        await wait_for(pilot, lambda: "success" in screen_text(app))  # the status is seen
        await pilot.press("2")
        hooks = app.screen
        await wait_for(pilot, lambda: hooks.table.row_count == 2)
        labels = [c.label.plain for c in hooks.table.ordered_columns]
        assert labels == ["name", "on", "runs", "fail", "ok", "last run"]
        await pilot.resize_terminal(120, 36)  # wider: every column comes back
        await wait_for(pilot, lambda: len(hooks.table.ordered_columns) == 10)
