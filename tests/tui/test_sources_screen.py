"""Issue 16 item 7: the Sources screen (key 6) on a real engine whose SourceSet holds a
real schedule source (as `serve` wires it: the dashboard's embedded engine runs no
schedules), driven by Pilot: every source with its figures, the highlighted source's
items, and e / d / r landing in schedules.json and the store. Names and details from
strangers are shown as text."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
from sourcekit import DaemonProcess, run_cli, write_config
from tui_helpers import screen_text, wait_for

from sloth_tui.config import Settings
from sloth_tui.engine.api import EngineAPI
from sloth_tui.engine.engine import Engine
from sloth_tui.model.stats import SourceHealth
from sloth_tui.remote.client import RemoteEngine
from sloth_tui.sources.schedule_clock import ManualClock
from sloth_tui.sources.schedule_spec import ScheduleSpec
from sloth_tui.sources.schedule_store import CliSchedules, cli_path, save_cli
from sloth_tui.sources.schedules import ScheduleSource
from sloth_tui.sources.status import Status
from sloth_tui.sources.wiring import SourceSet
from sloth_tui.tui.screens.sources import COLUMNS, RateWindow, SourcesScreen

HOSTILE_NAME = "[bold red]x[/]\x1b[31m"
HOSTILE_DETAIL = "[link=http://x]y[/link] \x1b]8;;evil\x07 \x07bell\u202e"
SIZE = (140, 40)


class PokeSource:
    """A producer with a stranger's name and detail, handing events in when told."""

    def __init__(self, name: str, detail: str) -> None:
        self.name = name
        self.detail = detail
        self.api: EngineAPI | None = None
        self._status = Status(name, "poke")

    async def start(self, api: EngineAPI) -> None:
        self.api = api
        self._status.running()

    async def stop(self) -> None:
        self._status.stopped()

    def health(self) -> SourceHealth:
        return self._status.health(self.detail)


def stored(engine_home: Any, type_name: str) -> list[dict[str, Any]]:
    import sqlite3

    conn = sqlite3.connect(f"file:{engine_home / 'sloth.db'}?mode=ro", uri=True, timeout=5)
    try:
        rows = conn.execute("SELECT data FROM events WHERE type = ?", (type_name,)).fetchall()
    finally:
        conn.close()
    return [json.loads(r[0]) for r in rows]


def switched_off(settings: Settings) -> bool | None:
    path = cli_path(settings)
    if not path.exists():
        return None
    [entry] = json.loads(path.read_text())["schedules"]
    return not entry["enabled"]


@pytest.fixture
async def served(settings: Settings, engine: Engine) -> AsyncIterator[tuple[SourceSet, PokeSource]]:
    """The test engine with serve's wiring: a schedule source and a hostile producer."""
    save_cli(
        cli_path(settings),
        CliSchedules(
            specs=(
                ScheduleSpec(name="nightly", cron="0 2 * * *", origin="cli", changed=time.time()),
            )
        ),
    )
    poke = PokeSource(HOSTILE_NAME, HOSTILE_DETAIL)
    schedules = ScheduleSource(settings, (), clock=ManualClock(time.time()))
    sources = SourceSet([poke, schedules])
    engine.report_sources(sources.health)
    engine.report_controls(sources)
    await sources.start(engine)
    try:
        yield sources, poke
    finally:
        await sources.stop(None, "test")


def row_of(text: str, needle: str) -> str:
    return next(line for line in text.splitlines() if needle in line)


def cell(screen: SourcesScreen, source: str, column: str) -> str:
    """What the sources table shows for `source` in `column` (all columns shown at SIZE)."""
    value = screen.table.get_row(source)[COLUMNS.index(column)]
    return str(getattr(value, "plain", value))


def item_row(app: Any) -> str:
    """The schedule's line in the items table (the source's detail names it too)."""
    lines = [ln for ln in screen_text(app).splitlines() if ln.lstrip().startswith("nightly")]
    return lines[0] if lines else ""


async def test_the_sources_screen_lists_and_controls_a_schedule(
    settings: Settings,
    engine: Engine,
    served: tuple[SourceSet, PokeSource],
    make_app: Callable[..., Any],
) -> None:
    _, poke = served
    assert poke.api is not None
    for n in range(3):
        await poke.api.dispatch("custom", {"name": "p", "message": str(n)}, source="socket")
    app = make_app(engine)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("6")
        await wait_for(pilot, lambda: isinstance(app.screen, SourcesScreen), timeout=5)
        screen = app.screen
        assert isinstance(screen, SourcesScreen)
        await wait_for(pilot, lambda: "schedules" in screen_text(app), timeout=10)
        text = screen_text(app)
        # The stranger's name and detail: shown as the characters they are.
        hostile = row_of(text, "[bold red]x[/]")
        assert "␛[31m" in hostile and "[link=http://x]y[/link]" in hostile
        assert "running" in hostile
        assert cell(screen, HOSTILE_NAME, "events") == "3"  # counted by the wiring
        assert cell(screen, HOSTILE_NAME, "errors") == "0"
        assert "\x1b" not in text and "\x07" not in text and "\u202e" not in text
        assert "s ago" in hostile  # last event, relative

        # The schedule source: highlight it, and its schedule is listed below.
        await pilot.press("j")
        await wait_for(pilot, lambda: "0 2 * * *" in item_row(app), timeout=5)
        assert "✓" in item_row(app) and "enable disable run" in item_row(app)
        await pilot.press("enter")  # into the items, and escape back out
        await wait_for(pilot, lambda: screen.focused is screen.item_table, timeout=5)
        await pilot.press("escape")
        await wait_for(pilot, lambda: screen.focused is screen.table, timeout=5)
        assert isinstance(app.screen, SourcesScreen)

        await pilot.press("d")
        await wait_for(pilot, lambda: switched_off(settings) is True, timeout=10)
        await wait_for(pilot, lambda: "✗ off" in item_row(app), timeout=10)
        assert stored(settings.home, "schedule.disabled") == [
            {"schedule_name": "nightly", "disabled_by": "dashboard"}
        ]

        await pilot.press("e")
        await wait_for(pilot, lambda: switched_off(settings) is False, timeout=10)

        await pilot.press("r")
        await wait_for(pilot, lambda: bool(stored(settings.home, "schedule.triggered")), timeout=10)
        [fired] = stored(settings.home, "schedule.triggered")
        assert fired["manual"] is True and fired["schedule_name"] == "nightly"
        # Enabled, disabled, run: the schedule source's three events, counted.
        await wait_for(pilot, lambda: cell(screen, "schedules", "events") == "3", timeout=10)
        assert cell(screen, "schedules", "last event").endswith("s ago")


async def test_an_action_a_source_cannot_take_is_a_toast_not_a_crash(
    settings: Settings,
    engine: Engine,
    served: tuple[SourceSet, PokeSource],
    make_app: Callable[..., Any],
) -> None:
    app = make_app(engine)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("6")
        await wait_for(pilot, lambda: "schedules" in screen_text(app), timeout=10)
        before = len(app._notifications)
        await pilot.press("r")  # the hostile source is highlighted: it has no items
        await wait_for(pilot, lambda: len(app._notifications) > before, timeout=5)
        [note] = list(app._notifications)[before:]
        assert "nothing to run" in note.message and "\x1b" not in note.message
        assert stored(settings.home, "schedule.triggered") == []


async def test_an_engine_without_sources_says_so(
    engine: Engine, make_app: Callable[..., Any]
) -> None:
    app = make_app(engine)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("6")
        await wait_for(pilot, lambda: "serves no sources" in screen_text(app), timeout=10)
        await pilot.press("e")  # nothing highlighted: a toast, not an error
        await pilot.pause()


def test_events_per_second_over_the_window() -> None:
    rates = RateWindow(window=10.0)
    assert rates.rate("a") is None
    rates.add("a", 0.0, 100)
    assert rates.rate("a") is None  # one sample: no rate yet
    rates.add("a", 2.0, 120)
    assert rates.rate("a") == 10.0
    for t in range(3, 30):
        rates.add("a", float(t), 120 + (t - 2) * 5)
    assert rates.rate("a") == pytest.approx(5.0)  # the old burst has left the window
    assert len(rates.samples["a"]) <= 12
    rates.add("a", 31.0, 3)  # the count fell: restarted, measured afresh
    assert rates.rate("a") is None
    rates.keep_only({"b"})
    assert rates.samples == {}


async def test_attached_to_a_real_serve_the_screen_switches_its_schedule(
    settings: Settings, make_app: Callable[..., Any]
) -> None:
    """The whole way: keys in the dashboard, the op on the socket, serve's schedule
    source, schedules.json, and `sloth-tui schedule list` in another process."""
    settings.home.mkdir(parents=True, exist_ok=True)
    write_config(settings.home, '[[schedules]]\nname = "nightly"\ncron = "0 2 * * *"\n')
    daemon = DaemonProcess(settings.home)
    try:
        await asyncio.to_thread(daemon.start, "--no-monitor", "--no-watchers")
        remote = await RemoteEngine.open(settings, daemon.socket)
        try:
            app = make_app(remote)
            async with app.run_test(size=SIZE) as pilot:
                await pilot.press("6")
                await wait_for(pilot, lambda: isinstance(app.screen, SourcesScreen), timeout=5)
                screen = app.screen
                assert isinstance(screen, SourcesScreen)
                await wait_for(pilot, lambda: "schedules" in screen._keys, timeout=10)
                for _ in range(len(screen._keys)):  # j down to serve's schedule source
                    current = screen.current_source()
                    if current is not None and current.name == "schedules":
                        break
                    await pilot.press("j")
                await wait_for(pilot, lambda: "0 2 * * *" in item_row(app), timeout=10)
                await pilot.press("d")
                await wait_for(pilot, lambda: "✗ off" in item_row(app), timeout=10)
                done = await asyncio.to_thread(
                    run_cli, "--home", str(settings.home), "schedule", "list", "--json"
                )
                assert done.returncode == 0, done.stderr
                [row] = json.loads(done.stdout)
                assert row["name"] == "nightly" and row["enabled"] is False
        finally:
            await remote.close()
    finally:
        daemon.kill()
