"""Policies and "why it ran" on the dashboard (issue 17): the Hooks list marks hooks with
a policy and hooks the engine switched off, and shows the highlighted one's settings and
reason under the table; the Executions list marks reruns and retries; a run's detail says
its trigger and attempt, and why a skipped run did not run. Outside text stays text."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest
from tui_helpers import screen_text, wait_for

from sloth_tui.engine.engine import Engine
from sloth_tui.model.policy import HookPolicy
from sloth_tui.model.records import Execution
from sloth_tui.tui.screens.execution_detail import ExecutionDetailScreen
from sloth_tui.tui.screens.executions import ExecutionsScreen, trigger_mark
from sloth_tui.tui.screens.hooks import HooksScreen

FAILING = 'function on_event() error("down [bold]\\27[2J") end\n'
FINE = "function on_event() return true end\n"


async def shows(pilot, app, *texts: str, timeout: float = 10.0) -> None:
    try:
        await wait_for(pilot, lambda: all(t in screen_text(app) for t in texts), timeout)
    except AssertionError:
        missing = [t for t in texts if t not in screen_text(app)]
        raise AssertionError(f"not shown: {missing}\n{screen_text(app)}") from None


async def hooks_with_history(engine: Engine, tmp_path: Path) -> int:
    """`flaky` fails, is retried once, and is switched off after 2 failures in a row;
    `plain` has no policy; `gated` has a condition with markup in it. Returns the id of
    an event `plain` ran on and was re-run on."""
    for name, code in (("flaky", FAILING), ("plain", FINE), ("gated", FINE)):
        (tmp_path / f"{name}.lua").write_text(code)
        await engine.add_hook(name, ["deploy.failed"], tmp_path / f"{name}.lua")
    policy = HookPolicy.from_dict({"retry": {"attempts": 1, "delay": 0}, "auto_disable": 2})
    await engine.update_hook("flaky", policy=policy)
    await engine.update_hook("gated", policy=HookPolicy(when="service=[bold]pay", mode="single"))
    event = await engine.dispatch("deploy.failed", {"service": "x"}, source="demo")
    # wait_idle does not wait for a retry not yet due: the retry's failure (the second in
    # a row) is what switches flaky off, so wait for that.
    deadline = time.monotonic() + 30
    while (await engine.get_hook("flaky")).enabled:
        assert time.monotonic() < deadline, "flaky was never auto-disabled"
        await asyncio.sleep(0.01)
    await engine.wait_idle()
    await engine.rerun(event.id, ["plain"])
    await engine.wait_idle()
    return event.id


@pytest.mark.parametrize("width", [120, 100, 80])
async def test_hooks_list_marks_policies_and_auto_disabled(
    engine: Engine, make_app, tmp_path: Path, width: int
) -> None:
    await hooks_with_history(engine, tmp_path)
    flaky = await engine.get_hook("flaky")
    assert not flaky.enabled and flaky.disabled_reason, flaky  # the engine switched it off
    app = make_app(engine)
    async with app.run_test(size=(width, 30)) as pilot:
        await pilot.press("2")
        screen = app.screen
        assert isinstance(screen, HooksScreen)
        await wait_for(pilot, lambda: len(screen.hooks) == 3)
        await shows(pilot, app, "flaky ⚙", "gated ⚙", "✗ auto", "1 auto-disabled")
        text = screen_text(app)
        assert "plain ⚙" not in text
        panel = screen.query_one("#hooks-policy")

        screen.select("flaky")
        await shows(pilot, app, "✗ switched off: auto-disabled", "⚙ retry 1x after 0s")
        assert panel.display
        screen.select("plain")  # neither a policy nor a reason: no panel
        await wait_for(pilot, lambda: not panel.display)
        screen.select("gated")  # the condition is the author's text, not markup
        await shows(pilot, app, "⚙ when service=[bold]pay · mode single")
        for line in screen_text(app).splitlines():
            assert len(line) <= width

        # enabling it clears the reason, and says what it was
        screen.select("flaky")
        await pilot.press("space")
        await wait_for(pilot, lambda: (h := screen.hooks[0]).enabled and not h.disabled_reason)
        assert any("it was off because: auto-disabled" in n.message for n in app._notifications)
        assert (await engine.get_hook("flaky")).disabled_reason is None
        await shows(pilot, app, "⚙ retry 1x after 0s")
        assert "switched off" not in screen_text(app)


def test_trigger_mark() -> None:
    assert trigger_mark(Execution("h", 1, "success", 0.0)) == ""
    assert trigger_mark(Execution("h", 1, "error", 0.0, trigger="retry", attempt=3)) == "retry 3"
    assert trigger_mark(Execution("h", 1, "success", 0.0, trigger="rerun")) == "rerun"
    assert trigger_mark(Execution("h", 0, "success", 0.0, dry_run=True, trigger="test")) == ""
    assert trigger_mark(Execution("h", 1, "success", 0.0, trigger="recovery")) == "recovery"
    assert trigger_mark(Execution("h", 1, "success", 0.0, trigger="x\x1b[2J")) == "x␛[2J"


@pytest.mark.parametrize("width", [120, 100, 80])
async def test_executions_show_trigger_and_detail_says_why(
    engine: Engine, make_app, tmp_path: Path, width: int
) -> None:
    event_id = await hooks_with_history(engine, tmp_path)
    reason = "mode single: a run for data.service='[red]x\x1b[2J' is under way (event 1)"
    await engine.store.record_execution(
        Execution(
            "gated", event_id, "skipped", time.time(), error=reason, event_type="deploy.failed"
        )
    )
    runs = await engine.executions(limit=50)
    assert {(r.hook, r.trigger, r.attempt) for r in runs} >= {
        ("flaky", "event", 1), ("flaky", "retry", 2), ("plain", "rerun", 1)
    }  # fmt: skip
    app = make_app(engine)
    async with app.run_test(size=(width, 30)) as pilot:
        await pilot.press("3")
        screen = app.screen
        assert isinstance(screen, ExecutionsScreen)
        await wait_for(pilot, lambda: len(screen.runs) == len(runs))
        await shows(pilot, app, "error retry 2", "success rerun")
        for line in screen_text(app).splitlines():
            assert len(line) <= width
        # free words find the trigger: "retry" lists the retried run only
        assert screen.set_filter("retry")
        await wait_for(pilot, lambda: [r.trigger for r in screen.shown] == ["retry"])
        await pilot.press("enter")
        await wait_for(pilot, lambda: isinstance(app.screen, ExecutionDetailScreen))
        await shows(pilot, app, "trigger retry", "attempt 2", "down [bold]")
        await pilot.press("escape")
        assert screen.set_filter("hook:gated")
        await wait_for(pilot, lambda: len(screen.shown) == 1)
        await pilot.press("enter")
        await wait_for(pilot, lambda: isinstance(app.screen, ExecutionDetailScreen))
        await shows(pilot, app, "trigger event", "why: mode single: a run for data.service=")
        text = screen_text(app)
        assert "[red]x␛[2J" in text and "attempt" not in text and "✗ mode single" not in text
