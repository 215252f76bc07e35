"""`serve --log-format json`: every stderr line of a real `serve` is one JSON object
(time, level, logger, message, exception), whatever the messages hold."""

from __future__ import annotations

import json
import re
import signal
from collections.abc import Callable
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st
from sourcekit import DaemonProcess, ask, log_record, run_cli, wait_for

from sloth_tui.sources.log_format import JsonFormatter, iso_utc

Daemons = Callable[..., DaemonProcess]
ISO_UTC = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")


def test_a_record_is_one_line_of_json_with_its_fields() -> None:
    line = JsonFormatter().format(log_record("path %s\nnext\x1b]0;title\x07 \u2028 end", "/srv/a"))
    assert len(line.splitlines()) == 1  # splitlines also splits on \x85, \u2028, \x1c...
    assert line.isascii()
    record = json.loads(line)
    assert record["message"] == "path /srv/a\nnext\x1b]0;title\x07 \u2028 end"
    assert record["level"] == "warning"
    assert record["logger"] == "sloth_tui.test"
    assert ISO_UTC.match(record["time"])
    assert "exception" not in record


def test_the_exception_text_is_kept_on_the_same_line() -> None:
    line = JsonFormatter().format(log_record("it failed", exc=True))
    assert len(line.splitlines()) == 1
    record = json.loads(line)
    assert record["exception"].startswith("Traceback (most recent call last):")
    assert "ValueError: bad\nvalue \x1b[31m" in record["exception"]


def test_time_is_utc_iso_8601() -> None:
    assert iso_utc(0.0) == "1970-01-01T00:00:00.000Z"
    assert iso_utc(1_796_000_000.25) == "2026-11-30T00:53:20.250Z"


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=2000))
def test_any_message_round_trips_on_one_line(message: str) -> None:
    line = JsonFormatter().format(log_record("%s", message))
    assert len(line.splitlines()) == 1
    assert json.loads(line)["message"] == message


def test_serve_writes_only_json_lines(daemons: Daemons, tmp_path: Path) -> None:
    # A home whose name holds a newline and an escape: the "ready" line quotes the path.
    home = tmp_path / "h\nx\x1bq"
    daemon = daemons(home).start("--log-format", "json", "--no-monitor", "--log-level", "debug")
    ask(daemon.socket, {"type": "custom", "data": {"name": "n", "message": "a\nb"}})
    wait_for(lambda: "ready" in daemon.output(), what="the ready line")
    assert daemon.signal(signal.SIGTERM) == 0
    lines = daemon.output().splitlines()
    assert lines, "serve logged nothing"
    records = []
    for line in lines:
        try:
            records.append(json.loads(line))
        except ValueError:
            raise AssertionError(f"not a JSON line: {line!r}") from None
    for record in records:
        assert set(record) >= {"time", "level", "logger", "message"}
        assert ISO_UTC.match(record["time"])
    ready = [r for r in records if r["message"].startswith("ready")]
    assert ready and str(home) in ready[0]["message"]  # the newline came back exactly
    assert any(r["message"] == "stopped" for r in records)
    assert {r["level"] for r in records} <= {"debug", "info", "warning", "error", "critical"}


def test_a_failed_start_is_a_json_line_too(daemons: Daemons, tmp_path: Path) -> None:
    home = tmp_path / "home"
    first = daemons(home).start("--no-monitor")
    second = run_cli("serve", "--home", str(home), "--no-monitor", "--log-format", "json")
    assert second.returncode == 1
    records = [json.loads(line) for line in second.stderr.splitlines()]
    assert records[-1]["level"] == "error"
    assert "another sloth-tui engine" in records[-1]["message"]
    assert first.signal(signal.SIGTERM) == 0
