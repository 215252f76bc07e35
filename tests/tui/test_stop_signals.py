"""The dashboard's embedded engine stops like `serve` (issue 11): a second SIGTERM while it
closes, with a hook run that would hold the close for an hour, stops at once and safely;
and the handlers that route the signals (tui/launch.py, StopSignals), on real signals."""

from __future__ import annotations

import asyncio
import os
import signal
import sqlite3
from pathlib import Path

from sourcekit import ask, db_rows, run_cli
from test_signals import PtyProcess
from waiting import eventually

from sloth_tui.remote.protocol import probe
from sloth_tui.tui.launch import StopSignals

# Ends at its deadline, an hour away (its budget is as far): a close that waits for it
# cannot end inside the test, so only the forced stop can.
SPINNER = "function on_event() while true do end end"


def test_a_second_sigterm_stops_the_dashboard_at_once(tmp_path: Path) -> None:
    home = tmp_path / "home"
    spinner = tmp_path / "spin.lua"
    spinner.write_text(SPINNER)
    added = run_cli(
        *("--home", str(home), "hook", "add", "spin", "--event", "deploy.*"),
        *("--file", str(spinner), "--timeout", "3600", "--max-instructions", str(10**12)),
    )
    assert added.returncode == 0, added.stderr
    sock = home / "sloth.sock"
    p = PtyProcess("--home", str(home), "--embedded", env={})
    try:
        p.wait_for(lambda: sock.exists(), what="the embedded engine's socket")
        p.wait_for(lambda: b"LIVE" in p.screen, what="the first screen")
        [reply] = ask(sock, {"type": "deploy.started", "data": {"service": "api"}})
        p.wait_for(
            lambda: (
                db_rows(home, "SELECT status FROM events WHERE id = ?", (reply["id"],))
                == [("processing",)]
            ),
            what="the spinner to start",
        )
        p.proc.send_signal(signal.SIGTERM)
        # Closing: the socket no longer answers (on 3.13 asyncio also unlinks its file when
        # the listener closes), and the dashboard is still up: the run holds the stop.
        p.wait_for(lambda: probe(sock, timeout=0.2) is None, what="the close to begin")
        assert p.proc.poll() is None
        p.proc.send_signal(signal.SIGTERM)
        code = p.finish(timeout=30)  # the hang guard: the graceful close takes an hour
        out = p.output()
    finally:
        p.close()
    assert code == 128 + signal.SIGTERM, out
    assert "Traceback" not in out
    assert not sock.exists()
    with sqlite3.connect(home / "sloth.db") as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone() == ("ok",)
    # Cut off: left unfinished for the next engine; the lock is free for it.
    assert db_rows(home, "SELECT status FROM events WHERE id = ?", (reply["id"],)) == [
        ("processing",)
    ]
    listed = run_cli("--home", str(home), "--embedded", "hook", "list")
    assert listed.returncode == 0, listed.stderr


class _App:
    """The one seam here: what StopSignals asks of the app (exit with a code)."""

    def __init__(self) -> None:
        self.exits: list[int | None] = []

    def exit(self, return_code: int | None = None) -> None:
        self.exits.append(return_code)


async def _delivered(signals: StopSignals, sig: signal.Signals, app: _App) -> None:
    """Send `sig` to this process and wait until the loop's handler has seen it."""
    before = (len(app.exits), signals.forced.done())
    os.kill(os.getpid(), sig)
    await eventually(lambda: (len(app.exits), signals.forced.done()) != before, what="the signal")


async def test_a_second_sigterm_while_the_app_closes_forces_the_stop() -> None:
    """CI, 3.13: the second SIGTERM came while the app was still closing (the socket had
    stopped answering a 0.2 s probe under load). It only asked the app to exit again, and
    the close then waited a minute for the spinning hook. Now any signal after the first
    cuts the close short, in whichever phase it comes."""
    loop = asyncio.get_running_loop()
    app = _App()
    signals = StopSignals(loop)
    signals.running(app)  # type: ignore[arg-type]
    try:
        await _delivered(signals, signal.SIGTERM, app)
        assert app.exits == [128 + signal.SIGTERM] and not signals.forced.done()
        await _delivered(signals, signal.SIGTERM, app)  # the app has not closed yet
        assert signals.forced.result() == signal.SIGTERM
        assert app.exits == [128 + signal.SIGTERM]
    finally:
        signals.closing()
        signals.remove()


async def test_once_closing_sigint_forces_and_sighup_does_not() -> None:
    loop = asyncio.get_running_loop()
    app = _App()
    signals = StopSignals(loop)
    signals.running(app)  # type: ignore[arg-type]
    signals.closing()  # the app quit by `q`: no signal yet
    try:
        os.kill(os.getpid(), signal.SIGHUP)  # the terminal went away: the close goes on
        os.kill(os.getpid(), signal.SIGINT)
        await eventually(signals.forced.done, what="SIGINT to force the stop")
        assert signals.forced.result() == signal.SIGINT and app.exits == []
    finally:
        signals.remove()
    # Removed: the loop's handlers are gone, Python's own are back.
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler
