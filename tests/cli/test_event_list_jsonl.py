"""`event list --jsonl`: one JSON object per event per line, the same items as --json,
read from the store a page at a time; outside text escaped the JSON way."""

from __future__ import annotations

import asyncio
import json
import signal
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from sourcekit import DaemonProcess, ask, run_cli, wait_for

from sloth_tui.cli import main
from sloth_tui.commands import event as event_module
from sloth_tui.config import load_settings
from sloth_tui.engine.engine import Engine

HOSTILE = "a\nb\x1b]0;pwned\x07 \u2028 \u202e end"  # newline, OSC, line sep, bidi override


def fill(home: Path, n: int) -> None:
    async def go() -> None:
        engine = await Engine.open(load_settings(home))
        try:
            for i in range(n):
                kind = "deploy.failed" if i % 3 == 0 else "custom"
                data = {"service": HOSTILE, "i": i} if kind != "custom" else {"name": "n", "i": i}
                await engine.dispatch(kind, data, source="test", wait=True)
        finally:
            await engine.close()

    asyncio.run(go())


def cli(home: Path, *args: str) -> Any:
    return CliRunner().invoke(main, ["--home", str(home), *args], catch_exceptions=False)


def lines_of(output: str) -> list[dict[str, Any]]:
    lines = output.splitlines()
    assert output.endswith("\n") or not output
    return [json.loads(line) for line in lines]


@pytest.mark.parametrize("limit", ["20", "21", "100", "1"])
def test_jsonl_is_jsons_items_line_by_line_across_pages(
    home: Path, monkeypatch: pytest.MonkeyPatch, limit: str
) -> None:
    fill(home, 23)
    monkeypatch.setattr(event_module, "JSONL_PAGE", 7)  # 23 events: 4 pages, the last short
    as_json = json.loads(cli(home, "event", "list", "--json", "--limit", limit).output)
    result = cli(home, "event", "list", "--jsonl", "--limit", limit)
    assert result.exit_code == 0, result.output
    items = lines_of(result.output)
    assert items == as_json
    assert len(items) == min(int(limit), 23)
    ids = [e["id"] for e in items]
    assert ids == sorted(set(ids), reverse=True)  # newest first, none twice


def test_jsonl_escapes_control_characters_and_keeps_the_text(home: Path) -> None:
    fill(home, 3)
    result = cli(home, "event", "list", "--jsonl", "--type", "deploy.*")
    assert "\x1b" not in result.output and "\u2028" not in result.output
    assert "\u202e" not in result.output and "\x07" not in result.output
    items = lines_of(result.output)
    assert [e["data"]["service"] for e in items] == [HOSTILE]


def test_jsonl_takes_the_filters(home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    fill(home, 23)
    monkeypatch.setattr(event_module, "JSONL_PAGE", 2)
    args = ("--filter", "type:custom", "--limit", "9")
    as_json = json.loads(cli(home, "event", "list", "--json", *args).output)
    items = lines_of(cli(home, "event", "list", "--jsonl", *args).output)
    assert items == as_json and len(items) == 9
    assert {e["type"] for e in items} == {"custom"}


def test_jsonl_with_nothing_stored_prints_nothing(home: Path) -> None:
    result = cli(home, "event", "list", "--jsonl")
    assert result.exit_code == 0 and result.output == ""


def test_json_and_jsonl_exclude_each_other(home: Path) -> None:
    result = cli(home, "event", "list", "--json", "--jsonl")
    assert result.exit_code == 2
    assert "exclude each other" in result.output
    assert "Traceback" not in result.output


def test_jsonl_through_a_running_daemon(
    daemons: Callable[..., DaemonProcess], tmp_path: Path
) -> None:
    home = tmp_path / "home"
    daemon = daemons(home).start("--no-monitor")
    for i in range(12):
        ask(daemon.socket, {"type": "custom", "data": {"name": "n", "i": i, "s": HOSTILE}})
    wait_for(
        lambda: (
            len(json.loads(run_cli("--home", str(home), "event", "list", "--json").stdout)) >= 12
        ),
        what="12 events stored",
    )
    as_json = json.loads(run_cli("--home", str(home), "event", "list", "--json").stdout)
    done = run_cli("--home", str(home), "event", "list", "--jsonl")
    assert done.returncode == 0, done.stderr
    assert lines_of(done.stdout) == as_json
    assert daemon.signal(signal.SIGTERM) == 0
