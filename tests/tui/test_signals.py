"""The dashboard as a process on a real pseudo-terminal: signals close it cleanly.

An SSH session that drops sends SIGHUP. Before, the process died on the spot: `demo` left
its temporary home behind and the embedded engine never recorded its shutdown.
"""

from __future__ import annotations

import json
import os
import pty
import signal
import subprocess
import time
from pathlib import Path

import pytest
from sourcekit import SLOTH, db_rows


class PtyProcess:
    """`sloth-tui ARGS` with a pty as its terminal (Textual draws on stderr, so both go
    to the pty; `output` is everything the process wrote)."""

    def __init__(self, *args: str, env: dict[str, str]) -> None:
        self.master, slave = pty.openpty()
        os.set_blocking(self.master, False)
        self.proc = subprocess.Popen(
            [*SLOTH, *args],
            stdin=slave,
            stdout=slave,
            stderr=slave,
            env={**os.environ, "TERM": "xterm-256color", "COLUMNS": "80", "LINES": "24", **env},
            start_new_session=True,
        )
        os.close(slave)
        self.screen = b""

    def drain(self) -> None:
        """Read what the app drew (a full pty would block it)."""
        try:
            while chunk := os.read(self.master, 65536):
                self.screen += chunk
        except (BlockingIOError, OSError):
            pass

    def wait_for(self, predicate: object, timeout: float = 30.0, what: str = "") -> None:
        deadline = time.monotonic() + timeout
        while not predicate():  # type: ignore[operator]
            self.drain()
            assert self.proc.poll() is None, f"exited early: {self.output()}"
            assert time.monotonic() < deadline, f"timed out waiting for {what}"
            time.sleep(0.05)

    def finish(self, timeout: float = 30.0) -> int:
        deadline = time.monotonic() + timeout
        while self.proc.poll() is None:
            self.drain()
            assert time.monotonic() < deadline, "did not exit"
            time.sleep(0.05)
        return self.proc.returncode

    def output(self) -> str:
        self.drain()
        return self.screen.decode(errors="replace")

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)
        os.close(self.master)


@pytest.fixture
def home(tmp_path: Path) -> Path:
    return tmp_path / "home"


def test_sighup_removes_the_demo_home(tmp_path: Path) -> None:
    tmp = tmp_path / "tmp"
    tmp.mkdir()
    p = PtyProcess("demo", env={"TMPDIR": str(tmp)})
    try:
        # The demo's home appears under TMPDIR; its engine takes the lock once it runs.
        p.wait_for(lambda: list(tmp.glob("sloth-tui-demo-*/engine.lock")), what="the demo home")
        (demo_home,) = list(tmp.glob("sloth-tui-demo-*"))
        p.wait_for(lambda: b"Events" in p.screen or b"LIVE" in p.screen, what="the first screen")
        p.proc.send_signal(signal.SIGHUP)
        code = p.finish()
    finally:
        p.close()
    assert code == 128 + signal.SIGHUP
    assert not demo_home.exists(), "the demo home was left behind"


def test_sigterm_closes_the_dashboard_and_records_its_shutdown(home: Path) -> None:
    p = PtyProcess("--home", str(home), "--embedded", env={})
    try:
        p.wait_for(lambda: (home / "sloth.sock").exists(), what="the embedded engine's socket")
        p.wait_for(lambda: b"LIVE" in p.screen, what="the first screen")
        p.proc.send_signal(signal.SIGTERM)
        code = p.finish()
        out = p.output()
    finally:
        p.close()
    assert code == 128 + signal.SIGTERM, out
    assert "Traceback" not in out
    rows = db_rows(home, "SELECT type, data FROM events WHERE category = 'system' ORDER BY id")
    assert [r[0] for r in rows] == ["system.startup", "system.shutdown"]
    assert json.loads(rows[-1][1])["reason"] == "dashboard closed"
    assert not (home / "sloth.sock").exists()
