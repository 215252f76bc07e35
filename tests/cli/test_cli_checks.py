"""What the CLI checks before it acts, and how it says so: typos, Lua syntax, missing hooks,
JSON values in human output, --theme on the root, and unexpected errors as one line."""

from __future__ import annotations

import json
import stat
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from sloth_tui.cli import main


@pytest.fixture
def cli(home: Path):
    runner = CliRunner()

    def invoke(*args: str) -> Result:
        return runner.invoke(main, ["--home", str(home), *args], catch_exceptions=False)

    return invoke


@pytest.fixture
def good_lua(tmp_path: Path) -> Path:
    path = tmp_path / "good.lua"
    path.write_text("function on_event()\n  log.info('ok')\n  return true\nend\n")
    return path


@pytest.fixture
def bad_lua(tmp_path: Path) -> Path:
    path = tmp_path / "bad.lua"
    path.write_text("function on_event()\n  log.info('ok')\n  local x =\nend\n")
    return path


# -- typos ----------------------------------------------------------------------------


def test_dispatch_warns_about_a_typo_and_strict_refuses_it(cli) -> None:
    kept = cli("event", "dispatch", "deploy.faild", "service=api")
    assert kept.exit_code == 0, kept.output
    assert "warning: unknown type deploy.faild: did you mean deploy.failed?" in kept.stderr
    refused = cli("event", "dispatch", "deploy.faild", "--strict")
    assert refused.exit_code == 1
    assert refused.stderr.startswith("error: ") and "did you mean deploy.failed?" in refused.stderr
    root_strict = cli("--strict", "emit", "deploy.faild")
    assert root_strict.exit_code == 1 and "did you mean deploy.failed?" in root_strict.stderr
    listed = json.loads(cli("event", "list", "--type", "deploy.*", "--json").stdout)
    assert [e["type"] for e in listed] == ["deploy.faild"]
    assert listed[0]["warnings"] == ["unknown type deploy.faild: did you mean deploy.failed?"]


def test_hook_add_warns_about_a_misspelt_pattern(cli, good_lua: Path) -> None:
    result = cli("hook", "add", "h", "--event", "deploy.faild", "--file", str(good_lua))
    assert result.exit_code == 0, result.output
    assert "did you mean deploy.failed?" in result.stderr
    globbed = cli("hook", "add", "g", "--event", "deploy.fail*", "--file", str(good_lua))
    assert globbed.exit_code == 0 and "did you mean" not in globbed.stderr


# -- Lua syntax -----------------------------------------------------------------------


def test_hook_add_refuses_a_syntax_error_unless_forced(cli, bad_lua: Path) -> None:
    refused = cli("hook", "add", "bad", "--event", "deploy.failed", "--file", str(bad_lua))
    assert refused.exit_code == 1
    lines = refused.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ")
    assert "bad.lua" in lines[0] and "line 4" in lines[0] and "--force" in lines[0]
    assert json.loads(cli("hook", "list", "--json").stdout) == []
    forced = cli(
        "hook", "add", "bad", "--event", "deploy.failed", "--file", str(bad_lua), "--force"
    )
    assert forced.exit_code == 0, forced.output
    assert "warning: " in forced.stderr and "line 4" in forced.stderr
    assert [h["name"] for h in json.loads(cli("hook", "list", "--json").stdout)] == ["bad"]


def test_hook_update_checks_syntax_and_changes_fields(cli, good_lua: Path, bad_lua: Path) -> None:
    assert (
        cli("hook", "add", "h", "--event", "deploy.failed", "--file", str(good_lua)).exit_code == 0
    )
    refused = cli("hook", "update", "h", "--file", str(bad_lua))
    assert refused.exit_code == 1 and "line 4" in refused.stderr and "--force" in refused.stderr
    assert json.loads(cli("hook", "show", "h", "--json").stdout)["file"] == str(good_lua.resolve())
    changed = cli(
        "hook",
        "update",
        "h",
        "--event",
        "task.*",
        "--event",
        "deploy.failed",
        "--description",
        "new words",
        "--timeout",
        "5",
        "--json",
    )
    assert changed.exit_code == 0, changed.output
    hook = json.loads(changed.stdout)
    assert hook["events"] == ["task.*", "deploy.failed"]
    assert hook["description"] == "new words" and hook["timeout"] == 5.0
    forced = cli("hook", "update", "h", "--file", str(bad_lua), "--force")
    assert forced.exit_code == 0 and "line 4" in forced.stderr
    assert json.loads(cli("hook", "show", "h", "--json").stdout)["file"] == str(bad_lua.resolve())
    assert cli("hook", "update", "ghost", "--description", "x").exit_code == 1
    assert cli("hook", "update", "h").exit_code == 2  # nothing to change
    typo = cli("hook", "update", "h", "--event", "deploy.faild")
    assert typo.exit_code == 0 and "did you mean deploy.failed?" in typo.stderr


# -- hook delete ----------------------------------------------------------------------


def test_hook_delete_of_a_missing_hook_says_so_first(cli) -> None:
    result = cli("hook", "delete", "nosuchhook")
    assert result.exit_code == 1
    assert result.stderr.strip() == "error: no hook named 'nosuchhook'"


# -- JSON values, not Python reprs ----------------------------------------------------


def test_human_output_shows_json_values(cli, tmp_path: Path) -> None:
    path = tmp_path / "roll.lua"
    path.write_text(
        "function on_event()\n"
        "  event.dispatch('deploy.rollback', {deploy_id = 'x', ok = true})\n"
        "  return {a = 1, b = true}\n"
        "end\n"
    )
    assert (
        cli("hook", "add", "roll", "--event", "deploy.failed", "--file", str(path)).exit_code == 0
    )
    shown = cli("hook", "show", "roll").stdout
    assert "enabled:     true" in shown and "True" not in shown
    dispatched = cli("emit", "deploy.failed", "rollback_needed=true", "n=null", "tags=[1,2]")
    assert dispatched.exit_code == 0
    listed = cli("event", "list", "--type", "deploy.failed").stdout
    assert "rollback_needed=true" in listed and "n=null" in listed and "tags=[1, 2]" in listed
    assert "True" not in listed and "None" not in listed
    tested = cli("hook", "test", "roll").stdout
    assert "on event 0" not in tested and "None" not in tested and "'" not in tested
    assert '-> event.dispatch {"type": "deploy.rollback"' in tested
    assert '"dry_run": true' in tested and '"id"' not in tested
    assert 'returned: {"a": 1, "b": true' in tested
    logs = cli("hook", "logs", "roll").stdout
    assert "roll on event " in logs and "True" not in logs and "None" not in logs


# -- --theme on the root --------------------------------------------------------------


def test_root_theme_reaches_the_dashboard(home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import sloth_tui.commands.dashboard as launch

    seen: dict[str, Any] = {}

    def fake_run_dashboard(ctx: object, theme: str | None = None) -> None:
        seen["theme"] = theme

    monkeypatch.setattr(launch, "run_dashboard", fake_run_dashboard)
    runner = CliRunner()
    result = runner.invoke(main, ["--home", str(home), "--embedded", "--theme", "sloth-light"])
    assert result.exit_code == 0, result.output
    assert seen == {"theme": "sloth-light"}
    sub = runner.invoke(
        main, ["--home", str(home), "--theme", "sloth-light", "dashboard", "--theme", "mine"]
    )
    assert sub.exit_code == 0, sub.output
    assert seen == {"theme": "mine"}
    inherited = runner.invoke(main, ["--home", str(home), "--theme", "sloth-dark", "dashboard"])
    assert inherited.exit_code == 0 and seen == {"theme": "sloth-dark"}


# -- unexpected errors ----------------------------------------------------------------


def test_an_unexpected_error_is_one_line_and_a_crash_log(
    cli, home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import sloth_tui.commands.event as event_commands

    def boom(*args: object, **kwargs: object) -> str:
        raise RuntimeError("boom\x1b[2J\nsecond line")

    cli("emit", "custom", "name=x")
    monkeypatch.setattr(event_commands, "summary", boom)
    result = cli("event", "list")
    assert result.exit_code == 1
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: unexpected RuntimeError: boom\\x1b[2J\\nsecond line; ")
    logs = list((home / "logs").glob("crash-*.log"))
    assert len(logs) == 1
    assert lines[0].endswith(f"details in {logs[0]}")
    assert stat.S_IMODE(logs[0].stat().st_mode) == 0o600
    text = logs[0].read_text()
    assert "Traceback (most recent call last)" in text and "RuntimeError: boom" in text
    # A second crash in the same second gets a file of its own.
    assert cli("event", "list").exit_code == 1
    assert len(list((home / "logs").glob("crash-*.log"))) == 2


def test_sloth_and_click_errors_stay_as_they_were(cli) -> None:
    missing = cli("event", "show", "999")
    assert missing.exit_code == 1 and missing.stderr == "error: no event with id 999\n"
    usage = cli("event", "list", "--nope")
    assert usage.exit_code == 2 and usage.stderr.startswith("error: No such option '--nope'")
