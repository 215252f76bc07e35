"""Adding a source is one module (ticker_source.py) plus one registry line: the real
wiring starts it against a real engine (SQLite in tmp_path), stores its events, reports
its health and stops it before the engine and the socket."""

from __future__ import annotations

import pytest
from sourcekit import async_wait_for, db_rows, events_of, request
from ticker_source import TickerSource, stops, ticker_sources

from sloth_tui.config import Settings
from sloth_tui.engine.engine import Engine
from sloth_tui.model.errors import SlothError
from sloth_tui.sources import registry
from sloth_tui.sources.options import SourceOptions
from sloth_tui.sources.wiring import SourceSet

NO_PRODUCERS = SourceOptions(monitor=False, watchers=False)


async def test_a_new_source_runs_through_the_real_wiring(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    # serve's sources that run with no config at all (the socket, schedules, secrets)
    always = [s.name for s in SourceSet.build(settings, NO_PRODUCERS).sources]
    assert always[0] == "socket"
    monkeypatch.setitem(registry.REGISTRY, "ticker", ticker_sources)  # the one line
    stops.clear()
    sources = SourceSet.build(settings, NO_PRODUCERS)
    assert [s.name for s in sources.sources] == [*always, "ticker"]
    engine = await Engine.open(settings, lifecycle=True)
    try:
        assert await sources.start(engine) == []
        ticker = sources.find("ticker")
        assert isinstance(ticker, TickerSource)
        await async_wait_for(lambda: ticker.ticks >= 3, what="three ticks")
        # The socket runs beside it: a producer there reaches the same engine.
        [ack] = await request(settings.socket_path, {"type": "task.started", "data": {}})
        assert ack["ok"]
        health = {h.name: h for h in sources.health()}
        assert (health["ticker"].kind, health["ticker"].state) == ("ticker", "running")
        assert health["ticker"].detail.endswith(" ticks")
        assert health["socket"].state == "running"
    finally:
        await sources.stop(engine, "test over")

    # Stopped in order: the ticker while the socket and the engine were still up ...
    [seen] = stops
    assert seen["socket_up"] is True
    # ... its events stored (the last one, sent while stopping, too), before the shutdown.
    ticks = [e for e in events_of(settings.home, "custom") if e["source"] == "ticker"]
    assert len(ticks) >= 4 and ticks[-1]["data"]["message"] == "last tick"
    assert ticks[-1]["id"] == seen["last_id"]
    [(shutdown_id, reason)] = db_rows(
        settings.home,
        "SELECT id, json_extract(data, '$.reason') FROM events WHERE type = 'system.shutdown'",
    )
    assert shutdown_id > seen["last_id"] and reason == "test over"
    assert not settings.socket_path.exists()
    assert {h.name: h.state for h in sources.health()} == dict.fromkeys(
        [*always, "ticker"], "stopped"
    )


async def test_the_line_undone_the_source_is_gone(settings: Settings) -> None:
    assert "ticker" not in registry.REGISTRY
    names = [s.name for s in SourceSet.build(settings, NO_PRODUCERS).sources]
    assert "ticker" not in names and names[0] == "socket"


async def test_a_source_that_cannot_start_is_told_and_the_others_run(settings: Settings) -> None:
    broken = TickerSource(settings, fail="ticker: no clock\x1b[2J\nto tick with")
    sources = SourceSet([broken, TickerSource(settings)])
    engine = await Engine.open(settings, lifecycle=True)
    try:
        errors = await sources.start(engine)
        assert errors == ["ticker: no clock\x1b[2J to tick with"] == sources.warnings
        states = [(h.state, h.detail) for h in sources.health()]
        assert states[0] == ("failed", "ticker: no clock\x1b[2J to tick with")
        assert states[1][0] == "running"
    finally:
        await sources.stop(engine, "test over")
    [error] = events_of(settings.home, "system.error")
    assert error["data"] == {
        "component": "ticker",
        "error": "ticker: no clock\x1b[2J to tick with",
        "severity": "error",
    }


async def test_a_required_source_that_cannot_start_stops_the_start(settings: Settings) -> None:
    sources = SourceSet([TickerSource(settings, fail="no clock")], required=frozenset({"ticker"}))
    engine = await Engine.open(settings, lifecycle=True)
    try:
        with pytest.raises(SlothError, match=r"^no clock$"):
            await sources.start(engine)
    finally:
        await sources.stop(engine, "failed to start")
    assert events_of(settings.home, "system.error") == []


async def test_the_dashboard_wires_its_sources_the_same_way(settings: Settings) -> None:
    """The embedded engine's socket and demo come from the same registry and SourceSet."""
    from sloth_tui.sources.demo import DemoGenerator
    from sloth_tui.tui.embedded import EmbeddedEngine

    embedded = EmbeddedEngine(settings, demo_rate=100)
    engine = await embedded.start()
    try:
        assert [(h.name, h.kind, h.state) for h in embedded.health()] == [
            ("socket", "socket", "running"),
            ("demo", "demo", "running"),
        ]
        assert isinstance(embedded.demo, DemoGenerator)
        assert "deploy-alert" in {h.name for h in await engine.list_hooks()}
        await async_wait_for(lambda: embedded.demo is not None and embedded.demo.sent >= 5)
        [pong] = await request(settings.socket_path, {"op": "ping"})
        assert pong["engine"]["role"] == "dashboard"
    finally:
        await embedded.close()
    demo_ids = [e["id"] for e in events_of(settings.home) if e["source"] == "demo"]
    [(shutdown_id,)] = db_rows(
        settings.home, "SELECT id FROM events WHERE type = 'system.shutdown'"
    )
    assert demo_ids and max(demo_ids) < shutdown_id  # the demo stopped before the engine
    assert [h.state for h in embedded.health()] == ["stopped", "stopped"]
    assert not settings.socket_path.exists()
