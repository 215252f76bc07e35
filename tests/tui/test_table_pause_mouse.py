"""The event table stops following the tail when the operator scrolls back by mouse:
the wheel, a click on the scrollbar's track, a drag of its thumb. Each still scrolls."""

from __future__ import annotations

from typing import Any

from textual import events
from tui_helpers import wait_for

from sloth_tui.engine.engine import Engine
from sloth_tui.tui.screens.events import EventsScreen
from sloth_tui.tui.widgets.event_table import EventTable

ROWS = 80  # several screens of rows: the table has a scrollbar, its thumb at the bottom


async def following_table(engine: Engine, app: Any, pilot: Any) -> EventTable:
    screen = app.screen
    assert isinstance(screen, EventsScreen)
    for i in range(ROWS):
        await engine.dispatch("task.started", {"task_name": f"t{i}"}, source="demo")
    table = screen.table
    await wait_for(pilot, lambda: len(screen.feed) == ROWS + 1)
    # At the very bottom (the thumb there, the track above it free to click): while the
    # table is still catching up with the tail, offset 0 of the bar can be the thumb.
    await wait_for(
        pilot,
        lambda: table.show_vertical_scrollbar and 0 < table.max_scroll_y <= table.scroll_y,
    )
    await pilot.pause()
    assert screen.feed.following
    return table


async def test_wheel_up_pauses_and_scrolls(engine: Engine, make_app) -> None:
    app = make_app(engine)
    async with app.run_test(size=(100, 30)) as pilot:
        table = await following_table(engine, app, pilot)
        top = table.scroll_y
        x, y = table.region.center
        screen = app.screen
        screen._forward_event(
            events.MouseScrollUp(screen, x, y, 0, -1, 0, False, False, False, x, y)
        )
        await wait_for(pilot, lambda: not table.feed.following)
        await wait_for(pilot, lambda: table.scroll_y < top)


async def test_wheel_down_at_the_tail_keeps_following(engine: Engine, make_app) -> None:
    app = make_app(engine)
    async with app.run_test(size=(100, 30)) as pilot:
        table = await following_table(engine, app, pilot)
        x, y = table.region.center
        screen = app.screen
        screen._forward_event(
            events.MouseScrollDown(screen, x, y, 0, 1, 0, False, False, False, x, y)
        )
        await pilot.pause()
        assert table.feed.following


async def test_click_on_the_scrollbar_track_pauses_and_pages_up(engine: Engine, make_app) -> None:
    app = make_app(engine)
    async with app.run_test(size=(100, 30)) as pilot:
        table = await following_table(engine, app, pilot)
        top = table.scroll_y
        await pilot.click(table.vertical_scrollbar, offset=(0, 0))  # above the thumb
        await wait_for(pilot, lambda: not table.feed.following)
        await wait_for(pilot, lambda: table.scroll_y < top)


async def test_dragging_the_scrollbar_thumb_pauses_and_scrolls(engine: Engine, make_app) -> None:
    app = make_app(engine)
    async with app.run_test(size=(100, 30)) as pilot:
        table = await following_table(engine, app, pilot)
        top = table.scroll_y
        bar = table.vertical_scrollbar
        await pilot.mouse_down(bar, offset=(0, bar.size.height - 1))  # the thumb
        await pilot.hover(bar, offset=(0, 1))
        await pilot.mouse_up(bar, offset=(0, 1))
        await wait_for(pilot, lambda: not table.feed.following)
        await wait_for(pilot, lambda: table.scroll_y < top)
