"""`sloth-tui hook explain EVENT_ID [NAME] [--json]`: plain aligned text with outside text
escaped, the verdicts as JSON, one-line errors; embedded and through a real daemon."""

from __future__ import annotations

import asyncio
import json
import re
import signal
from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from hostile import hostile_text
from hypothesis import given, settings
from hypothesis import strategies as st
from sourcekit import DaemonProcess, run_cli

from sloth_tui.cli import main
from sloth_tui.commands.hook_explain import explain_lines
from sloth_tui.config import load_settings
from sloth_tui.engine.engine import Engine
from sloth_tui.model.explain import HookVerdict, RunSeen
from sloth_tui.model.policy import HookPolicy
from sloth_tui.model.records import Event

HOSTILE = "\x1b]0;pwned\x07[bold red]x[/]\u202e\nline"


@pytest.fixture
def cli(home: Path) -> Callable[..., Result]:
    runner = CliRunner()

    def invoke(*args: str) -> Result:
        return runner.invoke(main, ["--home", str(home), *args], catch_exceptions=False)

    return invoke


def seed(home: Path, tmp_path: Path) -> int:
    """Three hooks and one event they were checked against; returns the event's id."""
    ok = tmp_path / "ok.lua"
    ok.write_text("function on_event() end")
    boom = tmp_path / "boom.lua"
    boom.write_text('function on_event() error("\\27[2J" .. event.data.service) end')

    async def body() -> int:
        engine = await Engine.open(load_settings(home))
        try:
            await engine.add_hook("keyed", ["deploy.*"], ok)
            await engine.update_hook("keyed", policy=HookPolicy(mode="single", key="data.service"))
            await engine.add_hook("boom", ["deploy.*"], boom)
            await engine.add_hook("tasks", ["task.*"], ok)
            event = await engine.dispatch("deploy.failed", {"service": HOSTILE}, wait=True)
            assert await engine.wait_idle()
            return event.id
        finally:
            await engine.close()

    return asyncio.run(body())


def test_text_output_is_aligned_and_escaped(
    cli: Callable[..., Result], home: Path, tmp_path: Path
) -> None:
    event_id = seed(home, tmp_path)
    result = cli("hook", "explain", str(event_id))
    assert result.exit_code == 0, result.output
    out = result.output
    assert "\x1b" not in out and "\x07" not in out and "\u202e" not in out
    lines = out.splitlines()
    assert lines[0].startswith(f"event {event_id}  deploy.failed  ")
    assert lines[1] == "3 hooks: 2 would run, 1 would not"
    assert "boom: would run" in lines and "tasks: would not run" in lines
    assert "  ✗ pattern    none of task.* matches deploy.failed" in lines
    run = next(line for line in lines if line.startswith("  ✗ run        #"))
    assert run.endswith(": \\x1b[2J\\x1b]0;pwned\\x07[bold red]x[/]\\u202e\\nline")
    mode = next(line for line in lines if "single per data.service" in line)
    assert mode.endswith("(this event: \\x1b]0;pwned\\x07[bold red]x[/]\\u202e\\nline)")
    assert "  ✓ outcome" not in out and "    outcome    ran: error" in lines
    assert "    outcome    not run: no pattern of the hook matches deploy.failed" in lines


def test_one_hook_and_json(cli: Callable[..., Result], home: Path, tmp_path: Path) -> None:
    event_id = seed(home, tmp_path)
    result = cli("hook", "explain", str(event_id), "keyed", "--json")
    assert result.exit_code == 0, result.output
    (verdict,) = json.loads(result.output)
    assert verdict["hook"] == "keyed" and verdict["would_run"] is True
    assert verdict["key_value"] == HOSTILE  # JSON carries the text back exactly
    assert verdict["mode"] == "single" and verdict["outcome"] == "ran: success"
    assert [r["status"] for r in verdict["runs"]] == ["success"]
    assert "\x1b" not in result.output and "\u202e" not in result.output
    every = json.loads(cli("hook", "explain", str(event_id), "--json").output)
    assert [v["hook"] for v in every] == ["boom", "keyed", "tasks"]


def test_bad_id_and_unknown_hook_are_one_line(
    cli: Callable[..., Result], home: Path, tmp_path: Path
) -> None:
    event_id = seed(home, tmp_path)
    missing = cli("hook", "explain", "999")
    assert missing.exit_code == 1
    assert missing.output.splitlines() == ["error: no event with id 999"]
    unknown = cli("hook", "explain", str(event_id), "nope\x1b[31m")
    assert unknown.exit_code == 1
    assert unknown.output.splitlines() == ["error: no hook named 'nope\\x1b[31m'"]
    not_a_number = cli("hook", "explain", "abc")
    assert not_a_number.exit_code == 2 and "is not a valid integer" in not_a_number.output
    assert "Traceback" not in missing.output + unknown.output + not_a_number.output


def test_through_a_running_daemon(
    tmp_path: Path, daemons: Callable[[Path | None], DaemonProcess]
) -> None:
    daemon = daemons(None)
    event_id = seed(daemon.home, tmp_path)
    daemon.start("--no-monitor")
    shown = run_cli("--home", str(daemon.home), "hook", "explain", str(event_id), "boom", "--json")
    assert shown.returncode == 0, shown.stderr
    (verdict,) = json.loads(shown.stdout)
    assert verdict["would_run"] and verdict["outcome"] == "ran: error"
    missing = run_cli("--home", str(daemon.home), "hook", "explain", str(event_id), "gone")
    assert missing.returncode == 1
    assert missing.stderr.splitlines() == ["error: no hook named 'gone'"]
    assert daemon.signal(signal.SIGTERM) == 0, daemon.output()


_UNSAFE = re.compile("[\x00-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069\ud800-\udfff]")
_runs = st.builds(
    RunSeen,
    id=st.integers(0, 2**63 - 1),
    status=hostile_text(),
    trigger=hostile_text(),
    attempt=st.integers(1, 11),
    started=st.floats(0, 4e9),
    duration_ms=st.floats(0, 1e9),
    error=st.none() | hostile_text(),
    origin=st.none() | hostile_text(),
)
_verdicts = st.builds(
    HookVerdict,
    hook=hostile_text(),
    would_run=st.booleans(),
    outcome=hostile_text(),
    event_type=hostile_text(),
    patterns=st.lists(hostile_text(), max_size=3).map(tuple),
    matched=st.none() | hostile_text(),
    stack=st.none() | hostile_text(),
    event_stack=st.none() | hostile_text(),
    enabled=st.booleans(),
    disabled_reason=st.none() | hostile_text(),
    when=hostile_text(),
    failing_term=st.none() | hostile_text(),
    key=hostile_text(),
    key_value=hostile_text(),
    limit=hostile_text(),
    policy=st.lists(hostile_text(), max_size=3).map(tuple),
    runs=st.lists(_runs, max_size=3).map(tuple),
)


@settings(max_examples=150, deadline=None)
@given(st.lists(_verdicts, max_size=3), hostile_text())
def test_hostile_verdicts_cross_the_wire_and_print_safely(
    verdicts: list[HookVerdict], type_name: str
) -> None:
    """Whatever a daemon sends (names, conditions, errors: outside text), the verdicts
    read back equal and the printed lines hold no character a terminal acts on."""
    wire = json.loads(json.dumps([v.to_dict() for v in verdicts]))
    assert [HookVerdict.from_dict(d) for d in wire] == verdicts
    event = Event(7, type_name, "x", {}, "cli", 0.0)
    for line in explain_lines(event, verdicts):
        assert "\n" not in line and not _UNSAFE.search(line), line
