"""The dashboard's work under load and at rest (issue 19), counted rather than timed: how
often it ticks while nothing happens, and how often a screen-wide layout runs per event."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from rich.cells import cell_len, set_cell_size
from tui_helpers import wait_for

from sloth_tui.engine import engine as engine_module
from sloth_tui.engine.engine import Engine
from sloth_tui.tui import app as app_module
from sloth_tui.tui.app import SlothApp
from sloth_tui.tui.screens.events import EventsScreen
from sloth_tui.tui.widgets.event_table import EventTable, fit


def _fit_by_cells(text: str, width: int) -> str:
    """fit() as it was before its one-cell-per-character shortcut: the reference."""
    if cell_len(text) <= width:
        return set_cell_size(text, width)
    return set_cell_size(text, width - 1) + "…" if width > 1 else set_cell_size(text, width)


@settings(max_examples=400, deadline=None)
@given(
    text=st.one_of(
        st.text(),
        st.text(alphabet=st.characters(max_codepoint=0x7F)),  # ASCII, controls among them
        st.text(min_size=2000, max_size=5000),  # huge
    ),
    width=st.integers(min_value=-2, max_value=200),
)
def test_fit_shortcut_gives_what_cells_give(text: str, width: int) -> None:
    assert fit(text, width) == _fit_by_cells(text, width)


def _count_ticks(app: SlothApp, on_tick: Callable[[], None]) -> None:
    """Wrap the app's tick before it mounts (set_interval takes the bound method then)."""
    real = app.tick

    def counted() -> None:
        real()
        on_tick()

    app.tick = counted  # type: ignore[method-assign]


async def test_an_idle_events_screen_sleeps_until_a_notice(
    engine: Engine, make_app: Callable[..., SlothApp], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Before: an idle Events screen still woke about twice a second (for the engine's
    figures, sent each second whether they changed or not, and for a 1 s timeout), and the
    producers' lines were asked for every 2 s. Now the engine sends no figures while they
    stay the same, and an idle screen wakes only for a notice or after IDLE_POLL s; each
    such wake ticks once and asks for the producers' lines once."""
    monkeypatch.setattr(app_module, "IDLE_POLL", 0.1)  # many idle wakes, quickly
    monkeypatch.setattr(engine_module, "STATS_EVERY", 0.05)  # and a quiet engine soon
    app = make_app(engine)  # tick=0.05
    ticks = waits = polls = 0

    def seen() -> None:
        nonlocal ticks
        ticks += 1

    _count_ticks(app, seen)
    real_wait, real_poll = app._wait_for_notice, app.poll_sources

    async def counted_wait(sub: Any, wait: float) -> None:
        nonlocal waits
        waits += 1
        await real_wait(sub, wait)

    def counted_poll() -> Any:
        nonlocal polls
        polls += 1
        return real_poll()

    app._wait_for_notice = counted_wait  # type: ignore[method-assign]
    app.poll_sources = counted_poll  # type: ignore[method-assign]
    async with app.run_test(size=(120, 40)) as pilot:
        assert isinstance(app.screen, EventsScreen)
        # Idle, and the engine's figures loop asleep on the bus: no figures to come.
        await wait_for(pilot, lambda: app._waiter is not None and engine.bus.awaiting_stir)
        assert app._idle_wait() == app_module.IDLE_POLL
        figures = app.live.engine
        first = (ticks, waits, polls)
        await wait_for(pilot, lambda: waits >= first[1] + 5, timeout=10)
        woke = waits - first[1]
        assert ticks - first[0] <= woke + 1, (ticks - first[0], woke)
        assert polls - first[2] <= woke + 1, (polls - first[2], woke)
        assert app.live.engine is figures  # nothing came from the engine meanwhile

        # A producer's line in the top bar may change on its own: asked for more often.
        app.source_headers = "⇄ sloth-runner lag 2s"
        assert app._idle_wait() == app_module.SOURCE_POLL
        app.source_headers = ""

        # A notice ends the idle wait at once, and the event shows.
        event = await engine.dispatch("deploy.started", {"service": "api"}, source="test")
        table = app.screen.query_one(EventTable)
        await wait_for(pilot, lambda: table.painted_max_id >= event.id)


async def test_a_polling_screen_keeps_its_tick(
    engine: Engine, make_app: Callable[..., SlothApp]
) -> None:
    """The Stats screen redraws on the tick without notices: it never goes idle."""
    app = make_app(engine)
    ticks = 0
    idle_seen = False

    def seen() -> None:
        nonlocal ticks, idle_seen
        ticks += 1
        idle_seen = idle_seen or app._waiter is not None

    _count_ticks(app, seen)
    async with app.run_test(size=(120, 40)) as pilot:
        app.action_show("stats")
        await wait_for(pilot, lambda: app.current_mode == "stats")
        await wait_for(pilot, lambda: app._waiter is None)  # an idle wait begun on Events
        idle_seen = False
        start = ticks
        await wait_for(pilot, lambda: ticks >= start + 3 * app_module.IDLE_AFTER, timeout=10)
        assert not idle_seen


async def test_a_wake_in_the_turn_the_idle_wait_begins_keeps_the_tick(
    engine: Engine, make_app: Callable[..., SlothApp]
) -> None:
    """Session 22: wake_tick cancelled the idle waiter and left the resuming to its
    `finally`; a task cancelled before its first step never runs its body, so a key
    pressed in the turn the wait began (7, from an idle Events screen) paused the tick for
    good: the Fleet screen it opened never redrew (a CI flake of test_fleet_attach)."""
    app = make_app(engine)
    ticks = 0

    def seen() -> None:
        nonlocal ticks
        ticks += 1

    _count_ticks(app, seen)
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_for(pilot, lambda: app._waiter is not None)  # idle on Events
        app.wake_tick()
        await wait_for(pilot, lambda: app._waiter is None)
        # The idle wait begins, and a wake comes before its task has run a step.
        app._idle_ticks = app_module.IDLE_AFTER
        app._maybe_idle(app.screen, None)
        assert app._waiter is not None
        app.wake_tick()
        app.action_show("stats")  # a screen that polls on the tick: it never idles
        start = ticks
        await wait_for(pilot, lambda: ticks >= start + 3, timeout=10)
        assert app._waiter is None


@pytest.mark.parametrize("events", [12])
async def test_new_rows_do_not_lay_out_the_screen(
    engine: Engine, make_app: Callable[..., SlothApp], events: int
) -> None:
    """Before: the top bar's figures and the filter bar's count were updated with a layout
    of the whole screen, so every tick with news reflowed it. Now only a width change
    does: a stream of rows whose figures keep their width lays nothing out."""
    for i in range(150):  # ids in the hundreds from here on: the figures keep their width
        await engine.dispatch("deploy.started", {"service": f"s{i}"}, source="test")
    app = make_app(engine, window=100, clock=lambda: 0.0)  # the rate stays 0/s
    async with app.run_test(size=(120, 40)) as pilot:
        screen = app.screen
        table = screen.query_one(EventTable)
        await wait_for(pilot, lambda: table.painted_max_id >= 150)
        first = await engine.dispatch("deploy.started", {"service": "x"}, source="test")
        await wait_for(pilot, lambda: table.painted_max_id >= first.id)
        # What that first row changed settles: pause() waits for the screen's pending
        # messages, then runs the layout they asked for, before the count begins.
        await pilot.pause()
        layouts = 0
        real = screen._refresh_layout

        def counted(*args: Any, **kwargs: Any) -> None:
            nonlocal layouts
            layouts += 1
            real(*args, **kwargs)

        screen._refresh_layout = counted  # type: ignore[method-assign]
        for i in range(events):
            event = await engine.dispatch("deploy.started", {"service": f"t{i}"}, source="test")
            await wait_for(pilot, lambda ev=event: table.painted_max_id >= ev.id)  # type: ignore[misc]
        assert table.painted_max_id < 1000  # the figures kept their width throughout
        assert layouts <= 1, layouts
