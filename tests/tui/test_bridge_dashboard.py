"""The bridge in the dashboard (issue 14.6): its lag in the top bar, upstream's runs marked
as upstream's and never re-run, a fault said as plain text. A real bridge on a real
upstream file, feeding the real embedded engine, driven by Pilot."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from tui_helpers import screen_text, wait_for
from upstreamkit import UpstreamDB

from sloth_tui.config import Settings
from sloth_tui.model.stats import SourceHealth
from sloth_tui.sources.sloth_runner import BridgeSettings, SlothRunnerBridge
from sloth_tui.tui.embedded import EmbeddedEngine

HOSTILE = "[bold red]x[/] \x1b[31mred\x1b[0m \x07bell"


async def test_lag_in_the_top_bar_and_upstream_runs_are_not_rerun(
    settings: Settings, make_app: Callable[..., Any], tmp_path: Path
) -> None:
    upstream = UpstreamDB(tmp_path / "sr" / "hooks.db")
    uid = upstream.event()
    upstream.run(uid, hook="notify-slack", success=False, error="webhook 500")
    embedded = EmbeddedEngine(settings)
    engine = await embedded.start()
    bridge = SlothRunnerBridge(BridgeSettings(db=str(upstream.path), poll_interval=0.05))
    own = embedded.health
    engine.report_sources(lambda: [*own(), bridge.health()])
    await bridge.start(engine)
    app = make_app(engine)
    try:
        async with app.run_test(size=(140, 40)) as pilot:
            await wait_for(pilot, lambda: bridge.runs == 1, timeout=20)
            await wait_for(pilot, lambda: "⇄ sloth-runner lag 0s" in screen_text(app), timeout=10)
            await pilot.press("3")
            await wait_for(pilot, lambda: "notify-slack" in screen_text(app), timeout=10)
            row = next(line for line in screen_text(app).splitlines() if "notify-slack" in line)
            assert "failed ⇄" in row
            await pilot.press("enter")
            await wait_for(pilot, lambda: "sloth-runner's run" in screen_text(app), timeout=10)
            await pilot.press("r")
            await wait_for(
                pilot,
                lambda: any("not re-run here" in str(n.message) for n in app._notifications),
                timeout=10,
            )
            assert len(await engine.executions(hook="notify-slack")) == 1  # nothing ran
    finally:
        await bridge.stop()
        await embedded.close(reason="test finished")
        upstream.close()


async def test_a_fault_in_the_top_bar_is_plain_text(
    settings: Settings, make_app: Callable[..., Any]
) -> None:
    embedded = EmbeddedEngine(settings)
    engine = await embedded.start()
    own = embedded.health
    engine.report_sources(
        lambda: [*own(), SourceHealth("sloth-runner", "sloth_runner", "retrying", "x", HOSTILE)]
    )
    app = make_app(engine)
    try:
        async with app.run_test(size=(160, 40)) as pilot:
            await wait_for(pilot, lambda: "[bold red]x[/]" in screen_text(app), timeout=10)
            text = screen_text(app)
            assert "\x1b" not in text and "\x07" not in text
    finally:
        await embedded.close(reason="test finished")
