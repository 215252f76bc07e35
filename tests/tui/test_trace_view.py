"""The Trace view (tui/screens/trace.py) through Pilot, on a real engine with real Lua hooks.

Checked through the text the screen draws (no snapshot): the tree's lines, the mark on
the event asked for, the keys in the footer; Enter on an event or a run; `t` moving the
trace; hostile types, hook names and errors shown as text.
"""

from __future__ import annotations

from pathlib import Path

from textual.widgets import OptionList
from tui_helpers import screen_text, wait_for

from sloth_tui.engine.engine import Engine
from sloth_tui.engine.store import INSERT_EVENT, INSERT_EXECUTION, event_row, execution_row
from sloth_tui.model.records import Event, Execution
from sloth_tui.model.trace import tree_lines
from sloth_tui.tui import format as fmt
from sloth_tui.tui.app import SlothApp
from sloth_tui.tui.screens.detail import DetailScreen
from sloth_tui.tui.screens.execution_detail import ExecutionDetailScreen
from sloth_tui.tui.screens.trace import TraceScreen

SIZE = (140, 36)


async def _chain(engine: Engine, tmp_path: Path) -> dict[str, Event]:
    code = {
        "on-a": 'function on_event() event.dispatch("b.step", {n = 1}) return true end',
        "on-b": 'function on_event() event.dispatch("c.step", {n = 2}) return true end',
        "boom": 'function on_event() error("boom") end',
    }
    patterns = {"on-a": "a.*", "on-b": "b.*", "boom": "b.*"}
    for name, text in code.items():
        path = tmp_path / f"{name}.lua"
        path.write_text(text)
        await engine.add_hook(name, [patterns[name]], path)
    root, _ = await engine.dispatch_and_run("a.go", {})
    assert await engine.wait_idle()
    events = await engine.query_events(limit=10, after_id=root.id - 1)
    return {e.type: e for e in events}


def _prompts(screen: TraceScreen) -> list[str]:
    tree = screen.query_one("#trace-tree", OptionList)
    return [str(tree.get_option_at_index(i).prompt) for i in range(tree.option_count)]


async def _open_trace(app: SlothApp, pilot: object, event_id: int) -> TraceScreen:
    app.push_screen(TraceScreen(event_id))
    await wait_for(pilot, lambda: isinstance(app.screen, TraceScreen) and app.screen.lines != [])
    screen = app.screen
    assert isinstance(screen, TraceScreen)
    return screen


async def test_trace_view_from_the_detail_draws_the_tree(
    engine: Engine, make_app, tmp_path: Path
) -> None:
    ev = await _chain(engine, tmp_path)
    app = make_app(engine)
    async with app.run_test(size=SIZE) as pilot:
        app.open_detail(ev["b.step"].id)
        await wait_for(pilot, lambda: isinstance(app.screen, DetailScreen) and app.screen.event)
        await pilot.press("t")
        await wait_for(pilot, lambda: isinstance(app.screen, TraceScreen) and app.screen.lines)
        screen = app.screen
        assert isinstance(screen, TraceScreen) and screen.trace is not None
        want = tree_lines(await engine.trace(ev["b.step"].id), fmt.printable)
        prompts = _prompts(screen)
        assert [p.replace("  ◀ asked", "") for p in prompts] == [x.prefix + x.label for x in want]
        # The cursor starts on the event asked for, which is marked, once.
        tree = screen.query_one("#trace-tree", OptionList)
        assert tree.highlighted is not None
        assert prompts[tree.highlighted].startswith("└─ on-a") is False
        assert f"event {ev['b.step'].id} b.step" in prompts[tree.highlighted]
        assert [p.endswith("◀ asked") for p in prompts].count(True) == 1
        text = screen_text(app)
        assert f"event {ev['a.go'].id} a.go [completed]" in text
        assert "boom: error" in text and "on-b: success" in text
        assert f"event {ev['c.step'].id} c.step [completed]" in text
        assert "Trace here" in text and "Reload" in text and "Open" in text  # the footer
        assert f"root {ev['a.go'].id}" in text


async def test_trace_view_keys_open_and_move(engine: Engine, make_app, tmp_path: Path) -> None:
    ev = await _chain(engine, tmp_path)
    root_id = ev["a.go"].id
    app = make_app(engine)
    async with app.run_test(size=SIZE) as pilot:
        screen = await _open_trace(app, pilot, ev["c.step"].id)
        tree = screen.query_one("#trace-tree", OptionList)
        # Enter on an event opens its detail.
        tree.highlighted = 0
        await pilot.press("enter")
        await wait_for(pilot, lambda: isinstance(app.screen, DetailScreen))
        assert app.screen.event_id == ev["a.go"].id  # type: ignore[attr-defined]
        await pilot.press("escape")
        await wait_for(pilot, lambda: app.screen is screen)
        # Enter on a run opens that very run.
        index = next(i for i, x in enumerate(screen.lines) if x.label.startswith("boom:"))
        tree.highlighted = index
        await pilot.press("enter")
        await wait_for(pilot, lambda: isinstance(app.screen, ExecutionDetailScreen))
        run = app.screen.execution  # type: ignore[attr-defined]
        assert (run.hook, run.event_id, run.id) == (
            "boom",
            ev["b.step"].id,
            screen.lines[index].run_id,
        )
        await pilot.press("escape")
        await wait_for(pilot, lambda: app.screen is screen)
        # t on the root moves the trace there: the same tree, marked at the root.
        before = [x.label for x in screen.lines]
        tree.highlighted = 0
        await pilot.press("t")
        await wait_for(pilot, lambda: screen.trace is not None and screen.trace.asked_id == root_id)
        assert [x.label for x in screen.lines] == before
        assert _prompts(screen)[0].endswith("◀ asked")
        # t on a run says what it needs, and moves nothing.
        tree.highlighted = 1
        await pilot.press("t")
        await pilot.pause()
        assert screen.trace.asked_id == root_id
        # r reads it again: a re-run of on-a on the root, and what it dispatched, show.
        count = len(screen.lines)
        await engine.rerun(root_id, ["on-a"])
        assert await engine.wait_idle()
        await pilot.press("r")
        await wait_for(pilot, lambda: len(screen.lines) > count)
        assert [x.label.split(":")[0] for x in screen.lines if x.prefix in ("├─ ", "└─ ")] == [
            "on-a",
            "on-a",
        ]


async def test_trace_view_of_a_missing_event_says_so(engine: Engine, make_app) -> None:
    app = make_app(engine)
    async with app.run_test(size=SIZE) as pilot:
        app.push_screen(TraceScreen(424242))
        await wait_for(pilot, lambda: "not in the store" in screen_text(app))
        assert "Event 424242 is not in the store (deleted or trimmed)." in screen_text(app)
        await pilot.press("enter", "t", "j", "o")  # nothing to act on: no crash
        await pilot.pause()
        assert isinstance(app.screen, TraceScreen)


NASTY = "[red]x[/] [@click=app.quit]q[/] \x1b]0;pwned\x07 \x1b[2J \u202eevil\nnext"


async def test_hostile_text_is_shown_as_text(engine: Engine, make_app) -> None:
    parent = Event(id=500, type=NASTY, category="x", data={}, source=NASTY)
    child = Event(id=501, type="[/srv]" + NASTY, category="x", data={}, parent_id=500, depth=1)
    run = Execution(
        hook=NASTY,
        event_id=500,
        status=NASTY,
        started=parent.ts,
        error="[/bold] " + NASTY,
        trigger=NASTY,
        origin=NASTY,
        calls=[{"fn": "event.dispatch", "id": 501}],
    )
    await engine.store.write(
        (INSERT_EVENT, event_row(parent)),
        (INSERT_EVENT, event_row(child)),
        (INSERT_EXECUTION, execution_row(run)),
    )
    app = make_app(engine)
    async with app.run_test(size=(400, 30)) as pilot:
        screen = await _open_trace(app, pilot, 501)
        assert [x.kind for x in screen.lines] == ["event", "run", "event"]
        text = screen_text(app)
        assert "\x1b" not in text and "\u202e" not in text
        printable = fmt.printable(NASTY)
        assert f"event 500 {printable} [pending]" in text  # brackets kept as written
        assert f"└─ {printable}: {printable}" in text
        assert "[/srv]" in text and "[/bold]" in text
        assert isinstance(app.screen, TraceScreen)  # [@click=app.quit] did nothing
        # Each node is one line: the newline in the text is a picture, not a line break.
        assert len(_prompts(screen)) == 3
