"""`sloth-tui web` in a real headless Chromium: a real `serve`, two recognizable events,
`web` as a subprocess, the page opened and its terminal read until the Events screen
shows them; then stopping `web` ends the tab's dashboard too. Every process started here
is stopped by its PID."""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from browserkit import CHROMIUM, browser_page, free_port, web_server
from sourcekit import SLOTH, DaemonProcess, run_cli

Daemons = Callable[..., DaemonProcess]

pytestmark = pytest.mark.skipif(
    not CHROMIUM.exists(),
    reason=f"no Chromium at {CHROMIUM} (Debian: apt-get install chromium; "
    "or set SLOTH_TUI_CHROMIUM)",
)

MARKERS = ("web-canary-7f3a", "browser-probe-42")


def _children_of(pid: int) -> list[int]:
    """The live processes whose parent is pid (from /proc)."""
    kids = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        fields = stat.rsplit(")", 1)[1].split()
        if int(fields[1]) == pid and fields[0] != "Z":
            kids.append(int(entry.name))
    return kids


def _alive(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def _events_screen_with_both(rows: list[str]) -> bool:
    text = "\n".join(rows)
    return (
        "1 Events" in rows[0]
        and "deploy.completed" in text
        and "task.started" in text
        and all(marker in text for marker in MARKERS)
    )


async def test_the_dashboard_in_a_browser(daemons: Daemons, tmp_path: Path) -> None:
    d = daemons().start("--no-monitor")
    home = ["--home", str(d.home)]
    for args in (
        ("deploy.completed", f"environment={MARKERS[0]}", "version=4.2.0"),
        ("task.started", f"task_name={MARKERS[1]}"),
    ):
        sent = run_cli(*home, "emit", *args)
        assert sent.returncode == 0, sent.stderr

    port = free_port()
    log = tmp_path / "web.log"
    with web_server(SLOTH, d.home, port, log, "--title", "sloth-tui browser test") as web:
        async with browser_page(f"http://127.0.0.1:{port}/") as page:
            rows = await page.wait_for_rows(_events_screen_with_both, timeout=90)
            # --title names the page's loading card (textual-serve's template has no <title>).
            intro = await page.evaluate("document.querySelector('.intro').textContent")
            assert "sloth-tui browser test" in intro
            # The top bar says which daemon the tab is on: the `serve` started above (a
            # long socket path is elided there, its pid is not).
            assert d.proc is not None and f"(pid {d.proc.pid})" in rows[0]
            assert "attached" in rows[0]
            [row] = [r for r in rows if MARKERS[0] in r]
            assert "deploy.completed" in row and "version=4.2.0" in row
            tabs = _children_of(web.pid)
            assert tabs, "the tab's dashboard runs as a child of web"

            assert await page.evaluate("window.__slothSocketCloses") == []

            # Ctrl+C (SIGINT to web alone here) stops the server and the tab's dashboard.
            web.send_signal(signal.SIGINT)
            code = web.wait(30)  # a hang guard
            assert code == 0, log.read_text(errors="replace")
            # The tab was told to quit, not waited out: web closed its websocket (aiohttp's
            # own shutdown would sit on it until its heartbeat gave up, ~20 s on, and the
            # browser would see a connection lost, 1006).
            closes = await page.wait_for_value("window.__slothSocketCloses", timeout=20)
            assert closes == [{"code": 1000, "clean": True}], closes
            deadline = time.monotonic() + 20
            while any(_alive(pid) for pid in tabs) and time.monotonic() < deadline:
                time.sleep(0.05)
            left = [pid for pid in tabs if _alive(pid)]
            for pid in left:  # never leave one behind, even when the test fails
                os.kill(pid, signal.SIGKILL)
            assert not left, "dashboards still running 20 s after web stopped"
    output = log.read_text(errors="replace")
    assert f"the dashboard on http://127.0.0.1:{port}" in output
    assert "Traceback" not in output, output
    assert d.proc is not None and d.proc.poll() is None  # the daemon keeps running
