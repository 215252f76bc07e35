"""`serve`'s text log (the default): one line per record, outside text escaped, so an
operator running `serve` in a terminal, or reading journald, sees a hook's error or a
path as text and never as terminal control."""

from __future__ import annotations

import re
import signal
from collections.abc import Callable
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st
from sourcekit import DaemonProcess, ask, log_record, run_cli, wait_for

from sloth_tui.json_out import UNSAFE_PAST_C0
from sloth_tui.log_lines import PlainFormatter
from sloth_tui.sources.log_format import TEXT_FORMAT

Daemons = Callable[..., DaemonProcess]
UNSAFE = re.compile(rf"[\x00-\x1f{UNSAFE_PAST_C0}]")
UNSAFE_BUT_NEWLINE = re.compile(rf"[\x00-\x09\x0b-\x1f{UNSAFE_PAST_C0}]")
LINE_START = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} [A-Z]+ sloth_tui[.\w]*: ")
HOSTILE = "boom \x1b]0;PWNED\x07 \x1b[31mred\x1b[0m \u202eevil\nsecond line"


def test_a_message_is_one_line_with_its_controls_escaped() -> None:
    line = PlainFormatter(TEXT_FORMAT).format(log_record("hook %s failed: %s", "h", HOSTILE))
    assert "\n" not in line and not UNSAFE.search(line)
    assert line.endswith(
        r"sloth_tui.test: hook h failed: boom \x1b]0;PWNED\x07 \x1b[31mred\x1b[0m"
        r" \u202eevil\nsecond line"
    )


def test_a_traceback_keeps_its_lines_and_loses_its_controls() -> None:
    text = PlainFormatter(TEXT_FORMAT).format(log_record("it failed", exc=True))
    lines = text.splitlines()
    assert LINE_START.match(lines[0]) and lines[0].endswith("it failed")
    assert lines[1] == "Traceback (most recent call last):"
    assert lines[-2:] == ["ValueError: bad", r"value \x1b[31m"]
    assert not UNSAFE_BUT_NEWLINE.search(text)


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=2000))
def test_any_message_is_one_harmless_line(message: str) -> None:
    line = PlainFormatter(TEXT_FORMAT).format(log_record("%s", message))
    assert not UNSAFE.search(line)  # no line end of any kind, no escape, no bidi control
    assert LINE_START.match(line)


def test_serve_logs_a_hooks_error_and_its_home_as_text(daemons: Daemons, tmp_path: Path) -> None:
    home = tmp_path / "h\nx\x1bq"  # the "listening" and "ready" lines quote the path
    home.mkdir()
    hook = tmp_path / "bad.lua"
    hook.write_text('function on_event()\n  error("boom \\27]0;PWNED\\7 \\27[31mred")\nend\n')
    added = run_cli(
        "--home", str(home), "hook", "add", "bad", "--event", "task.started",
        "--file", str(hook), "--auto-disable", "2",
    )  # fmt: skip
    assert added.returncode == 0, added.stderr
    daemon = daemons(home).start("--no-monitor")
    for n in range(2):  # the second failure in a row disables it, with a warning quoting it
        ask(daemon.socket, {"type": "task.started", "data": {"task_name": f"t{n}"}})
    wait_for(lambda: "auto-disabled" in daemon.output(), what="the auto-disable warning")
    assert daemon.signal(signal.SIGTERM) == 0
    output = daemon.output()
    assert not UNSAFE_BUT_NEWLINE.search(output)
    lines = output.splitlines()
    assert all(LINE_START.match(line) for line in lines), output
    assert any(
        line.endswith(r"last error: bad.lua:2: boom \x1b]0;PWNED\x07 \x1b[31mred") for line in lines
    ), output
    escaped_home = str(home).replace("\n", r"\n").replace("\x1b", r"\x1b")
    assert any(f"ready: engine on {escaped_home}" in line for line in lines), output
