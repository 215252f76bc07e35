"""The Executions list (3): one row per run whatever the timing, the newest run followed the
way the Events table follows its tail, and what hooks say shown as text.

Real engine, real Lua hooks; the demo generator for the stream the bug was seen on.
"""

from __future__ import annotations

import asyncio
import re
from pathlib import Path

from hostile import SAMPLES
from rich.text import Text
from test_monkey import press_now
from tui_helpers import screen_text, wait_for

from sloth_tui.engine.engine import Engine
from sloth_tui.model.records import Event
from sloth_tui.sources.demo import DemoGenerator, install_demo_hooks
from sloth_tui.tui.app import SlothApp
from sloth_tui.tui.screens.execution_detail import ExecutionDetailScreen
from sloth_tui.tui.screens.executions import DETAIL_WIDTH, ExecutionsScreen, run_key
from sloth_tui.tui.widgets.execution_view import ExecutionView, clip
from sloth_tui.tui.widgets.table_fit import FittedTable, printable, safe_cell

SIZE = (120, 36)
WORKS = 'function on_event() log.info("run " .. tostring(event.data.n)) return true end\n'
FAILS = 'function on_event() error("down " .. tostring(event.data.n)) end\n'
# What must never reach the terminal: C0 controls (a tab or newline inside a line too),
# DEL, C1 (0x9b is a CSI on its own), bidi overrides and isolates, lone surrogates.
FORBIDDEN = re.compile("[\x00-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069\ud800-\udfff]")


async def add(engine: Engine, tmp_path: Path, name: str, events: list[str], code: str) -> None:
    path = tmp_path / f"{name}.lua"
    path.write_text(code)
    await engine.add_hook(name, events, path, description=f"{name} hook")


async def executions_screen(pilot, app: SlothApp) -> ExecutionsScreen:
    await pilot.press("3")
    screen = app.screen
    assert isinstance(screen, ExecutionsScreen)
    await wait_for(pilot, lambda: screen.live_ready)
    return screen


def table_lines(app: SlothApp, table: FittedTable) -> list[str]:
    """The rows of the table as the terminal shows them (its scrollbar left out)."""
    lines = screen_text(app).split("\n")
    x, y, width, height = table.scrollable_content_region
    return [line[x : x + width] for line in lines[y : y + height]]


def screen_line(table: FittedTable) -> int:
    """Where the cursor's row is drawn, counted in rows from the top of the view."""
    return table.cursor_row - round(table.scroll_y)


def drawn(app: SlothApp) -> str:
    """Every segment the terminal would be sent for the screen on top."""
    strips = app.screen._compositor.render_strips()
    return "\n".join("".join(s.text for s in strip if not s.control) for strip in strips)


def cell_text(cell: object) -> str:
    assert isinstance(cell, Text), cell
    return cell.plain


def assert_clean(app: SlothApp) -> str:
    """No control character in any line drawn; returns the screen's text."""
    text = drawn(app)
    for line in text.split("\n"):
        bad = FORBIDDEN.search(line)
        assert bad is None, f"{bad.group()!r} reaches the terminal: {line!r}"
    return text


# -- one row per run ------------------------------------------------------------------------


async def test_a_run_loaded_and_then_notified_is_one_row(
    engine: Engine, make_app, tmp_path: Path
) -> None:
    """The DuplicateKey crash: a filter change reloads from the store, which already holds a
    run whose notice is still on its way; the notice then added the run a second time."""
    await add(engine, tmp_path, "flaky", ["task.*"], FAILS)
    app = make_app(engine, tick=3600)  # no ticks of its own: the test hands notices over
    async with app.run_test(size=SIZE) as pilot:
        screen = await executions_screen(pilot, app)
        for n in range(4):
            await engine.dispatch("task.failed", {"n": n}, source="demo")
            await engine.wait_idle()  # the run is stored; its notice waits for a tick
            screen.set_filter("status:bad" if n % 2 == 0 else "")  # as `s` does: a reload
            await wait_for(pilot, lambda n=n: len(screen.runs) == n + 1)
            app.tick()  # now the notice of that same run arrives
            screen.draw()
            assert screen.table.row_count == len(screen.shown) == n + 1
        assert [r.error for r in screen.shown] == [
            f"flaky.lua:1: down {n}" for n in reversed(range(4))
        ]


async def test_status_cycling_on_the_demo_stream(engine: Engine, make_app) -> None:
    """The report: `sloth-tui demo`, 3, then `s` about once a second died within 30 presses."""
    await install_demo_hooks(engine, engine.settings.hooks_dir)
    # A slow tick (a busy machine, or notices over a socket) lets a stored run's notice
    # trail behind the store's answer: the old list added such a run twice within a few
    # presses. With the test default (0.05 s) it took minutes of pressing.
    demo = DemoGenerator(engine, rate=150, seed=11)
    app = make_app(engine, demo=demo, tick=0.25)

    def runs() -> int:
        return app.live.exec_ok + app.live.exec_bad

    async with app.run_test(size=SIZE) as pilot:
        screen = await executions_screen(pilot, app)
        for _ in range(30):
            await press_now(pilot, "s")  # pilot.press waits for an idle CPU: seconds here
            seen = runs()
            await wait_for(pilot, lambda seen=seen: runs() >= seen + 3 or not app.is_running, 10)
            if not app.is_running:
                break  # leaving the block raises what killed it
            keys = [run_key(r) for r in screen.shown]
            assert len(keys) == len(set(keys)) == screen.table.row_count
            started = [r.started for r in screen.shown]
            assert started == sorted(started, reverse=True)


# -- following the newest run, or staying put ---------------------------------------------


async def test_follows_the_newest_run_while_the_cursor_is_on_it(
    engine: Engine, make_app, tmp_path: Path
) -> None:
    await add(engine, tmp_path, "count", ["task.*"], WORKS)
    app = make_app(engine)
    async with app.run_test(size=SIZE) as pilot:
        screen = await executions_screen(pilot, app)
        table = screen.table
        total = 0
        for wave in (5, 40, 40):  # two waves taller than the screen
            for n in range(total, total + wave):
                await engine.dispatch("task.started", {"n": n}, source="demo")
            total += wave
            await wait_for(pilot, lambda total=total: len(screen.shown) == total)
            await pilot.pause()
            assert (table.cursor_row, table.scroll_y) == (0, 0)
            assert screen.current_key() == run_key(screen.shown[0])
            newest = screen.shown[0]  # the latest start (hooks run on a pool of threads)
            assert newest.started == max(r.started for r in screen.shown)
            body = table_lines(app, table)
            assert newest.logs[-1].message in body[1], body[:3]  # the top row, under the header


async def test_stays_put_when_the_operator_moved_away(
    engine: Engine, make_app, tmp_path: Path
) -> None:
    await add(engine, tmp_path, "count", ["task.*"], WORKS)
    app = make_app(engine)
    async with app.run_test(size=SIZE) as pilot:
        screen = await executions_screen(pilot, app)
        table = screen.table
        for n in range(60):
            await engine.dispatch("task.started", {"n": n}, source="demo")
        await wait_for(pilot, lambda: len(screen.shown) == 60)
        await pilot.press(*["down"] * 45, *["up"] * 8)  # scrolled, the cursor mid-screen
        await pilot.pause()
        held, line, rows = screen.current_key(), screen_line(table), table.cursor_row
        assert 0 < line < table.size.height - 2 and table.scroll_y > 0
        before = table_lines(app, table)

        for wave in range(3):
            for n in range(60 + wave * 20, 80 + wave * 20):
                await engine.dispatch("task.started", {"n": n}, source="demo")
            shown = 80 + wave * 20
            await wait_for(pilot, lambda shown=shown: len(screen.shown) == shown)
            await pilot.pause()
            assert screen.current_key() == held  # the same run is highlighted
            assert table.cursor_row == rows + 20 * (wave + 1)  # below the new ones
            assert screen_line(table) == line  # on the same line of the screen
            # Nothing on screen moved: the same rows with the same cells on each line (a
            # column may widen when a new run's duration is longer: compare cells).
            assert [line.split() for line in table_lines(app, table)] == [
                line.split() for line in before
            ]

        await pilot.press("ctrl+home")  # back on the newest run: following again
        for n in range(120, 125):
            await engine.dispatch("task.started", {"n": n}, source="demo")
        await wait_for(pilot, lambda: len(screen.shown) == 125)
        await pilot.pause()
        assert (table.cursor_row, table.scroll_y) == (0, 0)
        assert screen.current_key() == run_key(screen.shown[0])


async def test_a_filter_keeps_the_highlighted_run_when_it_still_matches(
    engine: Engine, make_app, tmp_path: Path
) -> None:
    await add(engine, tmp_path, "count", ["task.*"], WORKS)
    await add(engine, tmp_path, "flaky", ["task.*"], FAILS)
    app = make_app(engine)
    async with app.run_test(size=SIZE) as pilot:
        screen = await executions_screen(pilot, app)
        for n in range(10):
            await engine.dispatch("task.started", {"n": n}, source="demo")
        await wait_for(pilot, lambda: len(screen.shown) == 20)
        await pilot.pause()
        row = next(i for i, r in enumerate(screen.shown) if r.hook == "flaky" and i > 4)
        screen.table.move_cursor(row=row)
        held = screen.current_key()
        await pilot.press("s")  # status:bad: the flaky run still matches
        await wait_for(pilot, lambda: len(screen.shown) == 10)
        assert screen.current_key() == held
        await pilot.press("s")  # status:success: it does not, the cursor goes to the top
        await wait_for(pilot, lambda: {r.hook for r in screen.shown} == {"count"})
        assert screen.table.cursor_row == 0


# -- text is text --------------------------------------------------------------------------


def test_printable_and_cells() -> None:
    assert printable("\x1b[2J\x1b[H") == "␛[2J␛[H"
    assert printable("a\tb\nc\r\x00\x7f\x9b\u202e\ud800") == "a b␊c␍␀␡���"
    assert printable("a\tb\nc", lines=True) == "a b\nc"
    for sample in SAMPLES:
        shown = printable(sample)
        assert len(shown) == len(sample) and not FORBIDDEN.search(shown)
    cell = safe_cell("disk at [/srv] failed")
    assert isinstance(cell, Text) and cell.plain == "disk at [/srv] failed" and not cell.spans
    styled = Text("ok ")
    styled.append("\x1b[31m", style="red")
    cell = safe_cell(styled)
    assert isinstance(cell, Text) and cell.plain == "ok ␛[31m" and cell.spans == styled.spans
    assert styled.plain == "ok \x1b[31m"  # the screen's own Text is left alone
    assert cell_text(safe_cell("x" * 100_000)) == "x" * 255 + "…"
    assert safe_cell(7) == 7


SAYS = """\
function on_event()
  log.warn(event.data.s)
  return event.data.s
end
"""
RAISES = "function on_event() error(event.data.s, 0) end\n"  # level 0: the message alone
REFUSES = "function on_event() return false, event.data.s end\n"
CHATTY = """\
function on_event()
  local all = event.data.all
  state.set(all[1], all[2])
  pcall(event.dispatch, all[3], {note = all[4]})  -- not a type: refused, and recorded
  http.get("http://127.0.0.1:9/" .. all[8])  -- loopback, nothing listens: an error
  for _, s in ipairs(all) do log.warn(s) end
  error(table.concat(all, "\\n"), 0)
end
"""
# The engine refuses a lone surrogate in event data (it cannot be stored as UTF-8).
STORABLE = [s for s in SAMPLES if not any("\ud800" <= c <= "\udfff" for c in s)]
SMALL = [s for s in STORABLE if len(s) < 1000]
BIG = [s for s in STORABLE if len(s) >= 1000]


def needle(text: str) -> str:
    """What of `text` a screen at least shows, whole, on one line."""
    return printable(text, lines=True).split("\n")[0][:60].strip()


async def open_detail(pilot, app: SlothApp, screen: ExecutionsScreen, key: str) -> None:
    screen.table.move_cursor(row=[run_key(r) for r in screen.shown].index(key))
    await press_now(pilot, "enter")
    await wait_for(pilot, lambda: isinstance(app.screen, ExecutionDetailScreen))
    detail = app.screen
    await wait_for(pilot, lambda: detail.event is not None)


async def test_what_hooks_say_is_shown_as_text(engine: Engine, make_app, tmp_path: Path) -> None:
    """Logs, errors and results with markup, escape sequences and odd Unicode in them: the
    list opens (a `[/srv]` in an error used to crash it every time), every cell holds the
    text as written, the detail of a run shows it literally, and no control byte is drawn."""
    await add(engine, tmp_path, "says", ["task.failed"], SAYS)
    await add(engine, tmp_path, "raises", ["task.failed"], RAISES)
    await add(engine, tmp_path, "refuses", ["task.failed"], REFUSES)
    await add(engine, tmp_path, "chatty", ["task.retrying"], CHATTY)
    said: dict[int, str] = {}
    for sample in reversed(STORABLE):  # the markup ones newest: on screen
        event = await engine.dispatch("task.failed", {"s": sample}, source="demo")
        said[event.id] = sample
    chatty = await engine.dispatch("task.retrying", {"all": SMALL}, source="demo")
    await engine.wait_idle()
    app = make_app(engine)
    async with app.run_test(size=(200, 100)) as pilot:
        screen = await executions_screen(pilot, app)
        await wait_for(pilot, lambda: len(screen.shown) == 3 * len(STORABLE) + 1)
        await pilot.pause()
        text = assert_clean(app)
        assert "disk at [/srv] failed" in text and "[completed]" in text

        table = screen.table
        for ex in screen.shown:  # the detail column: the error, or the last log line
            said_last = ex.error or (ex.logs[-1].message if ex.logs else "")
            assert cell_text(table.get_row(run_key(ex))[-1]) == clip(said_last, DETAIL_WIDTH)
            if ex.event_id in said:
                wanted = printable(said[ex.event_id].replace("\n", " "))[:40]
                assert wanted in clip(said_last, DETAIL_WIDTH), (ex.hook, wanted)

        # every small sample as a log line and as a line of the error, in one run's detail,
        # and some in the calls it made
        [run] = [r for r in screen.shown if r.event_id == chatty.id]
        await open_detail(pilot, app, screen, run_key(run))
        await wait_for(pilot, lambda: all(needle(s) in drawn(app) for s in SMALL))
        text = assert_clean(app)
        for sample in SMALL[:12]:  # markup: shown as written, in the log and in the error
            assert text.count(sample) >= 2, sample
        assert f"state.set {SMALL[0]} = {SMALL[1]}" in text
        assert f"dispatch {SMALL[2]}" in text
        assert f"GET http://127.0.0.1:9/{SMALL[7]}" in text
        await press_now(pilot, "escape")
        await wait_for(pilot, lambda: app.screen is screen)

        # the big ones, each in its own run; a result, shown as the JSON it returned
        runs = {(r.hook, said.get(r.event_id)): r for r in screen.shown}
        for hook, sample in [*(("raises", s) for s in BIG), ("says", "disk at [/srv] failed")]:
            await open_detail(pilot, app, screen, run_key(runs[hook, sample]))
            await wait_for(pilot, lambda sample=sample: needle(sample) in drawn(app))
            text = assert_clean(app)
            if hook == "says":
                assert 'returned "disk at [/srv] failed"' in text
            await press_now(pilot, "escape")
            await wait_for(pilot, lambda: app.screen is screen)
        assert app.is_running


# -- a run's detail closed while it still loads ------------------------------------------


async def test_closing_a_run_while_its_event_loads(
    engine: Engine, make_app, tmp_path: Path, monkeypatch
) -> None:
    """Found by the monkey: Escape on a run's detail before its event had loaded; the load
    then drew into the closing screen (NoMatches '#xd-title') and the app died."""
    await add(engine, tmp_path, "count", ["task.*"], WORKS)
    event, _ = await engine.dispatch_and_run("task.started", {"n": 1}, source="demo")
    gate = asyncio.Event()

    async def slow_get_event(event_id: int) -> Event:
        await gate.wait()
        return event

    monkeypatch.setattr(engine, "get_event", slow_get_event)
    # The store answers just as the screen goes: its widgets are leaving, the screen (and
    # so its workers) not yet.
    monkeypatch.setattr(ExecutionView, "on_unmount", lambda self: gate.set(), raising=False)
    app = make_app(engine)
    async with app.run_test(size=SIZE) as pilot:
        screen = await executions_screen(pilot, app)
        await wait_for(pilot, lambda: len(screen.shown) == 1)
        for _ in range(3):
            gate.clear()
            await press_now(pilot, "enter")
            await wait_for(pilot, lambda: isinstance(app.screen, ExecutionDetailScreen))
            detail = app.screen
            await press_now(pilot, "escape")
            await wait_for(pilot, lambda: app.screen is screen and gate.is_set())
            await pilot.pause()
            assert app.is_running and app._exception is None
            assert isinstance(detail, ExecutionDetailScreen)
            detail._show()  # what a late answer does: nothing, the screen is gone
