"""Ctrl-C during `event dispatch` loses no committed event; its hooks run after a restart."""

from __future__ import annotations

import asyncio
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

from sloth_tui.config import load_settings
from sloth_tui.engine.engine import Engine


def _event_row(db: Path, type_: str) -> tuple[int, str] | None:
    if not db.exists():
        return None
    try:
        with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as conn:
            return conn.execute("SELECT id, status FROM events WHERE type = ?", (type_,)).fetchone()
    except sqlite3.OperationalError:
        return None


def test_sigint_during_dispatch_keeps_the_event(home: Path, tmp_path: Path) -> None:
    slow = tmp_path / "slow.lua"
    # Busy for 3 s: long enough to interrupt while the hook runs.
    slow.write_text(
        "function on_event() local t = os.clock() while os.clock() - t < 3 do end end\n"
    )
    env = os.environ | {"SLOTH_TUI_HOME": str(home)}
    cmd = [sys.executable, "-m", "sloth_tui"]
    subprocess.run(
        [
            *cmd,
            "hook",
            "add",
            "slow",
            "--event",
            "deploy.failed",
            "--file",
            str(slow),
            "--timeout",
            "1",
        ],
        env=env,
        check=True,
        capture_output=True,
    )
    proc = subprocess.Popen(
        [*cmd, "event", "dispatch", "deploy.failed", "service=api"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    db = home / "sloth.db"
    deadline = time.monotonic() + 20
    while _event_row(db, "deploy.failed") is None:
        assert time.monotonic() < deadline, "event never committed"
        time.sleep(0.02)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=30)
    assert b"Traceback" not in err
    row = _event_row(db, "deploy.failed")
    assert row is not None  # the committed event survived the interrupt

    async def restart() -> list[str]:
        engine = await Engine.open(load_settings(home))
        await engine.wait_idle()
        runs = await engine.executions_of(row[0])
        status = (await engine.get_event(row[0])).status
        await engine.close()
        assert status in ("completed", "failed")
        return [r.hook for r in runs]

    assert asyncio.run(restart()) == ["slow"]  # exactly once, before or after the restart


def test_second_engine_gets_a_clear_message(home: Path, tmp_path: Path) -> None:
    async def hold_and_try() -> str:
        engine = await Engine.open(load_settings(home))
        try:
            proc = await asyncio.create_subprocess_exec(
                sys.executable,
                "-m",
                "sloth_tui",
                "--home",
                str(home),
                "event",
                "dispatch",
                "myapp.x",
                stderr=asyncio.subprocess.PIPE,
            )
            _, err = await proc.communicate()
            assert proc.returncode == 1
            return err.decode()
        finally:
            await engine.close()

    message = asyncio.run(hold_and_try())
    assert "another sloth-tui engine is running" in message
    assert f"pid {os.getpid()}" in message
    assert "Traceback" not in message
