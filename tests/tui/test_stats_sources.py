"""The Stats screen lists the serving engine's producers (EngineAPI.source_health): the
dashboard's own socket running, and a failed source with its reason, as plain text."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from tui_helpers import screen_text, wait_for

from sloth_tui.config import Settings
from sloth_tui.model.stats import SourceHealth
from sloth_tui.tui.embedded import EmbeddedEngine

HOSTILE = "[bold red]x[/] \x1b[31mred\x1b[0m \x07bell"


async def test_stats_lists_sources_with_their_state(
    settings: Settings, make_app: Callable[..., Any]
) -> None:
    embedded = EmbeddedEngine(settings)
    engine = await embedded.start()
    real = embedded.health
    # One more, failed, whose reason is hostile text: shown as data, never as markup.
    engine.report_sources(
        lambda: [*real(), SourceHealth("watcher:etc", "watchers", "failed", HOSTILE)]
    )
    app = make_app(engine)
    try:
        async with app.run_test(size=(140, 40)) as pilot:
            await pilot.press("4")
            await wait_for(pilot, lambda: "watcher:etc" in screen_text(app), timeout=10)
            text = screen_text(app)
            socket_line = next(line for line in text.splitlines() if "socket" in line)
            assert "running" in socket_line
            failed_line = next(line for line in text.splitlines() if "watcher:etc" in line)
            assert "failed" in failed_line and "[bold red]x[/]" in failed_line
            assert "\x1b" not in text and "\x07" not in text
    finally:
        await embedded.close(reason="test finished")
