"""The event detail closed while it is still reading its event: nothing is left to draw,
and the app goes on (CI saw the app end on a NoMatches from the detail's loader)."""

from __future__ import annotations

import asyncio
from typing import Any

from tui_helpers import wait_for

from sloth_tui.engine.engine import Engine
from sloth_tui.model.records import Event
from sloth_tui.tui.screens.detail import DetailScreen


async def test_a_detail_closed_mid_load_does_not_end_the_app(engine: Engine, make_app: Any) -> None:
    event = await engine.dispatch("custom", {"name": "n", "message": "m"}, source="demo")
    app = make_app(engine)
    held = asyncio.Event()
    reading = asyncio.Event()
    real_child_events = engine.child_events

    async def child_events_after_close(event_id: int) -> list[Event]:
        reading.set()
        await held.wait()  # the seam under test: the read outlives the screen
        return await real_child_events(event_id)

    async with app.run_test(size=(100, 30)) as pilot:
        engine.child_events = child_events_after_close  # type: ignore[method-assign]
        app.open_detail(event.id)
        await wait_for(pilot, reading.is_set)
        detail = app.screen
        assert isinstance(detail, DetailScreen)
        # What a quitting app does first: the screen's widgets go while its worker still
        # waits on the engine (a popped screen cancels its workers; quitting did not yet).
        await detail.remove_children()
        held.set()
        await wait_for(  # the load ended
            pilot, lambda: all(w.is_finished for w in app.workers if w.node is detail)
        )
        assert app._exception is None
