"""Issue 12: the main screens at 60x20 and 120x36 (80x24 is tests/tui/test_snapshots.py),
and the Events split view.

Below 100 columns, columns drop by priority (the id and the status stay) and what is cut
ends in `…`. Same determinism as test_snapshots.py (frozen clocks, fixed data); update the
baselines with `pytest tests/tui/test_snapshots_sizes.py --snapshot-update`, then look.
"""

from __future__ import annotations

import itertools
import threading
import time
import types

import pytest
from test_snapshots import STREAM, build, seed, settle
from tui_helpers import T0, screen_text, wait_for

from sloth_tui.config import Settings
from sloth_tui.engine import dispatcher as dispatcher_module
from sloth_tui.lua import context as context_module
from sloth_tui.lua import worker as worker_module
from sloth_tui.model.records import Execution, LogLine

SIZES = [(60, 20), (120, 36)]


@pytest.fixture
def frozen_runs(frozen_time, monkeypatch: pytest.MonkeyPatch) -> None:
    """Hook runs too: they start at T0 (a stepping clock depended on which test ran
    first), their durations come from a counter, so a run shows the same in every
    snapshot."""
    # One counter per thread: runs on two pool threads at once would otherwise interleave
    # their readings, and a run's duration would depend on the other's timing.
    counters = threading.local()

    def perf_counter() -> float:
        if not hasattr(counters, "perf"):
            counters.perf = itertools.count()
        return float(next(counters.perf)) * 0.0013

    fake = types.SimpleNamespace(
        **{name: getattr(time, name) for name in dir(time) if not name.startswith("_")}
    )
    fake.time = lambda: T0
    fake.perf_counter = perf_counter
    for module in (worker_module, context_module):
        monkeypatch.setattr(module, "time", fake)
    # One run per Lua call: runs that go to Lua together share the call's time, and how
    # many go together depends on how far the dispatcher got meanwhile (a loaded CI host
    # showed avg 1.3ms where the baseline had 867µs: batches of 1 and 2, then 1, 1, 1).
    monkeypatch.setattr(dispatcher_module, "TOGETHER", 1)


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
def test_events_at(snap_compare, settings: Settings, frozen_time, size) -> None:
    async def run_before(pilot) -> None:
        await seed(pilot.app.engine, settings)
        await settle(pilot, lambda: len(pilot.app.screen.feed) == 23)

    assert snap_compare(build(settings, frozen_time), run_before=run_before, terminal_size=size)


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
def test_detail_at(snap_compare, settings: Settings, frozen_time, frozen_runs, size) -> None:
    async def run_before(pilot) -> None:
        engine = pilot.app.engine
        await seed(engine, settings, times=0)  # the hook, so the event has a run
        parent = await engine.dispatch(*STREAM[5][:2], source="demo")
        await engine.dispatch(
            "deploy.rollback",
            {"deploy_id": "dep-8", "service": "billing"},
            source="hook:alert",
            parent=parent,
        )
        await engine.wait_idle()
        pilot.app.open_detail(parent.id)
        await settle(pilot, lambda: getattr(pilot.app.screen, "executions", None))

    assert snap_compare(build(settings, frozen_time), run_before=run_before, terminal_size=size)


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
def test_hooks_at(snap_compare, settings: Settings, frozen_time, frozen_runs, size) -> None:
    async def run_before(pilot) -> None:
        await seed(pilot.app.engine, settings, times=1)
        await pilot.press("2")
        await settle(pilot, lambda: len(getattr(pilot.app.screen, "hooks", ())) == 1)

    assert snap_compare(build(settings, frozen_time), run_before=run_before, terminal_size=size)


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
def test_executions_at(snap_compare, settings: Settings, frozen_time, size) -> None:
    async def run_before(pilot) -> None:
        await pilot.press("3")
        bus = pilot.app.engine.bus
        for i, (hook, type_, status, error) in enumerate(
            [
                ("alert", "deploy.failed", "success", None),
                ("audit", "security.breach", "failed", None),
                ("alert", "deploy.rollback", "error", "alert.lua:3: attempt to index a nil value"),
                ("audit", "secret.accessed", "timeout", None),
            ]
        ):
            logs = [LogLine("info", T0 + i, f"run {i}")]
            run = Execution(hook, 2 + i, status, T0 + i, 3.5 * (i + 1), error=error, logs=logs)
            run.event_type = type_
            bus.publish("execution", run)
        await settle(pilot, lambda: len(getattr(pilot.app.screen, "runs", ())) == 4)

    assert snap_compare(build(settings, frozen_time), run_before=run_before, terminal_size=size)


def test_events_split_view(snap_compare, settings: Settings, frozen_time, frozen_runs) -> None:
    async def run_before(pilot) -> None:
        await seed(pilot.app.engine, settings, times=1)
        await settle(pilot, lambda: len(pilot.app.screen.feed) == 12)
        await pilot.press("v", "k", "k")
        screen = pilot.app.screen

        def previewed() -> bool:  # the runs of the row under the cursor, not of the one before
            shown, ev = screen._preview_runs, screen.table.cursor_event
            return shown is not None and ev is not None and shown[0] == ev.id

        await settle(pilot, previewed)

    assert snap_compare(
        build(settings, frozen_time), run_before=run_before, terminal_size=(120, 36)
    )


def test_stats_at_60x20(snap_compare, settings: Settings, frozen_time, frozen_runs) -> None:
    """The hooks panel keeps the name (ellipsised) and the success rate; latencies go."""

    async def run_before(pilot) -> None:
        await seed(pilot.app.engine, settings, times=1)
        await pilot.press("4")
        await settle(pilot, lambda: "alert" in getattr(pilot.app.screen, "hook_stats", {}))
        pilot.app.screen.draw()

        def alert_rate_shown() -> bool:  # drawn: the hook's line with its success rate
            text = screen_text(pilot.app)
            return any("alert" in ln and "%" in ln for ln in text.splitlines())

        await wait_for(pilot, alert_rate_shown)

    assert snap_compare(build(settings, frozen_time), run_before=run_before, terminal_size=(60, 20))
