"""`event dispatch --stack/--agent/--run-id` (issue 14.3), through the real CLI and store."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner, Result

from sloth_tui.cli import main


def cli(home: Path, *args: str) -> Result:
    return CliRunner().invoke(main, ["--home", str(home), *args])


def test_dispatch_flags_set_the_context_and_list_filters_on_it(home: Path) -> None:
    result = cli(
        home,
        "event", "dispatch", "deploy.failed", "service=api",
        "--stack", "prod", "--agent", "[red]web-1[/]", "--run-id", "r-42", "--json",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    event = json.loads(result.output)["event"]
    assert (event["stack"], event["agent"], event["run_id"]) == ("prod", "[red]web-1[/]", "r-42")
    assert cli(home, "event", "dispatch", "deploy.failed", "--stack", "dev").exit_code == 0
    listed = cli(home, "event", "list", "--filter", "stack:prod", "--json")
    assert listed.exit_code == 0, listed.output
    assert [e["run_id"] for e in json.loads(listed.output)] == ["r-42"]
    listed = cli(home, "event", "list", "--filter", "agent:?red?web-*", "--json")
    assert [e["stack"] for e in json.loads(listed.output)] == ["prod"]


def test_a_bad_context_is_one_line_without_a_traceback(home: Path) -> None:
    result = cli(home, "event", "dispatch", "deploy.failed", "--stack", "a\nb")
    assert result.exit_code != 0
    assert "one line" in result.output
    assert "Traceback" not in result.output
    assert len(result.output.strip().splitlines()) == 1


def test_event_show_prints_the_context_as_plain_text(home: Path) -> None:
    sent = cli(
        home,
        "event", "dispatch", "deploy.failed", "--stack", "prod", "--agent", "[red]web-1[/]",
        "--run-id", "r-42", "--json",
    )  # fmt: skip
    assert sent.exit_code == 0, sent.output
    event_id = json.loads(sent.output)["event"]["id"]
    shown = cli(home, "event", "show", str(event_id))
    assert shown.exit_code == 0, shown.output
    lines = shown.output.splitlines()
    assert "stack:    prod" in lines and "run:      r-42" in lines
    assert "agent:    [red]web-1[/]" in lines  # as typed: data, not markup
    bare = cli(home, "event", "dispatch", "deploy.failed", "--json")
    bare_id = json.loads(bare.output)["event"]["id"]
    assert "stack:" not in cli(home, "event", "show", str(bare_id)).output
