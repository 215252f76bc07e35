"""`--since`/`--until` and `since:`/`until:` on the CLI, and values printed as JSON values."""

from __future__ import annotations

import json
import math
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from sloth_tui.cli import main
from sloth_tui.commands import hook as hook_commands


def _cli(home: Path, *args: str) -> Result:
    return CliRunner().invoke(main, ["--home", str(home), "--embedded", *args])


def _iso_at_or_below(ts: float) -> str:
    """A UTC ISO time no later than `ts`, to the microsecond (what --since can say).

    `ts * 1e6` is a float product: for a ts just below a whole microsecond it can round
    up to it (CI saw the bound land above the event it had to include), so the bound is
    checked the way the CLI reads it back, and stepped down until it is not above ts."""
    micros = math.floor(ts * 1e6)
    while True:
        iso = datetime.fromtimestamp(micros / 1e6, UTC).isoformat()
        if datetime.fromisoformat(iso).timestamp() <= ts:
            return iso
        micros -= 1


def _listed(home: Path, *args: str) -> list[int]:
    result = _cli(home, "event", "list", "--json", *args)
    assert result.exit_code == 0, result.output
    return [e["id"] for e in json.loads(result.output)]


def test_event_list_since_until(home: Path) -> None:
    ids = [json.loads(_cli(home, "emit", "custom", f"n={n}", "--json").output)["id"] for n in "abc"]
    events: list[dict[str, Any]] = json.loads(_cli(home, "event", "list", "--json").output)
    middle = next(e for e in events if e["id"] == ids[1])
    bound = _iso_at_or_below(middle["ts"])
    newer = [i for i in _listed(home) if i >= ids[1]]
    older = [i for i in _listed(home) if i < ids[1]]
    assert _listed(home, "--since", bound) == newer
    assert _listed(home, "--until", bound) == older
    # The option and the filter term are one meaning.
    assert _listed(home, "--filter", f"since:{bound}") == newer
    assert _listed(home, "--filter", f"!since:{bound}") == older
    assert _listed(home, "--since", "1h") == _listed(home)
    assert _listed(home, "--until", "1h") == []
    assert _listed(home, "--since", "2000-01-01", "--until", "1w") == []


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["event", "list", "--since", "10x"], "--since"),
        (["event", "list", "--until", "2026-02-30"], "--until"),
        (["event", "list", "--since", "99999999999w"], "too long ago"),
        (["event", "list", "--filter", "since:soon"], "since: 'soon' is not"),
        (["event", "list", "--filter", "type:"], "incomplete term 'type:'"),
        (["event", "list", "--filter", "src:demo !"], "incomplete term '!'"),
        (["event", "tail", "--filter", "until:", "--count", "1"], "incomplete term 'until:'"),
        (["hook", "logs", "h", "--since", "yesterday"], "--since"),
    ],
)
def test_bad_times_and_incomplete_terms_are_one_line(
    home: Path, args: list[str], says: str
) -> None:
    result = _cli(home, *args)
    assert result.exit_code == 2, result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error:") and says in lines[0], lines


@pytest.mark.parametrize("page", [500, 1])
def test_hook_logs_since_until(
    home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, page: int
) -> None:
    monkeypatch.setattr(hook_commands, "LOG_PAGE", page)  # 1: the window spans pages
    script = tmp_path / "h.lua"
    script.write_text("function on_event() log.info(event.data.n) end\n")
    assert _cli(home, "hook", "add", "h", "--event", "custom", "--file", str(script)).exit_code == 0
    for n in "abc":
        assert _cli(home, "event", "dispatch", "custom", f"n={n}").exit_code == 0
    runs = json.loads(_cli(home, "hook", "logs", "h", "--json").output)
    started = sorted(r["started"] for r in runs)  # 3 runs, or 4 when one was recovered
    assert len(started) >= 3
    bound = _iso_at_or_below(started[1])

    def logs(*args: str) -> list[float]:
        result = _cli(home, "hook", "logs", "h", "--json", *args)
        assert result.exit_code == 0, result.output
        return sorted(r["started"] for r in json.loads(result.output))

    assert logs("--since", bound) == started[1:]
    assert logs("--until", bound) == started[:1]
    assert logs("--since", bound, "--limit", "1") == started[-1:]
    assert logs("--until", "1h") == []
    assert "(no executions)" in _cli(home, "hook", "logs", "h", "--since", "2999-01-01").output


def test_human_output_prints_json_values(home: Path, tmp_path: Path) -> None:
    data = ["ok=true", "n=null", "s=a b", "e=", "x=3", "plain=api"]
    strings = json.dumps({"t": "true", "q": "3"})  # strings that read as other values
    assert _cli(home, "event", "dispatch", "custom", "--data", strings, *data).exit_code == 0
    listed = _cli(home, "event", "list").output
    assert 't="true" q="3" ok=true n=null s="a b" e="" x=3 plain=api' in listed
    script = tmp_path / "h.lua"
    script.write_text("function on_event() end\n")
    _cli(home, "hook", "add", "h", "--event", "custom", "--file", str(script))
    table = _cli(home, "hook", "list").output
    assert " true " in table and "yes" not in table
    shown = _cli(home, "hook", "show", "h").output
    assert 'description: ""' in shown and "enabled:     true" in shown
    for line in (listed + table + shown).splitlines():
        assert "True" not in line and "None" not in line and "'" not in line, line
