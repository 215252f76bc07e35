"""The schedule source on a real engine and store, driven by a ManualClock: fires on
time, in its timezone through DST, reports downtime once as schedule.missed, keeps its
marks across restarts, and one failing schedule never stops the others."""

from __future__ import annotations

import asyncio
import json
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sourcekit import async_wait_for, events_of

from sloth_tui.config import Settings, load_settings
from sloth_tui.engine.engine import Engine
from sloth_tui.engine.events import catalog_warnings
from sloth_tui.sources.options import SourceOptions
from sloth_tui.sources.registry import build_sources
from sloth_tui.sources.schedule_clock import ManualClock
from sloth_tui.sources.schedule_spec import ScheduleSpec
from sloth_tui.sources.schedule_store import CliSchedules, cli_path, save_cli, state_path
from sloth_tui.sources.schedules import ScheduleSource


def ts(text: str) -> float:
    """'2026-03-01T02:00:00' (UTC) -> epoch seconds."""
    return datetime.fromisoformat(text).replace(tzinfo=UTC).timestamp()


def spec(name: str, cron: str, **kw: Any) -> ScheduleSpec:
    return ScheduleSpec(name=name, cron=cron, **kw)


class Driver:
    """A source on a ManualClock: move the clock, and wait for the tick that follows."""

    def __init__(self, settings: Settings, specs: tuple[ScheduleSpec, ...], start: float) -> None:
        self.clock = ManualClock(start)
        self.source = ScheduleSource(settings, specs, clock=self.clock)
        self.home = settings.home

    async def start(self, engine: Engine) -> Driver:
        await self.source.start(engine)
        await self.idle()
        return self

    async def idle(self) -> None:
        await async_wait_for(lambda: self.clock.waiting == 1, what="the source to wait")

    async def to(self, when: float) -> None:
        """Move the clock to `when` and wait until the source has ticked and waits again."""
        before = self.source.ticks
        self.clock.set(when)
        deadline = time.monotonic() + 10
        while not (self.source.ticks > before and self.clock.waiting == 1):
            assert time.monotonic() < deadline, f"no tick after moving the clock to {when}"
            await asyncio.sleep(0.001)

    def events(self, type_glob: str = "schedule.*") -> list[dict[str, Any]]:
        return events_of(self.home, type_glob)


async def test_fires_on_time_not_before_with_the_catalog_fields(
    settings: Settings, engine: Engine
) -> None:
    nightly = spec("nightly", "0 2 * * *", workflow_name="backup-databases")
    d = await Driver(settings, (nightly,), ts("2026-03-01T01:59:00")).start(engine)
    try:
        assert d.events() == []  # first sight: nothing before it is "missed"
        await d.to(ts("2026-03-01T01:59:59"))
        assert d.events() == []
        await d.to(ts("2026-03-01T02:00:00"))
        [fired] = d.events()
        assert fired["type"] == "schedule.triggered"
        assert fired["source"] == "schedule:nightly"
        data = fired["data"]
        assert catalog_warnings("schedule.triggered", data) == []
        assert data["schedule_name"] == "nightly" and data["workflow_name"] == "backup-databases"
        assert data["schedule_id"] == nightly.schedule_id and data["schedule_id"].startswith(
            "sched-"
        )
        assert data["scheduled_for"] == "2026-03-01T02:00:00Z"
        assert (data["cron"], data["timezone"]) == ("0 2 * * *", "UTC")
        await d.to(ts("2026-03-01T23:00:00"))
        assert len(d.events()) == 1  # once a day, not once a tick
        await d.to(ts("2026-03-02T02:00:30"))
        assert [e["data"]["scheduled_for"] for e in d.events()] == [
            "2026-03-01T02:00:00Z",
            "2026-03-02T02:00:00Z",
        ]
        assert "2 fired" in d.source.health().detail
        assert d.source.health().state == "running"
    finally:
        await d.source.stop()
    assert d.source.health().state == "stopped"


async def test_the_configured_event_is_dispatched_with_its_data(
    settings: Settings, engine: Engine
) -> None:
    ping = spec("ping", "*/5 * * * *", event="custom", data={"name": "ping", "n": [1, 2]})
    d = await Driver(settings, (ping,), ts("2026-03-01T10:04:00")).start(engine)
    try:
        await d.to(ts("2026-03-01T10:05:00"))
        [trigger] = d.events()
        assert trigger["data"]["event"] == "custom"
        [custom] = d.events("custom")
        assert custom["data"] == {"name": "ping", "n": [1, 2]}
        assert custom["source"] == "schedule:ping"
    finally:
        await d.source.stop()


async def test_timezones_and_dst_are_cronsims(settings: Settings, engine: Engine) -> None:
    """02:30 Berlin: 01:30Z in winter, 00:30Z in summer; on the spring-forward night
    (02:30 does not exist) Debian cron's rule runs it at 03:00 CEST; on the fall-back
    night (02:30 happens twice) it runs once."""
    berlin = spec("berlin", "30 2 * * *", timezone="Europe/Berlin")
    d = await Driver(settings, (berlin,), ts("2026-03-27T12:00:00")).start(engine)
    try:
        t = ts("2026-03-27T12:00:00")
        while t < ts("2026-03-31T12:00:00"):
            t += 1800
            await d.to(t)
        spring = [e["data"]["scheduled_for"] for e in d.events()]
        assert spring == [
            "2026-03-28T01:30:00Z",
            "2026-03-29T01:00:00Z",
            "2026-03-30T00:30:00Z",
            "2026-03-31T00:30:00Z",
        ]
        assert d.events()[0]["data"]["scheduled_local"] == "2026-03-28T02:30:00+01:00"
        assert d.events()[1]["data"]["scheduled_local"] == "2026-03-29T03:00:00+02:00"
        t = ts("2026-10-24T12:00:00")
        await d.to(t)  # a jump of months: one fire, the rest reported missed once
        [missed] = d.events("schedule.missed")
        assert missed["data"]["last_expected_time"] == "2026-10-23T00:30:00Z"
        before = len(d.events("schedule.triggered"))
        while t < ts("2026-10-26T12:00:00"):
            t += 900
            await d.to(t)
        fall = [e["data"]["scheduled_for"] for e in d.events("schedule.triggered")[before:]]
        assert fall == ["2026-10-25T00:30:00Z", "2026-10-26T01:30:00Z"]
    finally:
        await d.source.stop()


async def test_downtime_is_reported_once_not_replayed(settings: Settings, engine: Engine) -> None:
    nightly = spec("nightly", "0 2 * * *")
    hourly = spec("hourly", "0 * * * *")
    first = await Driver(settings, (nightly, hourly), ts("2026-03-01T01:30:00")).start(engine)
    await first.to(ts("2026-03-01T02:00:05"))
    assert len(first.events("schedule.triggered")) == 2
    await first.source.stop()  # the engine is down from here ...

    # ... for three days and a bit.
    second = await Driver(settings, (nightly, hourly), ts("2026-03-04T03:10:00")).start(engine)
    try:
        missed = {e["data"]["schedule_name"]: e["data"] for e in second.events("schedule.missed")}
        assert set(missed) == {"nightly", "hourly"}
        n = missed["nightly"]
        assert catalog_warnings("schedule.missed", n) == []
        assert (n["missed_count"], n["missed_count_exact"]) == (3, True)
        assert n["expected_time"] == "2026-03-02T02:00:00Z"
        assert n["last_expected_time"] == "2026-03-04T02:00:00Z"
        assert n["actual_time"] == "2026-03-04T03:10:00Z"
        assert missed["hourly"]["missed_count"] == 73  # 03:00 on the 1st to 03:00 on the 4th
        assert len(second.events("schedule.triggered")) == 2  # none replayed
        await second.to(ts("2026-03-04T04:00:00"))
        assert [e["data"]["schedule_name"] for e in second.events("schedule.triggered")[2:]] == [
            "hourly"
        ]
    finally:
        await second.source.stop()

    third = await Driver(settings, (nightly, hourly), ts("2026-03-04T04:00:10")).start(engine)
    await third.source.stop()
    assert len(third.events("schedule.missed")) == 2  # reported once, not again


async def test_a_long_outage_of_a_per_second_schedule_is_counted_up_to_a_cap(
    settings: Settings, engine: Engine
) -> None:
    every_second = spec("tick", "* * * * * *")
    first = await Driver(settings, (every_second,), ts("2026-03-01T00:00:00")).start(engine)
    await first.source.stop()
    second = await Driver(settings, (every_second,), ts("2026-03-08T00:00:00")).start(engine)
    await second.source.stop()
    [missed] = second.events("schedule.missed")
    assert missed["data"]["missed_count_exact"] is False
    assert missed["data"]["expected_time"] == "2026-03-01T00:00:01Z"
    assert missed["data"]["last_expected_time"] == "2026-03-08T00:00:00Z"


async def test_the_last_fire_survives_a_restart(settings: Settings, engine: Engine) -> None:
    nightly = spec("nightly", "0 2 * * *")
    first = await Driver(settings, (nightly,), ts("2026-03-01T01:59:00")).start(engine)
    await first.to(ts("2026-03-01T02:00:00"))
    await first.source.stop()
    marks = json.loads(state_path(settings).read_text())["schedules"]
    assert marks["nightly"]["last_fire"] == ts("2026-03-01T02:00:00")

    # Back a second later: the 02:00 fire is not fired again, nor reported missed.
    second = await Driver(settings, (nightly,), ts("2026-03-01T02:00:01")).start(engine)
    try:
        await second.to(ts("2026-03-01T12:00:00"))
        assert [e["type"] for e in second.events()] == ["schedule.triggered"]
        await second.to(ts("2026-03-02T02:00:00"))
        assert [e["type"] for e in second.events()] == ["schedule.triggered"] * 2
    finally:
        await second.source.stop()


async def test_a_crash_between_fire_and_mark_costs_one_missed_report_not_a_second_fire(
    settings: Settings, engine: Engine
) -> None:
    nightly = spec("nightly", "0 2 * * *")
    first = await Driver(settings, (nightly,), ts("2026-03-01T01:59:00")).start(engine)
    saved = state_path(settings).read_bytes()  # the marks before the fire
    await first.to(ts("2026-03-01T02:00:00"))
    await first.source.stop()
    state_path(settings).write_bytes(saved)  # as if it died after dispatch, before the write

    second = await Driver(settings, (nightly,), ts("2026-03-01T02:00:30")).start(engine)
    await second.source.stop()
    assert [e["type"] for e in second.events()] == ["schedule.triggered", "schedule.missed"]
    assert second.events("schedule.missed")[0]["data"]["missed_count"] == 1


async def test_a_damaged_state_file_is_told_and_the_schedules_run(
    settings: Settings, engine: Engine
) -> None:
    state_path(settings).write_text("{not json")
    d = await Driver(settings, (spec("m", "* * * * *"),), ts("2026-03-01T00:00:30")).start(engine)
    try:
        assert "not valid JSON" in d.source.health().detail
        await d.to(ts("2026-03-01T00:01:00"))
        assert len(d.events("schedule.triggered")) == 1
        json.loads(state_path(settings).read_text())  # rewritten whole
    finally:
        await d.source.stop()


async def test_a_failing_schedule_never_stops_the_others(home: Path) -> None:
    strict = load_settings(home, strict=True)
    # deploy.failed without its fields is refused in strict mode, at every fire.
    bad = spec("bad", "* * * * *", event="deploy.failed", data={})
    good = spec("good", "* * * * *")
    engine = await Engine.open(strict)
    d = await Driver(strict, (bad, good), ts("2026-03-01T00:00:30")).start(engine)
    try:
        await d.to(ts("2026-03-01T00:01:00"))
        await d.to(ts("2026-03-01T00:02:00"))
        names = [e["data"]["schedule_name"] for e in d.events("schedule.triggered")]
        assert names == ["bad", "good", "bad", "good"]
        assert d.events("deploy.failed") == []
        assert d.source.errors == 2 and "2 errors" in d.source.health().detail
        assert d.source.health().state == "running"
    finally:
        await d.source.stop()
        await engine.close()


async def test_a_broken_cli_file_keeps_the_config_schedules_running(
    settings: Settings, engine: Engine
) -> None:
    cli_path(settings).write_text(
        '{"version": 1, "schedules": [{"name": "x", "cron": "61 * * * *"}]}'
    )
    d = await Driver(settings, (spec("m", "* * * * *"),), ts("2026-03-01T00:00:30")).start(engine)
    try:
        assert "Bad minute" in d.source.health().detail
        await d.to(ts("2026-03-01T00:01:00"))
        assert [e["data"]["schedule_name"] for e in d.events()] == ["m"]
    finally:
        await d.source.stop()


async def test_the_cli_file_is_picked_up_while_running(settings: Settings, engine: Engine) -> None:
    d = await Driver(settings, (), ts("2026-03-01T00:00:10")).start(engine)
    try:
        added = spec("late", "* * * * *", origin="cli", changed=ts("2026-03-01T00:00:10"))
        save_cli(cli_path(settings), CliSchedules(specs=(added,)))
        await d.to(ts("2026-03-01T00:00:11"))
        assert [s.name for s in d.source.specs] == ["late"]
        await d.to(ts("2026-03-01T00:01:00"))
        assert [e["type"] for e in d.events()] == ["schedule.triggered"]

        off = CliSchedules(specs=(spec("late", "* * * * *", origin="cli", enabled=False),))
        save_cli(cli_path(settings), off)
        await d.to(ts("2026-03-01T00:01:30"))
        await d.to(ts("2026-03-01T00:05:00"))
        assert len(d.events()) == 1  # disabled: no fires, and none "missed"

        back_on = CliSchedules(specs=(spec("late", "* * * * *", origin="cli"),))
        save_cli(cli_path(settings), back_on)
        await d.to(ts("2026-03-01T00:05:30"))
        await d.to(ts("2026-03-01T00:06:00"))
        assert [e["type"] for e in d.events()] == ["schedule.triggered"] * 2

        save_cli(cli_path(settings), CliSchedules())
        await d.to(ts("2026-03-01T00:06:30"))
        assert d.source.specs == []
    finally:
        await d.source.stop()


async def test_a_clock_set_back_fires_nothing_twice(settings: Settings, engine: Engine) -> None:
    d = await Driver(settings, (spec("m", "* * * * *"),), ts("2026-03-01T00:00:30")).start(engine)
    try:
        await d.to(ts("2026-03-01T00:01:00"))
        await d.to(ts("2026-03-01T00:00:20"))  # NTP sets the clock back
        await d.to(ts("2026-03-01T00:01:00"))
        assert len(d.events()) == 1
        await d.to(ts("2026-03-01T00:02:00"))
        assert len(d.events()) == 2
    finally:
        await d.source.stop()


def test_serve_runs_the_source_and_a_dashboard_does_not(settings: Settings) -> None:
    serve = [s.name for s in build_sources(settings, SourceOptions(), kinds=("schedules",))]
    dashboard = SourceOptions.dashboard({}, None, None)
    assert serve == ["schedules"]
    assert build_sources(settings, dashboard, kinds=("schedules",)) == []


@pytest.fixture(autouse=True)
def _no_leftover_temp_files(settings: Settings) -> Any:
    yield
    assert list(settings.home.glob(".*.tmp")) == []


async def test_fires_since_a_cli_add_while_no_engine_ran_are_missed_from_then(
    settings: Settings, engine: Engine
) -> None:
    """Added (or re-enabled) while no engine ran: its fires count from that moment."""
    added = spec("hourly", "0 * * * *", origin="cli", changed=ts("2026-03-01T00:30:00"))
    save_cli(cli_path(settings), CliSchedules(specs=(added,)))
    d = await Driver(settings, (), ts("2026-03-01T03:10:00")).start(engine)
    await d.source.stop()
    [missed] = d.events("schedule.missed")
    assert missed["data"]["missed_count"] == 3
    assert missed["data"]["expected_time"] == "2026-03-01T01:00:00Z"
