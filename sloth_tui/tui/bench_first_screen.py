"""The dashboard on a big store (`bench --scale`, issue 19), in a process of its own.

Run as `python -m sloth_tui.tui.bench_first_screen HOME SPAWNED_AT` against the daemon
serving HOME: the app runs headless (as `sloth-tui` does, attached to the daemon over
its socket) and prints one JSON object:

- tui_first_screen_s: from SPAWNED_AT (the parent's time.time() just before it started
  this process: the interpreter's start and imports count) until the Events table has
  drawn its first rows;
- tui_detail_open_ms: Enter on the newest row until its detail screen holds the event;
- tui_scroll_oldest_ms: `g` (the oldest row) until the page of older events it asks
  for is in the table;
- tui_rss_mb: this process's resident memory at the end.

A process of its own so that its RSS is the dashboard's alone.
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import psutil

from sloth_tui.config import load_settings
from sloth_tui.remote.client import RemoteEngine

if TYPE_CHECKING:
    from sloth_tui.tui.app import SlothApp

POLL = 0.005  # s between checks of the screen
STEP_TIMEOUT = 120.0  # s for one step (a loaded machine, a million events)


async def _until(check: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + STEP_TIMEOUT
    while not check():
        if time.monotonic() > deadline:
            raise RuntimeError(f"the dashboard never got there: {what}")
        await asyncio.sleep(POLL)


async def first_screen_figures(home: Path, spawned_at: float) -> dict[str, float]:
    from sloth_tui.tui.app import SlothApp

    settings = load_settings(home)
    engine = await RemoteEngine.open(settings)
    try:
        return await _measure(SlothApp(engine, freeze_gc=True), spawned_at)
    finally:
        await engine.close()


async def _measure(app: SlothApp, spawned_at: float) -> dict[str, float]:
    from sloth_tui.tui.screens.detail import DetailScreen
    from sloth_tui.tui.screens.events import EventsScreen

    async with app.run_test(size=(120, 40)) as pilot:

        def events_screen() -> EventsScreen | None:
            screen = app.screen
            return screen if isinstance(screen, EventsScreen) else None

        def drawn() -> bool:
            screen = events_screen()
            return screen is not None and screen.table.painted_max_id > 0

        await _until(drawn, "the first rows drawn")
        first_screen = time.time() - spawned_at

        screen = events_screen()
        assert screen is not None
        screen.table.focus()
        await pilot.pause()
        started = time.perf_counter()
        await pilot.press("enter")

        def detail_loaded() -> bool:
            shown = app.screen
            return isinstance(shown, DetailScreen) and shown.event is not None

        await _until(detail_loaded, "the event's detail")
        await pilot.pause()  # drawn once
        detail_ms = (time.perf_counter() - started) * 1000

        await pilot.press("escape")
        await _until(lambda: events_screen() is not None, "back on the events")
        screen = events_screen()
        assert screen is not None
        screen.table.focus()
        await pilot.pause()
        feed = screen.feed
        oldest = feed.rows[0].id if feed.rows else 0
        started = time.perf_counter()
        await pilot.press("g")

        def older_loaded() -> bool:
            return not feed.has_older or (bool(feed.rows) and feed.rows[0].id < oldest)

        await _until(older_loaded, "the older page")
        await pilot.pause()
        scroll_ms = (time.perf_counter() - started) * 1000
        rss = psutil.Process().memory_info().rss / 2**20
    return {
        "tui_first_screen_s": first_screen,
        "tui_detail_open_ms": detail_ms,
        "tui_scroll_oldest_ms": scroll_ms,
        "tui_rss_mb": rss,
    }


if __name__ == "__main__":  # python -m sloth_tui.tui.bench_first_screen HOME SPAWNED_AT
    figures = asyncio.run(first_screen_figures(Path(sys.argv[1]), float(sys.argv[2])))
    sys.stdout.write(json.dumps(figures) + "\n")
