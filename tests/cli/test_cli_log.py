"""Log records in a command's terminal (commands/cli_log.py): `warning: ...`, one line,
escaped, no traceback; written to sys.stderr as it is at the time (the dashboard's
Textual holds it while it draws)."""

from __future__ import annotations

import io
import json
import logging
import re
import sqlite3
import sys
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sourcekit import run_cli

from sloth_tui.commands.cli_log import CurrentStderr, OneLineFormatter, install
from sloth_tui.json_out import UNSAFE_PAST_C0

UNSAFE = re.compile(rf"[\x00-\x1f{UNSAFE_PAST_C0}]")


def _record(message: str, *args: object, error: BaseException | None = None) -> logging.LogRecord:
    exc_info = None
    if error is not None:
        try:
            raise error
        except BaseException:  # any error is the record's
            exc_info = sys.exc_info()
    return logging.LogRecord(
        "sloth_tui.test", logging.WARNING, __file__, 1, message, args, exc_info
    )


def test_a_warning_in_a_command_is_one_line_in_its_words(tmp_path: Path) -> None:
    # A real record from the engine, in a real command: a stored policy this version
    # cannot read is ignored with a warning, and the command goes on.
    home = tmp_path / "home"
    hook = tmp_path / "ok.lua"
    hook.write_text("function on_event() end\n")
    added = run_cli("--home", str(home), "hook", "add", "ok", "-e", "task.started", "-f", str(hook))
    assert added.returncode == 0, added.stderr
    with sqlite3.connect(home / "sloth.db") as db:
        db.execute("UPDATE hooks SET policy = ?", (json.dumps({"dedupe": "soon\x1b]0;T\x07"}),))
    listed = run_cli("--home", str(home), "hook", "list")
    assert listed.returncode == 0
    assert listed.stderr == (
        "warning: a stored hook policy cannot be read (dedupe: 'soon\\x1b]0;T\\x07' is not a"
        " duration (30, 1.5s, 10m, 2h)); it is ignored\n"
    )
    assert listed.stdout.startswith("NAME")


def test_an_error_is_its_type_and_text_without_a_traceback() -> None:
    line = OneLineFormatter().format(
        _record("recording %s failed", "x", error=ValueError("bad\nvalue \x1b[31m"))
    )
    assert line == r"warning: recording x failed (ValueError: bad\nvalue \x1b[31m)"


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=2000), st.text(max_size=500))
def test_any_message_and_error_make_one_harmless_line(message: str, why: str) -> None:
    line = OneLineFormatter().format(_record("%s", message, error=RuntimeError(why)))
    assert line.startswith("warning: ")
    assert not UNSAFE.search(line)  # no line end of any kind, no escape, no bidi control


def test_records_go_to_stderr_as_it_is_when_they_come(monkeypatch: pytest.MonkeyPatch) -> None:
    handler = CurrentStderr(logging.WARNING)
    handler.setFormatter(OneLineFormatter())
    first, second = io.StringIO(), io.StringIO()
    monkeypatch.setattr(sys, "stderr", first)
    handler.handle(_record("one"))
    monkeypatch.setattr(sys, "stderr", second)  # as Textual does while the dashboard draws
    handler.handle(_record("two \x1b[2J"))
    assert (first.getvalue(), second.getvalue()) == ("warning: one\n", "warning: two \\x1b[2J\n")


def test_installing_twice_keeps_one_handler() -> None:
    root = logging.getLogger()
    before = list(root.handlers)
    try:
        install()
        install()
        assert sum(isinstance(h, CurrentStderr) for h in root.handlers) == 1
    finally:
        root.handlers[:] = before
