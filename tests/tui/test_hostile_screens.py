"""Hostile text from outside on every screen: shown as text, never read as markup, and no
terminal control byte (ESC, BEL, C1, ...) reaches the rendered output.

Real engine, real hooks running real Lua that logs, fails and returns hostile strings,
real files whose paths hold markup and escape sequences.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import pytest
from hostile import SAMPLES, hostile_text
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from rich.cells import cell_len
from textual.widgets import Input
from tui_helpers import wait_for as _wait_for

from sloth_tui.config import load_settings
from sloth_tui.engine.engine import Engine
from sloth_tui.model.records import Event, Execution, Hook
from sloth_tui.tui.app import SlothApp
from sloth_tui.tui.screens.catalog import CatalogScreen
from sloth_tui.tui.screens.confirm import ConfirmScreen
from sloth_tui.tui.screens.detail import DetailScreen
from sloth_tui.tui.screens.events import EventsScreen
from sloth_tui.tui.screens.execution_detail import ExecutionDetailScreen
from sloth_tui.tui.screens.executions import ExecutionsScreen
from sloth_tui.tui.screens.fire import FireScreen
from sloth_tui.tui.screens.help import HelpScreen
from sloth_tui.tui.screens.hook_editor import HookEditorScreen
from sloth_tui.tui.screens.hooks import HooksScreen
from sloth_tui.tui.screens.jump_time import JumpTimeScreen
from sloth_tui.tui.screens.new_hook import NewHookScreen
from sloth_tui.tui.screens.stats import StatsScreen
from sloth_tui.tui.widgets.table_fit import printable

SIZE = (160, 50)
# What must never reach the terminal: C0 controls (tab and newline too: inside a line they
# break the layout), DEL, C1 (0x9b is a CSI on its own), and bidi overrides / isolates.
FORBIDDEN = re.compile("[\x00-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")
# The engine refuses a lone surrogate (it cannot be stored as UTF-8): not a screen's case.
SAFE_FOR_ENGINE = [s for s in SAMPLES if not any("\ud800" <= c <= "\udfff" for c in s)]
SMALL = [s for s in SAFE_FOR_ENGINE if len(s) < 1000]
BIG = [s for s in SAFE_FOR_ENGINE if len(s) >= 1000]
DISK = "disk at [/srv] failed"
WAIT = 15.0  # seconds: a bound, not a delay; the machine running the suite may be busy


def lua(text: str) -> str:
    """A Lua string literal holding exactly the UTF-8 bytes of `text`."""
    return '"' + "".join(f"\\{b}" for b in text.encode()) + '"'


def rendered(app: SlothApp) -> str:
    """The text of every segment the terminal would be sent for the screen on top."""
    strips = app.screen._compositor.render_strips()
    return "\n".join("".join(s.text for s in strip if not s.control) for strip in strips)


def assert_clean(app: SlothApp) -> str:
    """No control byte in what is drawn (nor in an SVG export); returns the screen's text."""
    text = rendered(app)
    bad = FORBIDDEN.search(text.replace("\n", " "))  # lines are joined by newlines
    assert bad is None, (
        f"{bad.group()!r} reaches the terminal on {type(app.screen).__name__}: "
        f"{text[max(0, bad.start() - 60) : bad.end() + 60]!r}"
    )
    svg = app.export_screenshot()
    assert not FORBIDDEN.search(svg.replace("\n", "")), "a control byte in the SVG export"
    return text


async def wait_for(pilot, predicate, timeout: float = WAIT) -> None:
    await _wait_for(pilot, predicate, timeout)


async def shows(pilot, app: SlothApp, *texts: str, timeout: float = WAIT) -> str:
    """Wait until the screen shows every one of `texts`, then check it is clean."""
    try:
        await wait_for(pilot, lambda: all(t in rendered(app) for t in texts), timeout)
    except AssertionError:
        missing = [t for t in texts if t not in rendered(app)]
        raise AssertionError(f"not on screen: {missing!r}\n{rendered(app)}") from None
    return assert_clean(app)


@dataclass
class World:
    hook: Hook  # description, path, logs, error: all hostile
    other: Hook  # returns a hostile string; a pattern with brackets
    parent: Event  # hostile data and source, two runs, one child
    child: Event  # data holds [/bold]
    custom: Event
    runs: list[Execution]
    hook_dir: Path


HOOK_LUA = """\
-- a comment with raw control bytes: \x1b]0;pwned\x07 \x9b31m and markup [/srv] [bold]
function on_event()
{logs}
  log.warn({disk})
  event.dispatch("deploy.rollback", {{reason = {bold}, note = {osc}}})
  error({error})
end
"""
OTHER_LUA = """\
function on_event()
  log.info({markup})
  return {result}
end
"""


async def build_world(engine: Engine, tmp_path: Path) -> World:
    # A real folder whose path holds a closing tag and an escape sequence.
    hook_dir = tmp_path / "hooks [/x] [bold]\x1b[31m" / "x]"
    hook_dir.mkdir(parents=True)
    path = hook_dir / "h [bold]\x1b]0;t\x07.lua"
    logs = "\n".join(f"  log.info({lua(s)})" for s in SMALL)
    path.write_bytes(
        HOOK_LUA.format(
            logs=logs,
            disk=lua(DISK),
            bold=lua("[/bold]"),
            osc=lua("\x1b]0;pwned\x07"),
            error=lua(DISK + " \x1b[2J\x9b31m"),
        ).encode()
    )
    hook = await engine.add_hook(
        "hostile", ["deploy.failed"], path, description="[/srv] bad \x1b[2J [bold]desc"
    )
    other_path = hook_dir / "other.lua"
    other_path.write_text(
        OTHER_LUA.format(
            markup=lua("[red on white]x[/]"), result=lua("[completed] \x1b]52;c;x\x07")
        )
    )
    other = await engine.add_hook(
        "returner", ["deploy.[fs]*", "custom"], other_path, description="[completed]"
    )
    data: dict[str, object] = {"service": DISK}
    for i, text in enumerate(SMALL):
        data[f"v{i}"] = text
        data[text or "(empty)"] = i
    for i, text in enumerate(BIG):
        data[f"big{i}"] = text
    parent = await engine.dispatch("deploy.failed", data, source="socket:[/srv]\x1b[2J")
    custom = await engine.dispatch(
        "custom",
        {"name": "[/srv]", "message": "\x1b]0;pwned\x07 [bold]", "[/x]": {"[/y]": ["[/z]"]}},
        source="socket:[@click=app.quit]q[/]",
    )
    await engine.wait_idle()
    [child] = await engine.child_events(parent.id)
    runs = await engine.executions_of(parent.id)
    return World(hook, other, parent, child, custom, runs, hook_dir)


@pytest.fixture
async def world(engine: Engine, tmp_path: Path) -> World:
    return await build_world(engine, tmp_path)


async def open_detail(pilot, app: SlothApp, event_id: int) -> DetailScreen:
    app.open_detail(event_id)
    await wait_for(
        pilot,
        lambda: (
            isinstance(app.screen, DetailScreen)
            and app.screen.event is not None
            and app.screen.event.id == event_id
        ),
    )
    return app.screen  # type: ignore[return-value]


async def test_events_and_event_detail(engine: Engine, make_app, world: World) -> None:
    app = make_app(engine)
    async with app.run_test(size=SIZE, notifications=True) as pilot:
        await shows(pilot, app, f"service={DISK}", "socket:[/srv]", "custom")

        detail = await open_detail(pilot, app, world.parent.id)
        await shows(pilot, app, "socket:[/srv]␛[2J", f'"service": "{DISK}"', '"[/bold]": 3')
        await shows(pilot, app, '"\\u001b]0;pwned\\u0007": 14', '"v17": "\\u009b31m"')
        runs = detail.query_one("#detail-execs")
        wanted = ("Hook runs", DISK, "hostile", "returner")

        def runs_in_view() -> bool:  # the detail reloads live: scroll again until they show
            runs.scroll_visible(top=True, animate=False)
            return all(t in rendered(app) for t in wanted)

        await wait_for(pilot, runs_in_view)
        text = await shows(pilot, app, *wanted)
        assert "[completed]" in text  # the child's status, in brackets, not swallowed
        assert f"{world.child.id}  deploy.rollback  [completed]  reason=[/bold]" in text

        await open_detail(pilot, app, world.child.id)
        await shows(pilot, app, '"reason": "[/bold]"', '"note": "\\u001b]0;pwned\\u0007"')

        await open_detail(pilot, app, world.custom.id)
        await shows(pilot, app, "socket:[@click=app.quit]q[/]", '"[/x]"', '"[/z]"')
        await pilot.press("e")  # edit+fire: the data in the fire dialog
        await wait_for(pilot, lambda: isinstance(app.screen, FireScreen))
        await shows(pilot, app, '"name": "[/srv]"', "\\u001b]0;pwned")


async def test_hooks_screen_confirm_and_notifications(
    engine: Engine, make_app, world: World
) -> None:
    app = make_app(engine)
    async with app.run_test(size=SIZE, notifications=True) as pilot:
        await pilot.press("2")
        hooks = app.screen
        assert isinstance(hooks, HooksScreen)
        await wait_for(pilot, lambda: len(hooks.hooks) == 2)
        await shows(pilot, app, "[/srv] bad ␛[2J [bold]desc", "[completed]", "deploy.[fs]*")

        hooks.select("hostile")
        await pilot.press("d")
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmScreen))
        await shows(pilot, app, "[/x] [bold]␛[31m", "h [bold]␛]0;t␇.lua")
        await pilot.press("y")
        await wait_for(pilot, lambda: isinstance(app.screen, HooksScreen))
        await wait_for(pilot, lambda: len(hooks.hooks) == 1)
        await shows(pilot, app, "Deleted hook hostile", "[/x]")


async def test_executions_screen(engine: Engine, make_app, world: World) -> None:
    app = make_app(engine)
    async with app.run_test(size=SIZE, notifications=True) as pilot:
        await pilot.press("3")
        assert isinstance(app.screen, ExecutionsScreen)
        await shows(pilot, app, DISK, "hostile", "returner")


async def test_execution_detail(engine: Engine, make_app, world: World) -> None:
    failed = next(r for r in world.runs if r.hook == "hostile")
    returned = next(r for r in world.runs if r.hook == "returner")
    app = make_app(engine)
    async with app.run_test(size=SIZE, notifications=True) as pilot:
        app.push_screen(ExecutionDetailScreen(failed))
        text = await shows(pilot, app, DISK, "␛[2J\ufffd31m", "[/bold]", "[completed]")
        for sample in ("[/srv]", "[@click=app.quit]quit[/]", "␛]0;pwned␇", "\ufffd31m"):
            assert sample in text
        await pilot.press("r")  # a dry re-run, shown under the original
        await shows(pilot, app, "Re-run with the current code")
        await pilot.press("escape")
        app.push_screen(ExecutionDetailScreen(returned))
        await shows(pilot, app, '"[completed] \\u001b]52;c;x\\u0007"', "[red on white]x[/]")


async def test_stats_catalog_and_help(engine: Engine, make_app, world: World) -> None:
    app = make_app(engine)
    async with app.run_test(size=SIZE, notifications=True) as pilot:
        await pilot.press("4")
        assert isinstance(app.screen, StatsScreen)
        await shows(pilot, app, "deploy.failed", "hostile")
        await pilot.press("5")
        assert isinstance(app.screen, CatalogScreen)
        await shows(pilot, app, "agent.registered")
        await pilot.press("question_mark")
        assert isinstance(app.screen, HelpScreen)
        await shows(pilot, app, "Event detail")


async def test_a_hostile_data_dir_in_the_top_bar(
    tmp_path: Path, make_app, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("SLOTH_TUI_HOME", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))  # shown as ~/...
    settings = load_settings(tmp_path / "home [/x]\x1b]0;t\x07")  # the app opens its engine
    app = make_app(settings)
    async with app.run_test(size=SIZE, notifications=True) as pilot:
        await shows(pilot, app, "embedded ~/home [/x]␛]0;t␇")
        await pilot.press("2")
        await shows(pilot, app, "embedded ~/home [/x]␛]0;t␇")


async def test_fire_dialog(engine: Engine, make_app, world: World) -> None:
    app = make_app(engine)
    async with app.run_test(size=SIZE, notifications=True) as pilot:
        # Only catalog fields, with hostile values: the form would put them in Inputs.
        app.open_fire("deploy.failed", {"service": DISK + "\x1b[2J", "error": "\x9b31m[bold]"})
        await wait_for(pilot, lambda: isinstance(app.screen, FireScreen))
        fire = app.screen
        await wait_for(pilot, lambda: fire.form_type == "deploy.failed")
        await shows(pilot, app, DISK)
        await pilot.press("ctrl+s")  # fired exactly as given
        await wait_for(pilot, lambda: not isinstance(app.screen, FireScreen))
        await engine.store.flush()
        [ev] = [e for e in await engine.query_events(None, limit=5) if e.source == "dashboard"]
        assert ev.data == {"service": DISK + "\x1b[2J", "error": "\x9b31m[bold]"}
        await pilot.pause()
        assert_clean(app)


async def test_new_hook_dialog(engine: Engine, make_app, world: World) -> None:
    app = make_app(engine)
    async with app.run_test(size=SIZE, notifications=True) as pilot:
        await pilot.press("2", "n")
        await wait_for(pilot, lambda: isinstance(app.screen, NewHookScreen))
        form = app.screen
        form.query_one("#nh-name", Input).value = "again"
        form.query_one("#nh-events", Input).value = "deploy.[bold]"
        form.query_one("#nh-desc", Input).value = "[/srv] [bold]"
        form.query_one("#nh-file", Input).value = str(world.hook_dir / "other.lua")
        await shows(pilot, app, "deploy.[bold] matches nothing", "[/x] [bold]␛[31m/x]/other")
        await pilot.press("ctrl+s")
        await wait_for(pilot, lambda: isinstance(app.screen, HookEditorScreen))
        # the notifications: the unmatched pattern, the created hook's file
        await shows(pilot, app, "deploy.[bold] matches nothing", "Created hook again")
        hook = await engine.get_hook("again")
        assert hook.description == "[/srv] [bold]" and hook.events == ["deploy.[bold]"]


async def test_hook_editor_and_dry_run(engine: Engine, make_app, world: World) -> None:
    app = make_app(engine)
    async with app.run_test(size=SIZE, notifications=True) as pilot:
        app.push_screen(HookEditorScreen(world.hook))
        await wait_for(pilot, lambda: isinstance(app.screen, HookEditorScreen))
        editor = app.screen
        await shows(pilot, app, "[/x] [bold]", "h [bold]", "and markup [/srv] [bold]")
        await pilot.press("ctrl+r")
        await wait_for(pilot, lambda: editor.panel.last_dry is not None)
        await shows(pilot, app, DISK, "Logs (")
        await pilot.press("ctrl+s")  # the notification names the file
        await shows(pilot, app, "saved h [bold]")


def _no_surrogate(text: str) -> bool:
    return not any("\ud800" <= c <= "\udfff" for c in text)


@settings(
    max_examples=6,  # each starts a dashboard: ~3 s here, shared cores
    deadline=None,
    database=None,  # nothing written into the working tree
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(texts=st.lists(hostile_text(60).filter(_no_surrogate), min_size=1, max_size=4))
async def test_any_text_on_event_detail_and_hooks(
    engine: Engine, make_app, texts: list[str]
) -> None:
    """A few texts per example (a dashboard costs a second to start): as hook descriptions,
    data keys and values, and the event's source."""
    hook_dir = engine.settings.hooks_dir
    hook_dir.mkdir(parents=True, exist_ok=True)
    path = hook_dir / "h.lua"
    path.write_text("function on_event() return true end\n")
    for hook in await engine.list_hooks():
        await engine.delete_hook(hook.name)
    data: dict[str, object] = {}
    for i, text in enumerate(texts):
        await engine.add_hook(f"h{i}", ["custom"], path, description=text)
        data[f"k{i}"] = text
        data[text or f"(empty {i})"] = [text, {"n": text}]
    event = await engine.dispatch("custom", data, source=f"socket:{texts[0]}")
    await engine.wait_idle()
    app = make_app(engine)
    async with app.run_test(size=(120, 40), notifications=True) as pilot:
        detail = await open_detail(pilot, app, event.id)
        await wait_for(pilot, lambda: len(detail.executions) == len(texts))
        await pilot.pause()
        text = assert_clean(app)
        source = printable(f"socket:{texts[0]}")
        if cell_len(source) <= 90:  # on one line of the source row
            assert source in text
        await pilot.press("escape", "2")
        hooks = app.screen
        assert isinstance(hooks, HooksScreen)
        await wait_for(pilot, lambda: hooks.table.row_count == len(texts))
        await pilot.pause()
        assert_clean(app)


async def test_split_view_and_jump_dialog(engine: Engine, make_app, world: World) -> None:
    """Issue 12's split view shows the highlighted event's fields, data and hook runs; the
    jump dialog's error quotes what was typed. All of it as plain text."""
    app = make_app(engine)
    async with app.run_test(size=SIZE, notifications=True) as pilot:
        screen = app.screen
        assert isinstance(screen, EventsScreen)
        await shows(pilot, app, "socket:[/srv]")
        await pilot.press("v")
        screen.table.move_cursor(screen.feed.index_of(world.parent.id))
        await shows(pilot, app, "socket:[/srv]␛[2J", f'"service": "{DISK}"')
        screen.table.move_cursor(screen.feed.index_of(world.custom.id))
        await shows(pilot, app, "socket:[@click=app.quit]q[/]", '"[/x]"')
        await pilot.press("t")
        await wait_for(pilot, lambda: isinstance(app.screen, JumpTimeScreen))
        await pilot.press(*"[bold]x[/]", "enter")
        await shows(pilot, app, "'[bold]x[/]'")
        assert isinstance(app.screen, JumpTimeScreen)
