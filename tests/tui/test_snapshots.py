"""80x24 snapshots of every screen (pytest-textual-snapshot).

Deterministic by construction: a fresh home per test, fixed data, the engine's clock
stepping from a fixed epoch (`frozen_time`), a still app clock, fake psutil figures.
Update the baselines with `pytest tests/tui/test_snapshots.py --snapshot-update`.
"""

from __future__ import annotations

import re
from pathlib import Path

from tui_helpers import T0, fake_sysinfo, screen_text, wait_for

from sloth_tui.config import Settings
from sloth_tui.engine.engine import Engine
from sloth_tui.model.records import Execution, LogLine
from sloth_tui.tui.app import SlothApp

SIZE = (80, 24)
ALERT = """\
function on_event()
  if event.data.service == "billing" then return false end
  return true
end
"""
STREAM: list[tuple[str, dict, str]] = [
    (
        "deploy.started",
        {"deploy_id": "dep-7", "service": "api", "version": "v2.3.1", "environment": "production"},
        "demo",
    ),
    (
        "health.check_passed",
        {"service": "api", "check_name": "http-ready", "response_time": "42ms"},
        "demo",
    ),
    (
        "security.login_failed",
        {
            "user": "root",
            "ip_address": "198.51.100.7",
            "reason": "invalid_password",
            "attempt_count": 3,
        },
        "watcher:auth",
    ),
    (
        "file.modified",
        {"path": "/srv/app/config.yaml", "size": 2107, "modification_time": "2026-01-01T00:00:02Z"},
        "watcher:etc",
    ),
    ("system.cpu_high", {"usage_percent": 97.5}, "system"),
    (
        "deploy.failed",
        {"deploy_id": "dep-8", "service": "billing", "error": "OOMKilled", "rollback_needed": True},
        "demo",
    ),
    (
        "db.query_slow",
        {"database": "orders", "query": "SELECT 1", "duration": "2.8s", "threshold": "1s"},
        "cli",
    ),
    (
        "backup.completed",
        {"backup_id": "b-1", "size": 4831838208, "duration": "14m", "destination": "s3://b"},
        "demo",
    ),
    (
        "agent.disconnected",
        {"agent": {"name": "agent-web-01"}, "last_seen": "2026-01-01T00:00:00Z"},
        "demo",
    ),
    (
        "deploy.completed",
        {"deploy_id": "dep-7", "service": "api", "version": "v2.3.1", "duration": "5m30s"},
        "demo",
    ),
    ("custom", {"name": "note", "message": "hello", "payload": {"k": 1}}, "dashboard"),
]


def build(settings: Settings, clock) -> SlothApp:
    return SlothApp(settings, clock=clock, sysinfo=fake_sysinfo, tick=0.05)


async def seed(engine: Engine, settings: Settings, *, hooks: bool = True, times: int = 2) -> None:
    if hooks:
        path = Path(settings.hooks_dir) / "alert.lua"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(ALERT)
        await engine.add_hook("alert", ["deploy.*"], path, description="page on deploy trouble")
    for _ in range(times):
        for type_name, data, source in STREAM:
            await engine.dispatch(type_name, data, source=source)
    await engine.wait_idle()


async def settle(pilot, predicate=lambda: True) -> None:
    await wait_for(pilot, predicate)
    await pilot.pause(0.3)


def test_events_screen(snap_compare, settings: Settings, frozen_time) -> None:
    async def run_before(pilot) -> None:
        await seed(pilot.app.engine, settings)
        await settle(pilot, lambda: len(pilot.app.screen.feed) == 23)

    assert snap_compare(build(settings, frozen_time), run_before=run_before, terminal_size=SIZE)


def test_events_filtered_and_paused(snap_compare, settings: Settings, frozen_time) -> None:
    async def run_before(pilot) -> None:
        app = pilot.app
        await seed(app.engine, settings, times=1)
        screen = app.screen
        await pilot.press("slash", *"type:deploy.*", "enter")
        await settle(pilot, lambda: not screen.feed.loading and len(screen.feed) == 3)
        await pilot.press("up")  # pause on the middle row
        await seed(app.engine, settings, hooks=False, times=1)
        await settle(pilot, lambda: screen.feed.new_count == 3)

    assert snap_compare(build(settings, frozen_time), run_before=run_before, terminal_size=SIZE)


def test_detail_screen(snap_compare, settings: Settings, frozen_time) -> None:
    async def run_before(pilot) -> None:
        engine = pilot.app.engine
        parent = await engine.dispatch(*STREAM[5][:2], source="demo")
        await engine.dispatch(
            "deploy.rollback",
            {"deploy_id": "dep-8", "service": "billing"},
            source="hook:alert",
            parent=parent,
        )
        pilot.app.open_detail(parent.id)
        await settle(pilot, lambda: getattr(pilot.app.screen, "event", None) is not None)

    assert snap_compare(build(settings, frozen_time), run_before=run_before, terminal_size=SIZE)


def test_fire_dialog(snap_compare, settings: Settings, frozen_time) -> None:
    async def run_before(pilot) -> None:
        await pilot.press("F", *"deploy.fa", "right", "enter")
        await settle(pilot, lambda: getattr(pilot.app.screen, "form_type", None) == "deploy.failed")

    assert snap_compare(build(settings, frozen_time), run_before=run_before, terminal_size=SIZE)


def test_hooks_screen(snap_compare, settings: Settings, frozen_time) -> None:
    async def run_before(pilot) -> None:
        engine = pilot.app.engine
        path = Path(settings.hooks_dir) / "h.lua"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(ALERT)
        await engine.add_hook("alert", ["deploy.*"], path, description="page on deploy trouble")
        await engine.add_hook("audit", ["security.*", "secret.*"], path, description="keep a trail")
        await engine.set_hook_enabled("audit", False)
        await pilot.press("2")
        await settle(pilot, lambda: len(getattr(pilot.app.screen, "hooks", ())) == 2)

    assert snap_compare(build(settings, frozen_time), run_before=run_before, terminal_size=SIZE)


def test_executions_screen(snap_compare, settings: Settings, frozen_time) -> None:
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

    assert snap_compare(build(settings, frozen_time), run_before=run_before, terminal_size=SIZE)


def test_stats_screen(snap_compare, settings: Settings, frozen_time) -> None:
    async def run_before(pilot) -> None:
        await seed(pilot.app.engine, settings, hooks=False, times=3)
        await pilot.press("4")
        await settle(pilot, lambda: pilot.app.live.categories["deploy"] == 9)
        pilot.app.screen.draw()
        # drawn: the nine deploys in the per-category panel
        await wait_for(pilot, lambda: bool(re.search(r"deploy +9 ", screen_text(pilot.app))))

    assert snap_compare(build(settings, frozen_time), run_before=run_before, terminal_size=SIZE)


def test_catalog_screen(snap_compare, settings: Settings, frozen_time) -> None:
    async def run_before(pilot) -> None:
        await pilot.press("5", "down", "down")
        await settle(pilot)

    assert snap_compare(build(settings, frozen_time), run_before=run_before, terminal_size=SIZE)


def test_help_screen(snap_compare, settings: Settings, frozen_time) -> None:
    assert snap_compare(build(settings, frozen_time), press=["question_mark"], terminal_size=SIZE)


def test_replay_view(snap_compare, settings: Settings, frozen_time) -> None:
    """The editor's replay (f5): a fixed report, so durations are the same every run; the
    real replay runs in tests/tui/test_replay_view.py."""
    from sloth_tui.model.replay import LineDiff, Outcome, ReplayReport, ReplayRow
    from sloth_tui.tui.screens.replay import ReplayScreen

    def row(event_id: int, rec: Outcome | None, new: Outcome, **diffs: LineDiff) -> ReplayRow:
        return ReplayRow(event_id, "deploy.failed", T0 + event_id, rec, new, **diffs)

    ok = Outcome("success", 3.5, logs=2, calls=1)
    report = ReplayReport(
        "alert",
        [
            row(14, ok, Outcome("error", 1.2, error="alert.lua:3: attempt to index a nil value",
                                logs=1), logs=LineDiff.of([], ["info: paging billing"])),
            row(12, ok, Outcome("success", 4.1, logs=3, calls=2),
                logs=LineDiff.of(["info: rollback billing"], []),
                calls=LineDiff.of(["http.post https://hooks.example/rollback"], [])),
            row(9, None, Outcome("success", 2.0, logs=2, calls=1)),
            row(7, ok, Outcome("success", 3.3, logs=2, calls=1)),
        ],
        last=50,
        matched=4,
        replayed=4,
        edited=True,
    )  # fmt: skip

    async def fixed() -> ReplayReport:
        return report

    async def run_before(pilot) -> None:
        pilot.app.push_screen(ReplayScreen("alert", 50, fixed))
        await settle(pilot, lambda: getattr(pilot.app.screen, "report", None) is not None)

    assert snap_compare(build(settings, frozen_time), run_before=run_before, terminal_size=SIZE)
