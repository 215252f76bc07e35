"""Source health through the EngineAPI: a real `serve` answers `source_health` with one
line per producer, running or failed, and RemoteEngine reads it back as SourceHealth."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from sourcekit import DaemonProcess, ask, write_config

from sloth_tui.config import load_settings
from sloth_tui.engine.engine import Engine
from sloth_tui.model.stats import SourceHealth
from sloth_tui.remote.client import RemoteEngine


async def test_serve_reports_each_source_over_the_socket(
    daemons: Callable[..., DaemonProcess], tmp_path: Path
) -> None:
    home = tmp_path / "home"
    home.mkdir()
    watched = tmp_path / "watched"
    watched.mkdir()
    write_config(
        home,
        f'[[watchers]]\nname = "etc"\npath = "{watched}"\n\n'
        f'[[watchers]]\nname = "gone"\npath = "{tmp_path / "missing"}"\n',
    )
    # Ready, not just answering: the sources after the socket may not have started yet,
    # and the two snapshots below must see the same states.
    daemon = daemons(home).start("--no-monitor").wait_ready()

    [reply] = ask(daemon.socket, {"op": "source_health"})
    assert reply["ok"], reply
    by_name = {s["name"]: s for s in reply["sources"]}
    assert by_name["watcher:etc"]["state"] == "running"
    assert by_name["watcher:gone"]["state"] == "failed"
    assert "missing" in by_name["watcher:gone"]["detail"]
    assert any(s["kind"] == "socket" and s["state"] == "running" for s in reply["sources"])

    remote = await RemoteEngine.open(load_settings(home), daemon.socket)
    try:
        health = await remote.source_health()
    finally:
        await remote.close()
    assert all(isinstance(h, SourceHealth) for h in health)
    assert {h.name: h.state for h in health} == {n: s["state"] for n, s in by_name.items()}


async def test_an_engine_that_serves_nothing_reports_no_sources(tmp_path: Path) -> None:
    engine = await Engine.open(load_settings(tmp_path / "home"))
    try:
        assert await engine.source_health() == []
        engine.report_sources(lambda: [SourceHealth("x", "demo", "running")])
        assert await engine.source_health() == [SourceHealth("x", "demo", "running")]
    finally:
        await engine.close()
