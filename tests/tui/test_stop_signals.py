"""The dashboard's embedded engine stops like `serve` (issue 11): a second SIGTERM while it
closes, with a hook run that would hold the close for a minute, stops at once and safely."""

from __future__ import annotations

import signal
import sqlite3
import time
from pathlib import Path

from sourcekit import ask, db_rows, run_cli
from test_signals import PtyProcess

from sloth_tui.remote.protocol import probe

SPINNER = "function on_event() while true do end end"  # ends at its 60 s deadline


def test_a_second_sigterm_stops_the_dashboard_at_once(tmp_path: Path) -> None:
    home = tmp_path / "home"
    spinner = tmp_path / "spin.lua"
    spinner.write_text(SPINNER)
    added = run_cli(
        *("--home", str(home), "hook", "add", "spin", "--event", "deploy.*"),
        *("--file", str(spinner), "--timeout", "60", "--max-instructions", str(10**11)),
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
        began = time.monotonic()
        p.proc.send_signal(signal.SIGTERM)
        code = p.finish(timeout=30)
        took = time.monotonic() - began
        out = p.output()
    finally:
        p.close()
    assert code == 128 + signal.SIGTERM, out
    assert took <= 3.0, f"the second signal took {took:.1f} s"
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
