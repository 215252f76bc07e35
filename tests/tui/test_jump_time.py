"""Issue 12 item 3: on Events, `t` asks for a time and puts the cursor on the first event
at or after it, paging back through the store as needed, with the stream paused.

A real engine on a real SQLite file; the engine's clock is stepped by the test so each
event has a known time; small pages so the jump has to load several older ones."""

from __future__ import annotations

import types
from collections.abc import Callable
from typing import Any

import pytest
from tui_helpers import T0, screen_text, wait_for

from sloth_tui.engine import engine as engine_module
from sloth_tui.engine.engine import Engine
from sloth_tui.tui.app import SlothApp
from sloth_tui.tui.screens import events as events_module
from sloth_tui.tui.screens.events import EventsScreen
from sloth_tui.tui.screens.jump_time import JumpTimeScreen

N = 60  # events, one a minute from T0


async def minute_events(engine: Engine, monkeypatch: pytest.MonkeyPatch) -> None:
    now = [T0]
    fake = types.SimpleNamespace(
        time=lambda: now[0],
        strftime=engine_module.time.strftime,
        gmtime=engine_module.time.gmtime,
        monotonic=engine_module.time.monotonic,
    )
    with monkeypatch.context() as patch:
        patch.setattr(engine_module, "time", fake)
        for i in range(N):
            now[0] = T0 + 60 * i
            await engine.dispatch("deploy.started", {"n": i}, source="demo")


def cursor_n(screen: EventsScreen) -> Any:
    ev = screen.table.cursor_event
    return None if ev is None else ev.data.get("n")


async def test_t_jumps_to_a_time_loading_older_pages(
    engine: Engine, make_app: Callable[..., SlothApp], monkeypatch: pytest.MonkeyPatch
) -> None:
    await minute_events(engine, monkeypatch)
    monkeypatch.setenv("TZ", "UTC")
    monkeypatch.setattr(events_module, "INITIAL_ROWS", 20)
    monkeypatch.setattr(events_module, "PAGE", 10)
    app = make_app(engine, clock=lambda: T0 + 3600.0)
    async with app.run_test(size=(120, 36)) as pilot:
        screen = app.screen
        assert isinstance(screen, EventsScreen)
        await wait_for(pilot, lambda: len(screen.feed) == 20)
        assert screen.feed.rows[0].data["n"] == N - 20  # the older rows are not loaded yet

        # An ISO time between two events: the later one, five pages back.
        await pilot.press("t")
        await wait_for(pilot, lambda: isinstance(app.screen, JumpTimeScreen))
        await pilot.press(*"2026-01-01T00:05:30Z", "enter")
        await wait_for(pilot, lambda: cursor_n(screen) == 6)
        assert not screen.feed.following  # paused there: the stream does not carry it off
        assert "PAUSED" in screen_text(app)
        assert screen.feed.rows[0].data["n"] <= 6

        # An age counts back from the app's clock: 50m before T0+60m is T0+10m.
        await pilot.press("t")
        await wait_for(pilot, lambda: isinstance(app.screen, JumpTimeScreen))
        await pilot.press(*"50m", "enter")
        await wait_for(pilot, lambda: cursor_n(screen) == 10)

        # A bad time: one line in the dialog, which stays open; escape cancels.
        await pilot.press("t")
        await wait_for(pilot, lambda: isinstance(app.screen, JumpTimeScreen))
        await pilot.press(*"yesterday", "enter")
        await wait_for(pilot, lambda: "'yesterday' is not an age" in screen_text(app))
        assert isinstance(app.screen, JumpTimeScreen)
        await pilot.press("escape")
        await wait_for(pilot, lambda: app.screen is screen)
        assert cursor_n(screen) == 10  # nothing moved

        # After the newest event: the newest is highlighted.
        await pilot.press("t")
        await wait_for(pilot, lambda: isinstance(app.screen, JumpTimeScreen))
        await pilot.press(*"2026-01-02T00:00Z", "enter")
        await wait_for(pilot, lambda: cursor_n(screen) == N - 1)
