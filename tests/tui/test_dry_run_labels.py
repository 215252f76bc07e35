"""Issue 12 item 10 in the dashboard: a dry run on a test-fire sample has no stored event
(event_id 0); no line may call it "event 0" or "id None"."""

from __future__ import annotations

import json
from collections.abc import Callable

from tui_helpers import T0, screen_text, wait_for

from sloth_tui.engine.engine import Engine
from sloth_tui.model.records import Execution
from sloth_tui.tui.app import SlothApp
from sloth_tui.tui.screens.execution_detail import ExecutionDetailScreen


async def test_copying_a_sample_dry_run_does_not_name_event_0(
    engine: Engine, make_app: Callable[..., SlothApp]
) -> None:
    run = Execution("notify-slack", 0, "success", T0, 2.5, dry_run=True)
    app = make_app(engine)
    async with app.run_test(size=(120, 36), notifications=True) as pilot:
        await app.push_screen(ExecutionDetailScreen(run))
        await wait_for(pilot, lambda: isinstance(app.screen, ExecutionDetailScreen))
        await pilot.press("y")
        await wait_for(pilot, lambda: bool(app.clipboard))
        assert json.loads(app.clipboard)["event_id"] == 0
        messages = [n.message for n in app._notifications]
        assert messages, "no toast"
        text = " ".join(messages) + screen_text(app)
        assert "event 0" not in text and "id None" not in text and "None" not in text
        assert any("no stored event" in m for m in messages), messages


async def test_a_real_run_still_names_its_event(
    engine: Engine, make_app: Callable[..., SlothApp]
) -> None:
    run = Execution("notify-slack", 42, "success", T0, 2.5)
    app = make_app(engine)
    async with app.run_test(size=(120, 36), notifications=True) as pilot:
        await app.push_screen(ExecutionDetailScreen(run))
        await wait_for(pilot, lambda: isinstance(app.screen, ExecutionDetailScreen))
        await pilot.press("y")
        await wait_for(pilot, lambda: bool(app._notifications))
        assert any("the run of notify-slack on event 42" in n.message for n in app._notifications)
