"""The standard streams as operators leave them (commands/output.py suit_the_terminal).

A terminal whose encoding is not UTF-8 (a latin-1 locale): what it cannot encode is
printed as an escape, never a UnicodeEncodeError halfway through a listing, and --json
output still reads back exactly. A closed stdin reads as empty; a closed stdout is an
error, since the output was lost."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

from sourcekit import SLOTH, run_cli

DATA = {"name": "n", "message": "héllo ✓ 😀 \u202e"}


def _latin1(*args: str) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(
        [*SLOTH, *args],
        capture_output=True,
        env={**os.environ, "PYTHONIOENCODING": "latin-1"},
        timeout=30,
        check=False,
    )


def test_a_listing_escapes_what_the_terminal_cannot_show(tmp_path: Path) -> None:
    home = str(tmp_path / "home")
    fired = run_cli("--home", home, "event", "dispatch", "custom", "--data", json.dumps(DATA))
    assert fired.returncode == 0, fired.stderr
    listed = _latin1("--home", home, "event", "list")
    assert listed.returncode == 0, listed.stderr
    out = listed.stdout.decode("latin-1")
    assert 'message="h\xe9llo \\u2713 \\ud83d\\ude00 \\u202e"' in out  # é is latin-1
    shown = _latin1("--home", home, "event", "show", "1")
    assert shown.returncode == 0, shown.stderr


def test_json_reads_back_exactly(tmp_path: Path) -> None:
    home = str(tmp_path / "home")
    run_cli("--home", home, "event", "dispatch", "custom", "--data", json.dumps(DATA))
    for args in (["event", "list", "--json"], ["event", "show", "1", "--json"]):
        done = _latin1("--home", home, *args)
        assert done.returncode == 0, done.stderr
        value = json.loads(done.stdout.decode("latin-1"))
        event = value[0] if isinstance(value, list) else value
        assert event["data"] == DATA


def test_a_closed_stdin_reads_as_empty(tmp_path: Path) -> None:
    home = str(tmp_path / "home")
    for args, code, said in (
        (["event", "import", "-"], 0, "imported 0 events\n"),
        (["secret", "set", "x"], 1, "error: no value on stdin (pipe it in, or run without a pipe"),
    ):
        done = subprocess.run(
            [*SLOTH, "--home", home, *args],
            capture_output=True,
            text=True,
            preexec_fn=lambda: os.close(0),  # `<&-`: Python's sys.stdin is None
            timeout=30,
            check=False,
        )
        assert done.returncode == code, done.stderr
        assert (done.stdout + done.stderr).startswith(said), done.stderr


def test_a_closed_stdout_is_an_error_not_a_silent_success(tmp_path: Path) -> None:
    """`event list >&-` exited 0 having printed nothing; as `ls >&-`, it fails and says so
    (the fast JSON path too)."""
    home = str(tmp_path / "home")
    run_cli("--home", home, "event", "dispatch", "custom", "--data", json.dumps(DATA))
    for args in (
        ["event", "list"],
        ["event", "list", "--json", "--limit", "1"],
        ["event", "list", "--type", "nothing.matches", "--json"],  # prints []
        ["hook", "list"],
        ["hook", "list", "--json"],
    ):
        done = subprocess.run(
            [*SLOTH, "--home", home, *args],
            stderr=subprocess.PIPE,
            text=True,
            preexec_fn=lambda: os.close(1),  # `>&-`: Python's sys.stdout is None
            timeout=30,
            check=False,
        )
        assert done.returncode == 1, (args, done.stderr)
        assert done.stderr.splitlines()[-1:] == [
            "error: standard output is closed: the command's output was lost"
        ], (args, done.stderr)


def test_the_dashboard_without_a_terminal_says_so_and_exits(tmp_path: Path) -> None:
    """`ssh host sloth-tui` without -t, a cron job: no screen to draw on (it drew escape
    sequences into the pipe until killed). Where a terminal is there, tests/tui/
    test_signals.py runs it on a pty."""
    home = str(tmp_path / "home")
    for args in ([], ["dashboard"], ["demo"]):
        done = run_cli("--home", home, *args, input="")  # stdin and stdout are pipes
        assert done.returncode == 1, done.stdout[:200]
        assert done.stderr.endswith(
            "error: the dashboard needs a terminal, and stdin is not one (over ssh: ssh -t);"
            " to follow events from a script: sloth-tui event tail\n"
        )
        assert done.stdout == ""
