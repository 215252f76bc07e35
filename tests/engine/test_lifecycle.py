"""system.startup and system.shutdown come from engines that serve, never from one-shot
commands: `serve` and the dashboard's embedded engine open with lifecycle=True; `emit`,
`hook enable`, `hook test` and every other command open without it."""

from __future__ import annotations

import contextlib
import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from sloth_tui.cli import main
from sloth_tui.config import Settings, load_settings
from sloth_tui.engine.engine import Engine

LIFECYCLE = ("system.startup", "system.shutdown")
COUNTER = "function on_event() state.incr(event.type) return true end"


def rows(home: Path, sql: str) -> list[tuple[object, ...]]:
    with contextlib.closing(sqlite3.connect(load_settings(home).db_path)) as conn:
        return conn.execute(sql).fetchall()


def event_types(home: Path) -> list[str]:
    return [str(t) for (t,) in rows(home, "SELECT type FROM events ORDER BY id")]


async def test_engine_records_no_lifecycle_by_default(settings: Settings) -> None:
    engine = await Engine.open(settings)
    await engine.dispatch("myapp.ping", {})
    await engine.close(reason="done")
    reader = await Engine.open(settings, readonly=True)
    try:
        assert [e.type for e in await reader.query_events(limit=10)] == ["myapp.ping"]
    finally:
        await reader.close()


async def test_lifecycle_engine_records_startup_and_shutdown(settings: Settings) -> None:
    engine = await Engine.open(settings, lifecycle=True)
    await engine.close(reason="test over")
    engine = await Engine.open(settings, readonly=True)
    events = await engine.query_events(limit=10)
    await engine.close()
    assert [e.type for e in events] == ["system.shutdown", "system.startup"]
    assert events[0].data["reason"] == "test over"
    assert events[0].data["uptime"] >= 0
    assert events[1].data["version"] and events[1].data["start_time"].endswith("Z")
    assert all(not e.warnings and e.source == "system" for e in events)


async def test_lifecycle_hooks_run_once_per_serving_engine(
    settings: Settings, lua_file: Callable[..., Path]
) -> None:
    engine = await Engine.open(settings)
    await engine.add_hook("life", ["system.*"], lua_file(COUNTER))
    await engine.close()
    for _ in range(2):  # one-shot opens: the hook never runs
        engine = await Engine.open(settings)
        await engine.close()
    engine = await Engine.open(settings, lifecycle=True)
    await engine.close()
    engine = await Engine.open(settings, readonly=True)
    try:
        runs = await engine.executions(hook="life")
        assert sorted(r.event_type for r in runs) == sorted(LIFECYCLE)
        assert all(r.status == "success" for r in runs)
        assert await engine.store.state_get("life", "system.startup") == 1
        assert await engine.store.state_get("life", "system.shutdown") == 1
    finally:
        await engine.close()


async def test_readonly_engine_cannot_be_a_lifecycle_engine(settings: Settings) -> None:
    with pytest.raises(ValueError, match="read-only"):
        await Engine.open(settings, readonly=True, lifecycle=True)


# -- the CLI ------------------------------------------------------------------------------


def test_one_shot_cli_commands_record_no_lifecycle(home: Path, tmp_path: Path) -> None:
    runner = CliRunner()

    def cli(*args: str) -> Result:
        return runner.invoke(main, ["--home", str(home), *args], catch_exceptions=False)

    counter = tmp_path / "life.lua"
    counter.write_text(COUNTER)
    broken = tmp_path / "broken.lua"
    broken.write_text('function on_event() error("boom") end')
    steps = [
        (["hook", "add", "life", "--event", "system.*", "--file", str(counter)], 0),
        (["hook", "add", "broken", "--event", "custom", "--file", str(broken)], 0),
        (["emit", "custom", "name=x", "message=y"], None),  # exits 1: broken fails on it
        (["hook", "disable", "broken"], 0),
        (["hook", "enable", "broken"], 0),
        (["hook", "test", "broken"], 1),  # a failing dry run
        (["hook", "list"], 0),
        (["hook", "show", "life"], 0),
        (["event", "list"], 0),
        (["event", "dispatch", "myapp.ping"], 0),
    ]
    for args, code in steps:
        result = cli(*args)
        if code is not None:
            assert result.exit_code == code, (args, result.output)
    assert event_types(home) == ["custom", "myapp.ping"]
    assert rows(home, "SELECT COUNT(*) FROM executions WHERE hook = 'life'") == [(0,)]


def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SLOTH_TUI_")}
    env["NO_COLOR"] = "1"
    return env


def test_emit_in_a_subprocess_records_no_lifecycle(home: Path) -> None:
    cmd = [sys.executable, "-m", "sloth_tui", "--home", str(home), "emit", "custom"]
    done = subprocess.run(
        [*cmd, "name=x", "message=y"], env=_env(), capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    assert event_types(home) == ["custom"]


def test_serve_records_startup_and_shutdown(home: Path, tmp_path: Path) -> None:
    settings = load_settings(home)
    counter = tmp_path / "life.lua"
    counter.write_text(COUNTER)
    added = CliRunner().invoke(
        main, ["--home", str(home), "hook", "add", "life", "--event", "system.*", "--file",
               str(counter)],
    )  # fmt: skip
    assert added.exit_code == 0, added.output
    cmd = [sys.executable, "-m", "sloth_tui", "--home", str(home), "serve"]
    proc = subprocess.Popen(
        [*cmd, "--no-monitor", "--no-watchers"],
        env=_env(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 60
        while not settings.socket_path.exists():  # listening: the engine is open
            assert proc.poll() is None, proc.stderr.read() if proc.stderr else ""
            assert time.monotonic() < deadline, "serve did not start"
            time.sleep(0.02)  # polling a condition, bounded by the deadline
        proc.send_signal(signal.SIGTERM)
        _out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0, err
    assert event_types(home) == list(LIFECYCLE)
    runs = rows(home, "SELECT status FROM executions WHERE hook = 'life' AND dry_run = 0")
    assert runs == [("success",), ("success",)]
