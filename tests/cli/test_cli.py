"""Every CLI command, its JSON shape and its errors, on a temporary home."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from sloth_tui.cli import main


@pytest.fixture
def cli(home: Path):
    runner = CliRunner()

    def invoke(*args: str, input: str | None = None) -> Result:
        return runner.invoke(
            main, ["--home", str(home), *args], input=input, catch_exceptions=False
        )

    invoke.home = home  # type: ignore[attr-defined]
    return invoke


@pytest.fixture
def hook_file(tmp_path: Path) -> Path:
    path = tmp_path / "alert.lua"
    path.write_text(
        'function on_event()\n  log.warn("deploy of " .. event.data.service .. " failed")\n'
        '  http.post("http://127.0.0.1:9/x", {text = "boom"})\n  return true\nend\n'
    )
    return path


def add(cli, hook_file: Path, name: str = "deploy-alert", *extra: str) -> Result:
    return cli(
        "hook",
        "add",
        name,
        "--event",
        "deploy.failed",
        "--file",
        str(hook_file),
        "--description",
        "Alert ops",
        *extra,
    )


def test_help_everywhere(cli) -> None:
    for args in (
        ["--help"],
        ["hook", "--help"],
        ["hook", "add", "--help"],
        ["event", "--help"],
        ["event", "dispatch", "--help"],
        ["event", "rerun", "--help"],
        ["event", "list", "--help"],
        ["bench", "--help"],
        ["hook", "test", "--help"],
        ["hook", "retry", "--help"],
        ["event", "cleanup", "--help"],
        ["emit", "--help"],
    ):
        result = cli(*args)
        assert result.exit_code == 0, args
        assert "Usage:" in result.output


def test_hook_add_list_show_get(cli, hook_file: Path) -> None:
    result = add(cli, hook_file)
    assert result.exit_code == 0, result.output
    assert "added hook deploy-alert" in result.output
    listed = json.loads(cli("hook", "list", "--json").output)
    assert listed[0]["name"] == "deploy-alert"
    assert listed[0]["events"] == ["deploy.failed"]
    assert listed[0]["file"] == str(hook_file.resolve())
    assert listed[0]["description"] == "Alert ops"
    assert "deploy-alert" in cli("hook", "list").output
    shown = json.loads(cli("hook", "show", "deploy-alert", "--json").output)
    assert shown["enabled"] is True and shown["timeout"] == 10.0
    assert "Alert ops" in cli("hook", "show", "deploy-alert").output
    # `hook get` is upstream's JSON metadata now; the source is `hook source`.
    assert cli("hook", "source", "deploy-alert").output == hook_file.read_text()
    got = json.loads(cli("hook", "source", "deploy-alert", "--json").output)
    assert got["code"] == hook_file.read_text()


def test_hook_add_errors(cli, hook_file: Path, tmp_path: Path) -> None:
    assert add(cli, hook_file).exit_code == 0
    dup = add(cli, hook_file)
    assert dup.exit_code == 1 and "already exists" in dup.output
    missing = cli("hook", "add", "x", "--event", "a.b", "--file", str(tmp_path / "nope.lua"))
    assert missing.exit_code == 2 and "no such file" in missing.output
    bad = cli("hook", "add", "y", "--event", "Not Valid", "--file", str(hook_file))
    assert bad.exit_code == 1 and "invalid event pattern" in bad.output
    no_event = cli("hook", "add", "z", "--file", str(hook_file))
    assert no_event.exit_code == 2 and "--event" in no_event.output
    assert cli("hook", "add").exit_code == 2
    assert cli("hook", "add", "w", "--bogus").exit_code == 2
    assert len(json.loads(cli("hook", "list", "--json").output)) == 1  # nothing half-written


def test_hook_add_uses_declared_event_types(cli, tmp_path: Path) -> None:
    path = tmp_path / "cpu.lua"
    path.write_text(
        'return {\n  event_types = {"system.cpu_high", "agent.resource_high"},\n'
        "  execute = function(event) return true end,\n}\n"
    )
    assert cli("hook", "add", "cpu", "--file", str(path)).exit_code == 0
    hook = json.loads(cli("hook", "show", "cpu", "--json").output)
    assert hook["events"] == ["system.cpu_high", "agent.resource_high"]


def test_hook_add_warns_about_patterns_matching_nothing(cli, hook_file: Path) -> None:
    result = cli("hook", "add", "odd", "--event", "nothing.here", "--file", str(hook_file))
    assert result.exit_code == 0
    assert "matches no catalog event type" in result.output


def test_enable_disable_delete(cli, hook_file: Path) -> None:
    add(cli, hook_file)
    assert cli("hook", "disable", "deploy-alert").exit_code == 0
    assert json.loads(cli("hook", "show", "deploy-alert", "--json").output)["enabled"] is False
    assert cli("hook", "enable", "deploy-alert").exit_code == 0
    assert json.loads(cli("hook", "show", "deploy-alert", "--json").output)["enabled"] is True
    refused = cli("hook", "delete", "deploy-alert")
    assert refused.exit_code == 2 and "--force" in refused.output
    assert cli("hook", "delete", "deploy-alert", "--force").exit_code == 0
    assert json.loads(cli("hook", "list", "--json").output) == []
    gone = cli("hook", "delete", "deploy-alert", "--force")
    assert gone.exit_code == 1 and "no hook named" in gone.output
    for cmd in ("enable", "disable", "show", "get", "source", "logs", "test"):
        assert cli("hook", cmd, "deploy-alert").exit_code == 1, cmd


def test_event_dispatch_runs_hooks_and_logs_show_them(cli, hook_file: Path) -> None:
    add(cli, hook_file)
    result = cli(
        "event",
        "dispatch",
        "deploy.failed",
        "service=api",
        "deploy_id=d-9",
        "rollback_needed=true",
        "--data",
        '{"error": "oom"}',
        "--json",
    )
    assert result.exit_code == 0, result.output
    out = json.loads(result.output)
    assert set(out) >= {"id", "executions"}
    assert out["event"]["data"] == {
        "error": "oom",
        "service": "api",
        "deploy_id": "d-9",
        "rollback_needed": True,
    }
    (ex,) = out["executions"]
    assert ex["status"] == "success" and ex["logs"][0]["message"] == "deploy of api failed"
    logs = json.loads(cli("hook", "logs", "deploy-alert", "--json").output)
    assert set(logs[0]) >= {
        "hook",
        "event_id",
        "status",
        "started",
        "duration_ms",
        "result",
        "error",
        "logs",
        "calls",
        "dry_run",
    }
    assert logs[0]["event_id"] == out["id"]
    http = next(c for c in logs[0]["calls"] if c["fn"] == "http.post")
    assert http["error"]  # port 9 on loopback is closed: recorded, not a crash
    assert "deploy of api failed" in cli("hook", "logs", "deploy-alert").output
    assert json.loads(cli("hook", "logs", "deploy-alert", "--only-failed", "--json").output) == []


def test_event_rerun(cli, tmp_path: Path) -> None:
    script = tmp_path / "flaky.lua"
    script.write_text('function on_event() error("webhook down") end\n')
    assert add(cli, script, "flaky").exit_code == 0
    out = json.loads(cli("event", "dispatch", "deploy.failed", "service=api", "--json").output)
    assert out["executions"][0]["status"] == "error"
    event_id = str(out["id"])
    failed = cli("event", "rerun", event_id)
    assert failed.exit_code == 1 and "flaky: error" in failed.output
    assert "webhook down" in failed.output
    script.write_text('function on_event() log.info("sent") end\n')
    fixed = cli("event", "rerun", event_id, "--hook", "flaky", "--json")
    assert fixed.exit_code == 0, fixed.output
    rerun = json.loads(fixed.output)
    assert rerun["id"] == out["id"] and rerun["event"]["status"] == "completed"
    assert [(e["hook"], e["status"], e["dry_run"]) for e in rerun["executions"]] == [
        ("flaky", "success", False)
    ]
    shown = json.loads(cli("event", "show", event_id, "--json").output)
    assert [e["status"] for e in shown["executions"]] == ["error", "error", "success"]
    human = cli("event", "rerun", event_id)
    assert human.exit_code == 0 and f"re-ran deploy.failed id={event_id}: completed" in human.output


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["event", "rerun", "999"], "no event with id 999"),
        (["event", "rerun", "ID", "--hook", "ghost"], "no hook named 'ghost'"),
        (["event", "rerun", "ID"], "no enabled hook matches myapp.tick"),
        (["event", "rerun", "one"], "'one' is not a valid integer"),
    ],
)
def test_event_rerun_errors(cli, args: list[str], message: str) -> None:
    # One stored event, whatever else the engine records (or not) around a command.
    event_id = json.loads(cli("emit", "myapp.tick", "--json").output)["id"]
    args = [str(event_id) if a == "ID" else a for a in args]
    result = CliRunner().invoke(main, ["--home", str(cli.home), *args])
    assert result.exit_code != 0
    assert message in result.output


def test_hook_retry(cli, home: Path, tmp_path: Path) -> None:
    import sqlite3

    script = tmp_path / "notify.lua"
    script.write_text('function on_event() if event.data.n ~= 2 then error("down") end end\n')
    cli("hook", "add", "notify", "--event", "task.*", "--file", str(script))
    emitted = [cli("emit", "task.failed", f"n={n}", "--json") for n in (1, 2, 3, 4)]
    ids = [json.loads(r.output)["id"] for r in emitted]
    listed = cli("hook", "retry", "notify", "--list", "--json")
    assert listed.exit_code == 0, listed.output
    failed = json.loads(listed.output)
    assert [r["event_id"] for r in failed] == [ids[0], ids[2], ids[3]]  # oldest first
    assert {r["event_type"] for r in failed} == {"task.failed"}
    assert "down" in cli("hook", "retry", "notify", "--list").output
    assert (
        json.loads(cli("hook", "retry", "notify", "--list", "--limit", "1", "--json").output)[0][
            "event_id"
        ]
        == ids[3]
    )  # the limit keeps the newest

    # Still broken: retried, and still failing (exit 1); the history grows.
    again = cli("hook", "retry", "notify")
    assert again.exit_code == 1 and "retried 3: 0 ok, 3 still failing" in again.output
    assert f"event {ids[0]} task.failed: error -> error - " in again.output

    # Fixed: every failed event is retried once; one event's row went missing meanwhile.
    script.write_text('function on_event() log.info("sent") end\n')
    with sqlite3.connect(home / "sloth.db") as conn:
        conn.execute("DELETE FROM events WHERE id = ?", (ids[3],))
    fixed = cli("hook", "retry", "notify", "--json")
    assert fixed.exit_code == 0, fixed.output
    report = json.loads(fixed.output)
    assert [(r["event_id"], r["status"], r["dry_run"]) for r in report["retried"]] == [
        (ids[0], "success", False),
        (ids[2], "success", False),
    ]
    assert report["gone"] == [ids[3]] and report["still_failing"] == 0
    shown = json.loads(cli("event", "show", str(ids[0]), "--json").output)
    assert [e["status"] for e in shown["executions"]] == ["error", "error", "success"]
    assert shown["status"] == "completed"
    # Only the deleted event's failure is left, and it cannot be retried.
    assert "1 gone" in cli("hook", "retry", "notify").output
    assert cli("hook", "retry", "notify", "--since", "1s", "--list").exit_code == 0


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["hook", "retry", "ghost"], "no hook named 'ghost'"),
        (["hook", "retry", "x", "--since", "soon"], "is not a duration"),
        (["hook", "retry", "x", "--limit", "0"], "must be at least 1"),
    ],
)
def test_hook_retry_errors(cli, args: list[str], message: str) -> None:
    result = CliRunner().invoke(main, ["--home", str(cli.home), *args])
    assert result.exit_code != 0
    assert message in result.output


def test_event_dispatch_human_output_and_emit_alias(cli) -> None:
    result = cli("emit", "myapp.thing", "n=3", "tags=[1,2]", "word=hello")
    assert result.exit_code == 0
    assert "dispatched myapp.thing id=" in result.output
    listed = json.loads(cli("event", "list", "--type", "myapp.*", "--json").output)
    assert listed[0]["data"] == {"n": 3, "tags": [1, 2], "word": "hello"}
    assert set(listed[0]) == {
        "id",
        "type",
        "category",
        "data",
        "source",
        "status",
        "ts",
        "parent_id",
        "depth",
        "warnings",
        "stack",  # Sloth Runner's context: null when not given
        "agent",
        "run_id",
        "origin",  # the fleet engine it came from: null for this engine's own
    }


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["event", "dispatch", "Bad.Name"], "invalid event type"),
        (["event", "dispatch", "deploy.failed", "--data", "{nope"], "not valid JSON"),
        (["event", "dispatch", "deploy.failed", "--data", "[1]"], "JSON object"),
        (["event", "dispatch", "deploy.failed", "novalue"], "not key=value"),
        (["event", "dispatch", "custom", "--data", json.dumps({"x": "y" * 300_000})], "limit"),
        (["--strict", "event", "dispatch", "deploy.failed"], "strict"),
        (["event", "dispatch", "deploy.failed", "--strict"], "strict"),
    ],
)
def test_event_dispatch_errors(cli, args: list[str], message: str) -> None:
    result = cli(*args)
    assert result.exit_code != 0
    assert message in result.output
    assert "Traceback" not in result.output
    listed = json.loads(cli("event", "list", "--json").output)
    assert all(e["type"].startswith("system.") for e in listed)  # nothing half-written


def test_event_list_filters_show_delete(cli) -> None:
    cli("event", "dispatch", "deploy.failed", "service=api")
    cli("event", "dispatch", "security.breach", "user=eve")
    cli("event", "dispatch", "task.failed", "task_name=build")
    by_cat = json.loads(cli("event", "list", "--category", "security", "--json").output)
    assert [e["type"] for e in by_cat] == ["security.breach"]
    by_type = json.loads(cli("event", "list", "--type", "*.failed", "--json").output)
    assert [e["type"] for e in by_type] == ["task.failed", "deploy.failed"]
    by_src = json.loads(cli("event", "list", "--source", "cli", "--json").output)
    assert len(by_src) == 3
    by_status = json.loads(
        cli("event", "list", "--status", "completed", "--limit", "2", "--json").output
    )
    assert len(by_status) == 2
    by_filter = json.loads(cli("event", "list", "--filter", "user=eve", "--json").output)
    assert [e["type"] for e in by_filter] == ["security.breach"]
    bad = cli("event", "list", "--filter", "status:nope")
    assert bad.exit_code == 2 and "unknown status" in bad.output
    assert "security.breach" in cli("event", "list").output

    event_id = by_cat[0]["id"]
    shown = json.loads(cli("event", "show", str(event_id), "--json").output)
    assert shown["data"] == {"user": "eve"} and "executions" in shown and "children" in shown
    assert "missing field action" in shown["warnings"]
    assert "user" in cli("event", "show", str(event_id)).output
    assert cli("event", "delete", str(event_id)).exit_code == 0
    missing = cli("event", "show", str(event_id))
    assert missing.exit_code == 1 and f"no event with id {event_id}" in missing.output
    assert cli("event", "delete", str(event_id)).exit_code == 1
    assert cli("event", "show", "abc").exit_code == 2


def test_event_cleanup(cli) -> None:
    cli("event", "dispatch", "myapp.tick")
    kept = json.loads(cli("event", "cleanup", "--older-than", "24h", "--json").output)
    assert kept == {"deleted": 0}
    assert "deleted" in cli("event", "cleanup", "--older-than", "1h30m").output
    bad = cli("event", "cleanup", "--older-than", "yesterday")
    assert bad.exit_code == 2 and "not a duration" in bad.output
    assert cli("event", "cleanup").exit_code == 2


def test_event_types(cli) -> None:
    types = json.loads(cli("event", "types", "--json").output)
    assert len([t for t in types if t["extension"] is None]) == 86  # the seed, then extensions
    failed = next(t for t in types if t["type"] == "workflow.failed")
    assert failed["fields"] == [
        {"name": "workflow_name", "kind": "scalar"},
        {"name": "failed_tasks", "kind": "list"},
        {"name": "error", "kind": "scalar"},
    ]
    backup = json.loads(cli("event", "types", "--category", "backup", "--json").output)
    assert {t["type"] for t in backup} >= {"restore.failed", "backup.started"}
    assert "failed_tasks[]" in cli("event", "types", "--category", "workflow").output
    bad = cli("event", "types", "--category", "nope")
    assert bad.exit_code == 2 and "unknown event category" in bad.output


def test_hook_test_dry_run(cli, tmp_path: Path) -> None:
    path = tmp_path / "roll.lua"
    path.write_text(
        "function on_event()\n  log.info('svc ' .. event.data.service)\n"
        "  http.post('https://hooks.example.com/x', {text = 'hi'})\n"
        "  if event.data.rollback_needed then\n"
        "    event.dispatch('deploy.rollback', {deploy_id = event.data.deploy_id})\n  end\n"
        "  return true\nend\n"
    )
    cli("hook", "add", "roll", "--event", "deploy.failed", "--file", str(path))
    result = cli("hook", "test", "roll", "--data", '{"service": "web"}', "--json")
    assert result.exit_code == 0, result.output
    ex = json.loads(result.output)
    assert ex["dry_run"] is True and ex["logs"][0]["message"] == "svc web"
    fns = [c["fn"] for c in ex["calls"]]
    assert "http.post" in fns and "event.dispatch" in fns
    human = cli("hook", "test", "roll")
    assert human.exit_code == 0 and "DRY RUN" in human.output
    bad_data = cli("hook", "test", "roll", "--data", "{")
    assert bad_data.exit_code == 2
    path.write_text("function on_event() error('nope') end\n")
    failing = cli("hook", "test", "roll")
    assert failing.exit_code == 1 and "nope" in failing.output
    listed = json.loads(cli("event", "list", "--json").output)
    assert not [e for e in listed if e["type"] == "deploy.rollback"]


def test_unknown_command_and_option(cli) -> None:
    assert cli("frobnicate").exit_code == 2
    assert cli("event", "list", "--nope").exit_code == 2


def test_home_from_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SLOTH_TUI_HOME", str(tmp_path / "envhome"))
    result = CliRunner().invoke(main, ["event", "dispatch", "myapp.x"])
    assert result.exit_code == 0
    assert (tmp_path / "envhome" / "sloth.db").exists()


def test_bad_config_is_a_clear_error(home: Path, cli) -> None:
    (home / "config.toml").write_text("concurrency = 'many'\n")
    result = cli("event", "list")
    assert result.exit_code == 1 and "concurrency" in result.output
    (home / "config.toml").write_text("bogus = 1\n")
    assert "unknown setting 'bogus'" in cli("event", "list").output
    (home / "config.toml").write_text("[[[")
    assert cli("event", "list").exit_code == 1


@pytest.mark.parametrize(
    "args",
    [
        ["event", "dispatch", "deploy.failed", "--data", "{bad"],
        ["hook", "add", "x"],
        ["nope"],
        ["event", "list", "--bogus"],
        ["event", "show", "999"],
        ["event", "rerun", "999"],
    ],
)
def test_errors_are_one_line_on_stderr(home: Path, args: list[str]) -> None:
    import subprocess
    import sys

    proc = subprocess.run(
        [sys.executable, "-m", "sloth_tui", "--home", str(home), *args],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode in (1, 2)
    assert proc.stdout == ""
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ")
