"""Issue 12, item 7: nothing is cut without `…`. The last (free-text) column of Hooks and
Executions ends in `…` when it does not fit, at every width, also the first paint."""

from __future__ import annotations

from pathlib import Path

import pytest
from tui_helpers import screen_text, wait_for

from sloth_tui.engine.engine import Engine
from sloth_tui.tui.screens.executions import ExecutionsScreen
from sloth_tui.tui.screens.hooks import HooksScreen

# Shorter than the Hooks screen clips descriptions to, longer than the room left at 100
# beside the demo's longest names.
LONG = "escalate repeated failures to the on-call"
HOOK = 'function on_event(event) error("' + "boom " * 40 + '") end\n'


@pytest.mark.parametrize("width", [80, 100, 105, 120])
async def test_long_text_columns_end_in_an_ellipsis(
    engine: Engine, make_app, tmp_path: Path, width: int
) -> None:
    lua = tmp_path / "loud.lua"
    lua.write_text(HOOK)
    await engine.add_hook("health-escalation", ["health.check_failed"], lua, description=LONG)
    await engine.dispatch_and_run("health.check_failed", {"service": "api"})
    app = make_app(engine)
    async with app.run_test(size=(width, 30)) as pilot:
        await pilot.press("2")
        await wait_for(pilot, lambda: isinstance(app.screen, HooksScreen) and app.screen.hooks)
        await pilot.pause()
        line = next(x for x in screen_text(app).splitlines() if "health-escalation" in x)
        assert LONG in line or line.rstrip().endswith("…"), line
        await pilot.press("3")
        await wait_for(
            pilot, lambda: isinstance(app.screen, ExecutionsScreen) and bool(app.screen.shown)
        )
        await pilot.pause()
        line = next(x for x in screen_text(app).splitlines() if "health-escalation" in x)
        assert "boom boo" in line  # the error shows, and ends in … where it is cut
        assert line.rstrip(" ▇▁▂▃▄▅▆█").endswith("…"), line
