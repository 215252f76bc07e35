"""Issue 13: screens declared once (tui/screen_specs.py), bindings with ids, [keymap] in
config.toml rebinding them (tui/keymap.py), and a help built from the live bindings.

Real config.toml files in a tmp home, real engines on real SQLite files, keys through Pilot.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st
from textual.content import Content
from tui_helpers import screen_text, wait_for

from sloth_tui.config import load_settings
from sloth_tui.engine.engine import Engine
from sloth_tui.tui.app import SlothApp
from sloth_tui.tui.format import printable
from sloth_tui.tui.keymap import check_keymap, known_ids
from sloth_tui.tui.reach import Tab
from sloth_tui.tui.screen_specs import SCREENS
from sloth_tui.tui.screens.events import EventsScreen
from sloth_tui.tui.screens.help import HelpScreen
from sloth_tui.tui.screens.hooks import HooksScreen
from sloth_tui.tui.widgets.top_bar import tabs_markup

SIZE = (120, 60)

KEYMAP = """\
[keymap]
"screen.hooks" = "H"
"events.pause" = "P"
"app.help" = "f1"
"""


def home_with_config(tmp_path: Path, text: str, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.delenv("SLOTH_TUI_HOME", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))
    home = tmp_path / "home"
    home.mkdir()
    (home / "config.toml").write_text(text)
    return home


def here_rows(screen: HelpScreen) -> dict[str, str]:
    """key -> what, in the help's first section (the screen underneath)."""
    return {key: what for where, key, what in screen.rows if where.startswith("On this screen")}


async def test_keymap_in_config_rebinds_keys_and_the_help_and_tabs_show_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, make_app
) -> None:
    settings = load_settings(home_with_config(tmp_path, KEYMAP, monkeypatch))
    assert ("screen.hooks", "H") in settings.keymap
    engine = await Engine.open(settings, lifecycle=True)
    try:
        app = make_app(engine)
        async with app.run_test(size=SIZE) as pilot:
            events = app.screen
            assert isinstance(events, EventsScreen)
            assert " H Hooks " in screen_text(app).splitlines()[0]  # the tab's key
            await pilot.press("2")  # the old key is gone
            assert app.screen is events
            await pilot.press("H")
            assert isinstance(app.screen, HooksScreen)
            await pilot.press("1")
            assert app.screen is events
            assert events.feed.following
            await pilot.press("P")  # events.pause, rebound
            await wait_for(pilot, lambda: not events.feed.following)
            await pilot.press("p")  # no longer pauses (nor resumes)
            assert not events.feed.following
            await pilot.press("f1")  # app.help, rebound
            help_screen = app.screen
            assert isinstance(help_screen, HelpScreen)
            here = here_rows(help_screen)
            assert here["P"] == "pause / resume the stream"
            assert here["H"] == "the Hooks screen"
            assert "p" not in here and "2" not in here and "?" not in here
            anywhere = {k: w for where, k, w in help_screen.rows if where == "Anywhere"}
            assert anywhere["H"] == "the Hooks screen" and anywhere["f1"].startswith("every key")
            text = screen_text(app)
            assert "On this screen: Events" in text and "the Hooks screen" in text
    finally:
        await engine.close(reason="test finished")


async def test_an_unknown_keymap_id_is_one_line_naming_the_known_ids(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, make_app
) -> None:
    text = '[keymap]\n"evnts.pause" = "P"\n"screen.hooks" = "H"\n'
    settings = load_settings(home_with_config(tmp_path, text, monkeypatch))
    engine = await Engine.open(settings, lifecycle=True)
    try:
        app = make_app(engine)
        async with app.run_test(size=SIZE, notifications=True) as pilot:
            await wait_for(pilot, lambda: any("evnts" in n.message for n in app._notifications))
            (message,) = [n.message for n in app._notifications if "evnts" in n.message]
            assert "\n" not in message
            assert "no binding 'evnts.pause'; did you mean events.pause?" in message
            for binding_id in ("events.pause", "screen.hooks", "nav.down", "app.quit"):
                assert binding_id in message
            await pilot.press("H")  # the known entry still applies
            assert isinstance(app.screen, HooksScreen)
    finally:
        await engine.close(reason="test finished")


def test_check_keymap_keeps_known_ids_and_names_the_rest() -> None:
    known = known_ids(SlothApp)
    usable, problems = check_keymap((("nav.down", "n"), ("zzz", "x")), known)
    assert usable == {"nav.down": "n"}
    (line,) = problems
    assert line.startswith("config.toml [keymap]: no binding 'zzz'; known ids: ")
    assert line.endswith(", ".join(known))


def test_every_binding_has_an_id_and_every_screen_spec_a_key() -> None:
    """What [keymap] can name: every key the help lists (so every key can be rebound)."""
    from sloth_tui.tui.keymap import key_sections

    missing = [(where, b.key) for where, bs in key_sections(SlothApp) for b in bs if not b.id]
    assert missing == []
    ids = known_ids(SlothApp)
    # The table's and the filter box's own keys too (widgets/event_table.py, filter_bar.py)
    assert {"table.page_down", "table.follow", "filter.older"} <= set(ids)
    ids = known_ids(SlothApp)
    assert {f"screen.{spec.mode}" for spec in SCREENS} <= set(ids)
    assert list(SlothApp.MODES) == [spec.mode for spec in SCREENS]


async def test_help_lists_the_live_bindings_of_the_screen_underneath(
    engine: Engine, make_app
) -> None:
    """`/` filters on Events, not on Hooks: the first section says so for each."""
    app = make_app(engine)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("question_mark")
        assert isinstance(app.screen, HelpScreen)
        on_events = here_rows(app.screen)
        assert on_events["/"].startswith("filter the list")
        assert on_events["p"] == "pause / resume the stream"
        assert "space" not in on_events  # the Hooks screen's key
        await pilot.press("escape", "2", "question_mark")
        assert isinstance(app.screen, HelpScreen)
        on_hooks = here_rows(app.screen)
        assert on_hooks["space"] == "enable / disable the hook"
        assert "/" not in on_hooks and "p" not in on_hooks
        assert "On this screen: Hooks" in screen_text(app)


@given(st.text(min_size=1, max_size=12))
@settings(max_examples=500)
@example("[@=")  # a tag opened by the key, closed by the tab's own [/]
@example("\\[b]")
def test_tab_keys_from_the_keymap_are_text_not_markup(key: str) -> None:
    """A [keymap] key such as `[` or `[b]` is shown as typed in the top bar's tabs."""
    tabs = [Tab(key, "hooks", "Hooks"), Tab("1", "events", "Events")]
    content = Content.from_markup(tabs_markup(tabs, "events"))
    assert f" {printable(key)} Hooks " in content.plain


async def test_a_keymap_key_taken_from_another_binding_is_said_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, make_app
) -> None:
    """`F` fires; given to screen.hooks, it shows Hooks instead, and the app says so."""
    text = '[keymap]\n"screen.hooks" = "F"\n'
    settings = load_settings(home_with_config(tmp_path, text, monkeypatch))
    engine = await Engine.open(settings, lifecycle=True)
    try:
        app = make_app(engine)
        async with app.run_test(size=SIZE, notifications=True) as pilot:
            await pilot.press("F")
            assert isinstance(app.screen, HooksScreen)
            await pilot.press("1", "F", "1")
            told = [n.message for n in app._notifications if "gives" in n.message]
            assert told == ["config.toml [keymap]: F gives screen.hooks the key of app.fire"]
    finally:
        await engine.close(reason="test finished")


async def test_the_tables_own_keys_rebind_by_id(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, make_app
) -> None:
    """EventTable's keys have ids too: `table.follow` moves from `end` to another key."""
    text = '[keymap]\n"table.follow" = "ctrl+e"\n'
    settings = load_settings(home_with_config(tmp_path, text, monkeypatch))
    engine = await Engine.open(settings, lifecycle=True)
    try:
        for i in range(30):
            await engine.dispatch("custom", {"n": i})
        app = make_app(engine)
        async with app.run_test(size=SIZE) as pilot:
            events = app.screen
            assert isinstance(events, EventsScreen)
            await wait_for(pilot, lambda: len(events.feed) >= 30)
            await pilot.press("p")
            await wait_for(pilot, lambda: not events.feed.following)
            await pilot.press("end")  # the old key no longer follows
            await pilot.pause()
            assert not events.feed.following
            await pilot.press("ctrl+e")
            await wait_for(pilot, lambda: events.feed.following)
    finally:
        await engine.close(reason="test finished")
