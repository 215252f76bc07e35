"""The dashboard under Textual's own runner (`App.run_async`), as `sloth-tui` runs it.

Pilot's `run_test` skips what `run_async` does first on Python 3.12+: it turns on asyncio's
eager tasks. Under them the dashboard died at start with ScreenStackError ("No screens on
stack", from Input._watch_selection -> App.clear_selection) on 3.12 and 3.13, while every
Pilot test passed. These tests go through run_async, headless, on every Python we run.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from textual.pilot import Pilot
from tui_helpers import fake_sysinfo, wait_for

from sloth_tui.config import Settings
from sloth_tui.tui.app import SlothApp
from sloth_tui.tui.screens.executions import ExecutionsScreen
from sloth_tui.tui.screens.hooks import HooksScreen


async def test_every_screen_opens_under_run_async(settings: Settings) -> None:
    app = SlothApp(settings, sysinfo=fake_sysinfo, tick=0.05, demo=50.0)
    seen: list[str] = []

    async def drive(pilot: Pilot[Any]) -> None:
        events = app.events_screen
        await wait_for(pilot, lambda: app.events_screen is not None)
        events = app.events_screen
        assert events is not None
        await wait_for(pilot, lambda: len(events.feed) > 5, timeout=10)
        for key, kind in (("2", HooksScreen), ("3", ExecutionsScreen)):
            await pilot.press(key)
            await wait_for(pilot, lambda kind=kind: isinstance(app.screen, kind))
            seen.append(type(app.screen).__name__)
        await pilot.press("4", "5", "question_mark", "escape", "1", "slash")
        await pilot.press(*"type:deploy.*", "enter")
        await wait_for(pilot, lambda: events.feed.flt.text == "type:deploy.*")
        # negative: a few ticks of the live stream, filtered, in which it must not crash
        await pilot.pause(0.2)
        app.exit()

    await app.run_async(headless=True, size=(100, 30), auto_pilot=drive)
    assert app.return_code == 0, app.crash_message
    assert seen == ["HooksScreen", "ExecutionsScreen"]


async def test_a_crash_exits_non_zero_with_one_line_and_a_saved_traceback(
    settings: Settings,
) -> None:
    app = SlothApp(settings, sysinfo=fake_sysinfo, tick=0.05)

    async def drive(pilot: Pilot[Any]) -> None:
        await pilot.pause()

        def boom() -> None:
            raise RuntimeError("a bug [/srv] \x1b]0;title\x07")

        app.call_later(boom)
        for _ in range(500):  # the crash ends the app: wait for it (bounded)
            if app.crash_message is not None:
                return
            await asyncio.sleep(0.01)

    await app.run_async(headless=True, size=(100, 30), auto_pilot=drive)
    assert app.return_code == 1
    report = app.crash_report
    assert report is not None and report.parent == settings.home / "logs"
    assert report.stat().st_mode & 0o777 == 0o600
    text = report.read_text()
    assert "RuntimeError: a bug [/srv]" in text and "Traceback" in text
    line = app.crash_message
    assert line is not None and "\n" not in line and "\x1b" not in line
    assert line.startswith("error: unexpected RuntimeError: a bug [/srv]")
    assert str(report) in line


def test_the_process_exits_non_zero_after_a_crash(tmp_path: Path) -> None:
    """`sloth-tui` itself: a crash inside the app is exit 1 and one line on stderr."""
    import contextlib
    import os
    import pty
    import subprocess
    import sys
    import threading

    home = tmp_path / "home"
    script = (
        "import sys\n"
        "from sloth_tui.tui import app as app_module\n"
        "def boom(self):\n"
        "    raise RuntimeError('injected crash')\n"
        "app_module.SlothApp.on_ready = boom\n"
        "from sloth_tui.cli import main\n"
        f"sys.argv = ['sloth-tui', '--home', {str(home)!r}, '--embedded']\n"
        "main()\n"
    )
    # A terminal, as an operator has (the dashboard refuses to start without one).
    master, slave = pty.openpty()
    try:
        proc = subprocess.Popen(
            [sys.executable, "-c", script],
            stdin=slave,
            stdout=slave,
            stderr=slave,
            env={"TERM": "xterm-256color", "PATH": "/usr/bin:/bin", "HOME": str(tmp_path)},
        )
        os.close(slave)
        chunks: list[bytes] = []

        def read() -> None:  # meanwhile: a terminal nobody reads would block the app
            with contextlib.suppress(OSError):  # EIO: the process and its terminal are gone
                while chunk := os.read(master, 65536):
                    chunks.append(chunk)

        reader = threading.Thread(target=read, daemon=True)
        reader.start()
        code = proc.wait(timeout=60)
        reader.join(timeout=10)
    finally:
        os.close(master)
    text = b"".join(chunks).decode(errors="replace")
    assert code == 1, text
    assert "Traceback" not in text
    assert "unexpected RuntimeError: injected crash" in text
    assert list((home / "logs").glob("crash-*.log"))
