"""Sloth Runner's context in the dashboard (issue 14.3): the Events table's STACK@AGENT
column on wide terminals only, and the stack, agent and run in the split preview and the
event detail, hostile text shown as written (never markup, nothing a terminal acts on)."""

from __future__ import annotations

from tui_helpers import screen_text, wait_for

from sloth_tui.engine.engine import Engine
from sloth_tui.tui.screens.detail import DetailScreen
from sloth_tui.tui.screens.events import EventsScreen
from sloth_tui.tui.widgets.event_table import CONTEXT_FROM, EventTable, layout_for

STACK = "[bold]prod[/]"  # markup, if it were read as markup
AGENT = "web\u202e1"  # a bidi override, which would reorder the line
RUN = "run-[link=x]42"


async def _dispatch(engine: Engine) -> int:
    event = await engine.dispatch(
        "deploy.started", {"service": "api"}, source="demo", stack=STACK, agent=AGENT, run_id=RUN
    )
    return event.id


def test_the_context_column_is_the_first_to_go() -> None:
    assert layout_for(CONTEXT_FROM).context and not layout_for(CONTEXT_FROM - 1).context
    for width in (CONTEXT_FROM, 160, 200):
        lay = layout_for(width)
        used = sum(w + 1 for w in (lay.time, lay.id, lay.type, lay.source, lay.context, lay.marks))
        assert used + lay.summary <= width
        assert lay.source and lay.time == 12  # every other column is still there


async def test_wide_events_table_shows_stack_and_agent(engine: Engine, make_app) -> None:
    last = await _dispatch(engine)
    plain = await engine.dispatch("deploy.started", {"service": "db"}, source="demo")
    app = make_app(engine)
    async with app.run_test(size=(140, 30)) as pilot:
        table = app.screen.query_one(EventTable)
        await wait_for(pilot, lambda: table.painted_max_id == plain.id)
        text = screen_text(app)
        assert "STACK@AGENT" in text
        assert "[bold]prod[/]@web\ufffd1" in text  # as written; the override made harmless
        assert "\u202e" not in text
        assert last < plain.id
    async with make_app(engine).run_test(size=(120, 30)) as pilot:
        table = pilot.app.screen.query_one(EventTable)
        await wait_for(pilot, lambda: table.painted_max_id == plain.id)
        assert "STACK@AGENT" not in screen_text(pilot.app)


async def test_split_preview_and_detail_show_all_three(engine: Engine, make_app) -> None:
    await _dispatch(engine)
    app = make_app(engine)
    async with app.run_test(size=(120, 40)) as pilot:
        events = app.screen
        assert isinstance(events, EventsScreen)
        await wait_for(pilot, lambda: len(events.feed) >= 1)
        await pilot.press("v")
        await wait_for(pilot, lambda: "run-[link=x]42" in screen_text(app))
        text = screen_text(app)
        assert "[bold]prod[/]" in text and "web\ufffd1" in text and "\u202e" not in text
        await pilot.press("enter")
        await wait_for(pilot, lambda: isinstance(app.screen, DetailScreen) and app.screen.event)
        await wait_for(pilot, lambda: "run-[link=x]42" in screen_text(app))
        text = screen_text(app)
        for label, value in (("stack", STACK), ("agent", "web\ufffd1"), ("run", RUN)):
            assert any(label in line and value in line for line in text.splitlines()), label
