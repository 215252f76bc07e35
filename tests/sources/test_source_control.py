"""Issue 16 item 7, the engine side: per-source figures counted by the wiring, and the
control of a source's items (a schedule: enable, disable, run once) through a real
engine, an in-process socket and a real `serve`, landing where `sloth-tui schedule`
reads and writes."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sourcekit import DaemonProcess, events_of, run_cli, write_config

from sloth_tui.config import Settings, load_settings
from sloth_tui.engine.api import EngineAPI
from sloth_tui.engine.engine import Engine
from sloth_tui.model.errors import EventRefused, SlothError
from sloth_tui.model.stats import SourceHealth, SourceItem
from sloth_tui.remote.client import RemoteEngine
from sloth_tui.remote.server import SocketServer
from sloth_tui.sources.schedule_clock import ManualClock
from sloth_tui.sources.schedule_store import cli_path, config_schedules
from sloth_tui.sources.schedules import ScheduleSource
from sloth_tui.sources.status import Status
from sloth_tui.sources.wiring import SourceSet

T0 = datetime(2026, 3, 1, 10, 0, tzinfo=UTC).timestamp()

SCHEDULES = """\
[[schedules]]
name = "nightly"
cron = "0 2 * * *"
workflow_name = "backup"
"""


class PokeSource:
    """A producer the test drives by hand: whatever it hands in, the wiring counts."""

    def __init__(self, name: str = "poke") -> None:
        self.name = name
        self.api: EngineAPI | None = None
        self._status = Status(name, "poke")

    async def start(self, api: EngineAPI) -> None:
        self.api = api
        self._status.running()

    async def stop(self) -> None:
        self._status.stopped()

    def health(self) -> SourceHealth:
        return self._status.health("poking")


def cli_list(home: Path) -> dict[str, dict[str, Any]]:
    """`sloth-tui schedule list --json`, by name: what an operator's CLI sees."""
    done = run_cli("--home", str(home), "schedule", "list", "--json")
    assert done.returncode == 0, done.stderr
    return {row["name"]: row for row in json.loads(done.stdout)}


@pytest.fixture
def sched_settings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Settings:
    monkeypatch.delenv("SLOTH_TUI_HOME", raising=False)
    home = tmp_path / "home"
    home.mkdir()
    write_config(home, SCHEDULES)
    return load_settings(home)


# -- the counting wrapper ----------------------------------------------------------------


async def test_the_wiring_counts_each_sources_events_refusals_and_last_event(
    settings: Settings, engine: Engine
) -> None:
    now = [T0]
    a, b = PokeSource("a"), PokeSource("b")
    sources = SourceSet([a, b], clock=lambda: now[0])
    engine.report_sources(sources.health)
    await sources.start(engine)
    assert a.api is not None and b.api is not None
    before = {h.name: h for h in await engine.source_health()}
    assert (before["a"].events, before["a"].last_event, before["a"].errors) == (0, None, 0)
    stored = await engine.count_events()

    await a.api.dispatch("custom", {"name": "x", "message": "1"}, source="socket")
    now[0] = T0 + 5
    await a.api.dispatch_and_run("custom", {"name": "x", "message": "2"}, source="socket")
    with pytest.raises(EventRefused):
        await a.api.dispatch("Not A Type!", {}, source="socket")
    results = await b.api.dispatch_batch(
        [
            ("custom", {"name": "y", "message": "ok"}, "socket", None),
            ("Bad Type", {}, "socket", None),
            ("custom", {"name": "y", "message": "ok 2"}, "socket", None),
        ]
    )
    assert sum(isinstance(r, EventRefused) for r in results) == 1
    # Everything else is the engine's own, passed through.
    assert await a.api.count_events() == stored + 4

    health = {h.name: h for h in await engine.source_health()}
    assert (health["a"].events, health["a"].errors, health["a"].last_event) == (2, 1, T0 + 5)
    assert (health["b"].events, health["b"].errors, health["b"].last_event) == (2, 1, T0 + 5)
    assert health["a"].state == "running" and health["a"].detail == "poking"
    # The figures travel: to_dict/from_dict keep them, and an older reply has none.
    assert SourceHealth.from_dict(health["a"].to_dict()) == health["a"]
    old = SourceHealth.from_dict({"name": "x", "kind": "y", "state": "running"})
    assert (old.events, old.last_event, old.errors) == (0, None, 0)
    await sources.stop(None, "test")


async def test_a_replaced_source_starts_counting_afresh(settings: Settings, engine: Engine) -> None:
    old = PokeSource("w")
    sources = SourceSet([old])
    await sources.start(engine)
    assert old.api is not None
    await old.api.dispatch("custom", {"name": "w", "message": "m"}, source="socket")
    new = PokeSource("w")
    await sources.replace("poke", [new])
    [line] = sources.health()
    assert line.events == 0
    assert new.api is not None
    await new.api.dispatch("custom", {"name": "w", "message": "m"}, source="socket")
    assert sources.health()[0].events == 1
    await sources.stop(None, "test")


# -- controlling a schedule ----------------------------------------------------------------


async def started(settings: Settings) -> tuple[Engine, SourceSet, ScheduleSource]:
    engine = await Engine.open(settings, lifecycle=True)
    source = ScheduleSource(settings, config_schedules(settings), clock=ManualClock(T0))
    sources = SourceSet([source, PokeSource()])
    engine.report_sources(sources.health)
    engine.report_controls(sources)
    await sources.start(engine)
    return engine, sources, source


async def test_a_schedule_is_switched_and_run_through_the_engine(sched_settings: Settings) -> None:
    home = sched_settings.home
    engine, sources, schedules = await started(sched_settings)
    try:
        [item] = await engine.source_items()
        assert item == SourceItem(
            "schedules", "nightly", True, ("enable", "disable", "run"), item.detail
        )
        assert "0 2 * * *" in item.detail

        line = await engine.control_source("schedules", "nightly", "disable")
        assert line == "disabled schedule nightly"
        # Written where the CLI writes it: config.toml's schedule gets a switch.
        saved = json.loads(cli_path(sched_settings).read_text())
        assert saved["config_switches"]["nightly"]["enabled"] is False
        assert cli_list(home)["nightly"]["enabled"] is False
        assert (await engine.source_items())[0].enabled is False  # at once, not next tick
        [disabled] = events_of(home, "schedule.disabled")
        assert disabled["data"] == {"schedule_name": "nightly", "disabled_by": "dashboard"}
        again = await engine.control_source("schedules", "nightly", "disable")
        assert again == "schedule nightly was already disabled"
        assert len(events_of(home, "schedule.disabled")) == 1

        assert await engine.control_source("schedules", "nightly", "enable") == (
            "enabled schedule nightly"
        )
        assert cli_list(home)["nightly"]["enabled"] is True

        line = await engine.control_source("schedules", "nightly", "run")
        assert "ran schedule nightly once" in line
        [fired] = events_of(home, "schedule.triggered")
        assert fired["data"]["manual"] is True and fired["data"]["schedule_name"] == "nightly"
        assert fired["source"] == "schedule:nightly"
        assert schedules.fired == 1 and "(1 by hand)" in schedules.health().detail
        # The wiring counted what the schedule source handed in: enabled, disabled, run.
        [health, _poke] = await engine.source_health()
        assert (health.name, health.events, health.errors) == ("schedules", 3, 0)
        assert health.last_event is not None
    finally:
        await sources.stop(engine, "test")


@pytest.mark.parametrize(
    ("source", "item", "action", "says"),
    [
        ("schedules", "nightly", "explode", "unknown action 'explode'"),
        ("nowhere", "nightly", "run", "no source named 'nowhere'"),
        ("poke", "x", "run", "poke: has nothing to enable, disable or run"),
        ("schedules", "daily", "run", "no schedule named 'daily'"),
    ],
)
async def test_what_a_source_does_not_have_is_a_one_line_refusal(
    sched_settings: Settings, source: str, item: str, action: str, says: str
) -> None:
    engine, sources, _ = await started(sched_settings)
    try:
        with pytest.raises(SlothError) as caught:
            await engine.control_source(source, item, action)
        assert says in str(caught.value) and "\n" not in str(caught.value)
        assert events_of(sched_settings.home, "schedule.*") == []
    finally:
        await sources.stop(engine, "test")


async def test_an_item_that_does_not_take_an_action_is_refused_by_the_wiring(
    settings: Settings, engine: Engine
) -> None:
    class RunOnly(PokeSource):
        ran = 0

        def control_items(self) -> list[SourceItem]:
            return [SourceItem(self.name, "probe", None, ("run",))]

        async def control(self, item: str, action: str) -> str:
            self.ran += 1
            return f"ran {item}\nsecond line"

    source = RunOnly("probe-source")
    sources = SourceSet([source])
    engine.report_controls(sources)
    await sources.start(engine)
    with pytest.raises(SlothError, match="probe-source: probe: cannot enable"):
        await engine.control_source("probe-source", "probe", "enable")
    assert source.ran == 0
    # A source's answer is one line, whatever it says.
    assert await engine.control_source("probe-source", "probe", "run") == "ran probe second line"


async def test_an_engine_without_sources_has_no_items_and_refuses(engine: Engine) -> None:
    assert await engine.source_items() == []
    with pytest.raises(SlothError, match="runs no sources"):
        await engine.control_source("schedules", "nightly", "run")


async def test_control_through_an_in_process_socket(sched_settings: Settings) -> None:
    engine, sources, _ = await started(sched_settings)
    server = SocketServer(engine, sched_settings.socket_path)
    await server.start()
    remote = await RemoteEngine.open(sched_settings, sched_settings.socket_path)
    try:
        [item] = await remote.source_items()
        assert (item.source, item.name, item.enabled) == ("schedules", "nightly", True)
        assert await remote.control_source("schedules", "nightly", "disable") == (
            "disabled schedule nightly"
        )
        assert cli_list(sched_settings.home)["nightly"]["enabled"] is False
        assert "ran schedule" in await remote.control_source("schedules", "nightly", "run")
        with pytest.raises(SlothError, match="unknown action"):
            await remote.control_source("schedules", "nightly", "explode")
        [health, _] = await remote.source_health()
        assert health.events == 2  # schedule.disabled, schedule.triggered
    finally:
        await remote.close()
        await server.stop_intake(timeout=2)
        await server.close(timeout=0.2)
        await sources.stop(engine, "test")


async def test_a_real_serve_switches_and_runs_its_schedule(
    daemons: Callable[..., DaemonProcess], tmp_path: Path
) -> None:
    home = tmp_path / "home"
    home.mkdir()
    write_config(home, SCHEDULES)
    daemon = daemons(home).start("--no-monitor")
    remote = await RemoteEngine.open(load_settings(home), daemon.socket)
    try:
        items = await remote.source_items()
        assert [(i.source, i.name) for i in items] == [("schedules", "nightly")]
        assert await remote.control_source("schedules", "nightly", "disable") == (
            "disabled schedule nightly"
        )
        assert cli_list(home)["nightly"]["enabled"] is False
        # The CLI's switch reaches the serve's source too (it re-reads the file).
        done = run_cli("--home", str(home), "schedule", "enable", "nightly")
        assert done.returncode == 0, done.stderr
        await wait_items(remote, lambda its: its[0].enabled is True)
        assert "ran schedule" in await remote.control_source("schedules", "nightly", "run")
        [fired] = events_of(home, "schedule.triggered")
        assert fired["data"]["manual"] is True
        health = {h.name: h for h in await remote.source_health()}
        assert health["schedules"].events >= 2 and health["schedules"].last_event is not None
    finally:
        await remote.close()


async def wait_items(remote: RemoteEngine, ok: Callable[[list[SourceItem]], bool]) -> None:
    deadline = asyncio.get_running_loop().time() + 10
    while not ok(await remote.source_items()):
        assert asyncio.get_running_loop().time() < deadline, "the items never changed"
        await asyncio.sleep(0.05)
