"""The filter bar under Pilot: errors whole, stale rows marked, incomplete terms, time
terms, history on up/down (persisted), saved filters from config.toml (palette, @NAME)."""

from __future__ import annotations

import json
import stat
from functools import partial
from typing import Any

import pytest
from hostile import hostile_text
from hypothesis import given, settings
from hypothesis import strategies as st
from rich.style import Style
from textual.command import CommandPalette
from tui_helpers import screen_text, wait_for

from sloth_tui.config import Settings, load_settings
from sloth_tui.engine.engine import Engine
from sloth_tui.tui.screens.events import EventsScreen
from sloth_tui.tui.ui_state import STATE_FILE, load_state
from sloth_tui.tui.widgets.event_table import EventTable
from sloth_tui.tui.widgets.filter_bar import FilterBar
from sloth_tui.tui.widgets.filter_marks import marked, spans


def events_screen(app: Any) -> EventsScreen:
    screen = app.screen
    assert isinstance(screen, EventsScreen)
    return screen


@pytest.fixture
async def four(engine: Engine) -> Engine:
    await engine.dispatch("deploy.failed", {"service": "api"}, source="demo")
    await engine.dispatch("deploy.started", {"service": "api"}, source="demo")
    await engine.dispatch("file.created", {"path": "/etc/passwd"}, source="cli")
    await engine.dispatch("security.breach", {"user": "eve"}, source="cli")
    await engine.wait_idle()
    return engine


def _loaded(screen: EventsScreen, text: str) -> bool:
    return not screen.feed.loading and screen.feed.flt.text == text


async def _type(pilot: Any, text: str, enter: bool = True) -> None:
    """The text as typed at once (key by key, a loaded machine applies every prefix)."""
    bar = pilot.app.screen.query_one(FilterBar)
    bar.input.focus()
    bar.input.value = text
    bar.input.cursor_position = len(text)
    if enter:
        await pilot.press("enter")
    else:
        await pilot.pause()  # Input.Changed reaches the bar, which starts its debounce
        await wait_for(pilot, lambda: bar._timer is None)  # the debounce has run


async def test_a_long_error_shows_whole(four: Engine, make_app: Any) -> None:
    app = make_app(four)
    async with app.run_test(size=(60, 24)) as pilot:
        screen = events_screen(app)
        await wait_for(pilot, lambda: not screen.feed.loading)
        await _type(pilot, "typ:deploy")
        bar = screen.query_one(FilterBar)
        assert bar.error and bar.error.endswith("since or until)")
        error = bar.error
        await wait_for(pilot, lambda: error in " ".join(screen_text(app).split()))  # wrapped


async def test_an_invalid_filter_marks_the_rows_stale(four: Engine, make_app: Any) -> None:
    app = make_app(four)
    async with app.run_test(size=(100, 30)) as pilot:
        screen = events_screen(app)
        table = screen.query_one(EventTable)
        screen.set_filter("cat:file")
        await wait_for(pilot, lambda: _loaded(screen, "cat:file") and len(screen.feed) == 1)
        assert not table.stale and "STALE" not in screen_text(app)
        await _type(pilot, "cat:file status:bogus")
        assert table.stale and table.has_class("-stale")
        await wait_for(pilot, lambda: "rows filtered by 'cat:file'" in screen_text(app))
        assert "STALE: the filter above does not parse" in screen_text(app)
        assert [e.type for e in screen.feed.rows] == ["file.created"]  # unchanged, marked
        # Back to the very text that applied: nothing new to load, the mark goes.
        await _type(pilot, "cat:file")
        await wait_for(pilot, lambda: not table.stale)
        assert "STALE" not in screen_text(app)


async def test_an_incomplete_term_is_flagged_not_dropped(four: Engine, make_app: Any) -> None:
    app = make_app(four)
    async with app.run_test(size=(100, 30)) as pilot:
        screen = events_screen(app)
        await wait_for(pilot, lambda: not screen.feed.loading and len(screen.feed) >= 4)
        before = len(screen.feed)
        await _type(pilot, "src:cli type:", enter=False)
        bar = screen.query_one(FilterBar)
        assert bar.incomplete and bar.error and "incomplete term 'type:'" in bar.error
        assert bar.has_class("-incomplete")
        assert screen.query_one(EventTable).stale
        await wait_for(pilot, lambda: "incomplete term 'type:'" in screen_text(app))
        assert not screen.feed.flt and len(screen.feed) == before  # src:cli not applied alone
        await _type(pilot, "src:cli type:file.*")
        await wait_for(pilot, lambda: _loaded(screen, "src:cli type:file.*"))
        assert [e.type for e in screen.feed.rows] == ["file.created"]
        assert not bar.incomplete and not screen.query_one(EventTable).stale


async def test_time_terms_filter_history_and_live(four: Engine, make_app: Any) -> None:
    app = make_app(four)
    async with app.run_test(size=(100, 30)) as pilot:
        screen = events_screen(app)
        newest = (await four.query_events(None, limit=1))[0]
        screen.set_filter("!since:1h")
        await wait_for(pilot, lambda: _loaded(screen, "!since:1h"))
        assert screen.feed.rows == []
        screen.set_filter("since:1h src:cli")
        await wait_for(pilot, lambda: _loaded(screen, "since:1h src:cli"))
        assert {e.type for e in screen.feed.rows} == {"file.created", "security.breach"}
        await four.dispatch("custom", {"n": 1}, source="cli")
        await wait_for(pilot, lambda: screen.feed.rows[-1].type == "custom")
        assert screen.feed.rows[-1].id > newest.id


async def test_history_walks_with_up_and_down_and_persists(
    four: Engine, make_app: Any, settings: Settings
) -> None:
    app = make_app(four)
    async with app.run_test(size=(100, 30)) as pilot:
        screen = events_screen(app)
        bar = screen.query_one(FilterBar)
        for text in ("cat:file", "src:demo", "cat:file"):  # the repeat moves to the end
            await _type(pilot, text)
            await wait_for(pilot, partial(_loaded, screen, text))
        await _type(pilot, "status:bogus")  # an invalid filter is not remembered
        await _type(pilot, "draft", enter=False)
        await pilot.press("up")
        assert bar.input.value == "cat:file"
        await pilot.press("up", "up")
        assert bar.input.value == "src:demo"  # the oldest: up stays there
        await pilot.press("down")
        assert bar.input.value == "cat:file"
        await pilot.press("down")
        assert bar.input.value == "draft"  # past the newest: what was being typed
        await pilot.press("up", "enter")
        await wait_for(pilot, lambda: _loaded(screen, "cat:file"))
    path = settings.home / STATE_FILE
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert json.loads(path.read_text())["filter_history"] == ["src:demo", "cat:file"]
    assert load_state(settings.home).last_filter == "cat:file"
    # A new dashboard on the same home has the same history.
    again = make_app(four)
    async with again.run_test(size=(100, 30)) as pilot:
        bar = events_screen(again).query_one(FilterBar)
        bar.input.focus()
        await pilot.press("up")
        assert bar.input.value == "cat:file"


@pytest.fixture
def saved_settings(settings: Settings) -> Settings:
    settings.home.mkdir(parents=True, exist_ok=True)
    settings.config_file.write_text(
        '[filters]\nfiles = "cat:file"\nrecent-demo = "since:1h src:demo"\n'
    )
    return load_settings(settings.home)


@pytest.fixture
async def saved_engine(saved_settings: Settings) -> Any:
    eng = await Engine.open(saved_settings, lifecycle=True)
    await eng.dispatch("deploy.failed", {"service": "api"}, source="demo")
    await eng.dispatch("file.created", {"path": "/etc/passwd"}, source="cli")
    await eng.wait_idle()
    yield eng
    await eng.close(reason="test finished")


async def test_saved_filters_in_the_palette(saved_engine: Engine, make_app: Any) -> None:
    app = make_app(saved_engine)
    async with app.run_test(size=(100, 30)) as pilot:
        screen = events_screen(app)
        await wait_for(pilot, lambda: not screen.feed.loading)
        await pilot.press("ctrl+p")
        await wait_for(pilot, lambda: isinstance(app.screen, CommandPalette))
        await pilot.press(*"Filter: recent")
        await wait_for(pilot, lambda: "since:1h src:demo" in screen_text(app))
        await pilot.press("enter")
        await wait_for(pilot, lambda: _loaded(screen, "since:1h src:demo"))
        assert [e.type for e in screen.feed.rows] == ["deploy.failed"]


async def test_saved_filters_by_name(saved_engine: Engine, make_app: Any) -> None:
    app = make_app(saved_engine)
    async with app.run_test(size=(100, 30)) as pilot:
        screen = events_screen(app)
        await _type(pilot, "@files")
        await wait_for(pilot, lambda: _loaded(screen, "cat:file"))
        assert [e.type for e in screen.feed.rows] == ["file.created"]
        await _type(pilot, "@nope")
        bar = screen.query_one(FilterBar)
        assert bar.error and "no saved filter named 'nope' (saved: files, recent-demo)" in (
            bar.error
        )


def _marked_texts(table: EventTable, event_id: int, how: str = "reverse") -> list[str]:
    index = table.feed.index_of(event_id)
    strip = table.render_line(index - int(table.scroll_y) + 1)
    return [seg.text for seg in strip if seg.style is not None and getattr(seg.style, how)]


async def test_filter_matches_are_marked_in_the_rows(four: Engine, make_app: Any) -> None:
    app = make_app(four)
    async with app.run_test(size=(120, 30)) as pilot:
        screen = events_screen(app)
        table = screen.query_one(EventTable)
        screen.set_filter("PASSWD")
        await wait_for(pilot, lambda: _loaded(screen, "PASSWD") and len(screen.feed) == 1)
        file_event = screen.feed.rows[0]
        # The cursor row is drawn reversed too: mark another row as the cursor's.
        table.cursor_id = -1
        assert _marked_texts(table, file_event.id) == ["passwd"]  # case-insensitive
        screen.set_filter("type:deploy.* service=api !src:cli")
        await wait_for(pilot, lambda: _loaded(screen, "type:deploy.* service=api !src:cli"))
        table.cursor_id = -1
        deploy = screen.feed.rows[0]
        assert _marked_texts(table, deploy.id) == ["service="]
        assert _marked_texts(table, deploy.id, "underline") == [deploy.type]


@settings(max_examples=200, deadline=None)
@given(hostile_text(40), st.lists(hostile_text(6), max_size=3))
def test_marked_spans_are_the_needles(text: str, needles: list[str]) -> None:
    for start, end in spans(text, tuple(needles)):
        assert 0 <= start < end <= len(text)
        assert any(n and n.lower() in text[start:end].lower() for n in needles)
    segments = marked(text, Style(), tuple(needles))
    assert "".join(s.text for s in segments) == text


# Filter texts as the palette's help: markup and terminal control from config.toml stay
# text (one Pilot app for all of them; each must be a filter that parses, as config asks).
PALETTE_TEXTS = [
    f'"{t}"' for t in ("[red on white]x[/]", "[@click=app.quit]q[/]", "[/srv]", "\x1b]0;pwned\x07")
]


async def test_hostile_saved_filter_texts_in_the_palette(settings: Settings, make_app: Any) -> None:
    from dataclasses import replace

    from sloth_tui.model.filters import parse_filter

    for text in PALETTE_TEXTS:
        parse_filter(text)
    filters = tuple((f"hostile{i}", text) for i, text in enumerate(PALETTE_TEXTS))
    eng = await Engine.open(replace(settings, filters=filters), lifecycle=True)
    try:
        app = make_app(eng)
        async with app.run_test(size=(120, 40)) as pilot:
            await pilot.press("ctrl+p")
            await wait_for(pilot, lambda: isinstance(app.screen, CommandPalette))
            await pilot.press(*"Filter: hostile")
            await wait_for(pilot, lambda: "Filter: hostile3" in screen_text(app))
            shown = screen_text(app)
            for text in PALETTE_TEXTS[:3]:
                assert text in shown  # markup shown as typed, never applied
            assert "\x1b" not in shown and "\x07" not in shown
            assert app.is_running and app._exception is None
    finally:
        await eng.close(reason="test finished")
