"""Sloth Runner's command spellings, run as its docs write them, on a real engine.

The shell lines below are copied from upstream's docs (chalkan3-sloth/sloth-runner:
docs/commands/hook.md, docs/commands/events.md and README.md, each block names its
file). Only two things are changed, both said where they happen: `sloth-runner` is a
shell function running `sloth-tui` on the test's home, and the docs' placeholder event
id (`evt_abc123`) is the id of a real event, because ids here are integers.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from hostile import hostile_text
from hypothesis import HealthCheck, given, settings

from sloth_tui.cli import main

ALERT_HOOK = """\
function on_event()
  local task = event.data.task
  log.info("ALERT: Task " .. task.task_name .. " failed")
  if task.task_name == "bad" then
    error("cannot alert about " .. task.task_name)
  end
  return true
end
"""

# docs/commands/hook.md ("HOOK ADD" examples, "HOOK LIST", "HOOK GET", "HOOK TEST",
# "HOOK SHOW"), verbatim.
HOOK_DOC_LINES = r"""
sloth-runner hook add task_failure_alert \
  --file hooks/alert-on-failure.lua \
  --event task.failed \
  --description "Send alerts when tasks fail"

sloth-runner hook add prod_monitor \
  --file hooks/production-monitor.lua \
  --event task.failed \
  --stack production \
  --description "Production environment monitoring"

sloth-runner hook add experimental_hook \
  --file hooks/experimental.lua \
  --event custom \
  --enabled=false \
  --description "Experimental custom event handler"

sloth-runner hook list --stack production

# Check if hook is enabled
enabled=$(sloth-runner hook get task_failure_alert | jq -r '.enabled')
if [ "$enabled" = "true" ]; then
    echo "Hook is active"
fi

sloth-runner hook test task_failure_alert \
  --data '{"task":{"task_name":"test","agent_name":"local","error":"test error"}}'
"""

# README.md ("Hook CLI Commands" / "View Execution Logs"), verbatim but for the hook's
# name (`my_hook` -> the hook added above).
README_LOG_LINES = r"""
sloth-runner hook logs my_hook --format json
sloth-runner hook logs my_hook --only-failed
sloth-runner hook logs my_hook --output --error
sloth-runner hook list --format json
""".replace("my_hook", "task_failure_alert")

# docs/commands/events.md ("EVENTS LIST", "EVENTS GET", "EVENTS SHOW", "EVENTS
# CLEANUP", "EVENTS DELETE"), verbatim but for the placeholder id.
EVENTS_DOC_LINES = r"""
sloth-runner events list --type task.failed

sloth-runner events list \
  --type task.completed \
  --status completed \
  --limit 100

# Extract task name from failed event
TASK_NAME=$(sloth-runner events get evt_abc123 | jq -r '.data.task.task_name')
echo "Failed task: $TASK_NAME"

# Check if event processing completed
STATUS=$(sloth-runner events get evt_abc123 | jq -r '.status')
if [ "$STATUS" = "completed" ]; then
    echo "Event processed successfully"
fi

# Get error message from failed task
ERROR=$(sloth-runner events get evt_abc123 | jq -r '.data.task.error')
echo "Error: $ERROR"

sloth-runner events show evt_abc123 | grep -A 20 "Hook Executions"

sloth-runner events cleanup --hours 168

sloth-runner events delete evt_abc123def456
""".replace("evt_abc123def456", "$EVENT_ID").replace("evt_abc123", "$EVENT_ID")


def _script(home: Path) -> str:
    """Bash: `sloth-runner` runs this checkout's CLI on `home`; a failing line stops it."""
    python = sys.executable
    return "\n".join(
        [
            "set -euo pipefail",
            f"export SLOTH_TUI_HOME={home}",
            f'sloth-runner() {{ "{python}" -m sloth_tui --embedded "$@"; }}',
            "mkdir -p hooks",
            f"cat > hooks/alert-on-failure.lua <<'LUA'\n{ALERT_HOOK}LUA",
            "cp hooks/alert-on-failure.lua hooks/production-monitor.lua",
            "cp hooks/alert-on-failure.lua hooks/experimental.lua",
            "echo '### hook docs'",
            HOOK_DOC_LINES,
            # Events for the logs and events lines: upstream nests task data under
            # data.task; one run succeeds and one fails.
            "echo '### dispatch'",
            "sloth-runner event dispatch task.failed "
            '--data \'{"task": {"task_name": "bad", "error": "exit 3"}}\' >/dev/null',
            "sloth-runner event dispatch task.failed "
            '--data \'{"task": {"task_name": "deploy_app", "error": "Connection timeout"}}\''
            " >/dev/null",
            "EVENT_ID=$(sloth-runner events list --type task.failed --limit 1 --json"
            " | jq -r '.[0].id')",
            "echo '### readme logs'",
            README_LOG_LINES,
            "echo '### events docs'",
            EVENTS_DOC_LINES,
            "echo '### after delete'",
            "sloth-runner events list --json | jq -r 'map(.id) | join(\",\")'",
        ]
    )


@pytest.mark.skipif(shutil.which("jq") is None or shutil.which("bash") is None, reason="no jq")
def test_upstream_doc_lines_run_as_written(home: Path, tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SLOTH_TUI_")}
    done = subprocess.run(
        ["bash", "-c", _script(home)],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    out = done.stdout
    assert done.returncode == 0, (out[-3000:], done.stderr[-3000:])
    hook_part, rest = out.split("### dispatch")
    logs_part, events_part = rest.split("### readme logs")[1].split("### events docs")
    events_part, after_delete = events_part.split("### after delete")

    # hook add: --stack and --enabled=false as upstream means them
    assert "added hook prod_monitor (task.failed) [stack production]" in hook_part
    listed = hook_part.split("### hook docs")[1]
    assert "prod_monitor" in listed and "production" in listed
    assert "Hook is active" in hook_part  # `hook get | jq -r '.enabled'` said true
    assert "task_failure_alert" in hook_part and "success" in hook_part  # hook test

    # hook logs --format json: upstream's object
    start = logs_part.index("{")
    logs, end = json.JSONDecoder().raw_decode(logs_part[start:])
    assert logs["hook"] == "task_failure_alert"
    assert (logs["total_shown"], logs["success_count"], logs["failed_count"]) == (2, 1, 1)
    failed = [e for e in logs["executions"] if not e["success"]]
    assert "cannot alert about bad" in failed[0]["error"]
    assert failed[0]["event_type"] == "task.failed"
    assert failed[0]["duration"].endswith("s") and isinstance(failed[0]["duration_ms"], int)
    tail = logs_part[start + end :]
    # --only-failed then --output --error: the error and the log line both shown
    assert "cannot alert about bad" in tail and "ALERT: Task deploy_app failed" in tail
    hooks_json = json.loads(tail[tail.index("\n[") :])
    experimental = next(h for h in hooks_json if h["name"] == "experimental_hook")
    assert experimental["enabled"] is False  # --enabled=false

    # events get | jq: upstream's data shape and status come back
    assert "Failed task: deploy_app" in events_part
    assert "Event processed successfully" in events_part
    assert "Error: Connection timeout" in events_part
    hook_execs = events_part.split("Hook Executions", 1)[1]
    assert "task_failure_alert" in hook_execs and "ALERT: Task deploy_app failed" in hook_execs
    assert "Cleaned up 0 old events" in events_part  # nothing is a week old
    assert after_delete.strip() == "1"  # the newest (id 2) was deleted, id 1 stays


@pytest.fixture
def cli(home: Path):
    runner = CliRunner()

    def invoke(*args: str) -> Result:
        return runner.invoke(main, ["--home", str(home), "--embedded", *args])

    return invoke


def test_upstream_short_flags(cli, tmp_path: Path) -> None:
    """The short flags of upstream's cobra commands (cmd/sloth-runner/commands/hook/add.go,
    list.go, logs.go, delete.go, test.go; events/list.go, cleanup.go)."""
    lua = tmp_path / "alert.lua"
    lua.write_text(ALERT_HOOK)
    added = cli("hook", "add", "a", "-f", str(lua), "-e", "task.failed", "-d", "Ops")
    assert added.exit_code == 0, added.output
    got = json.loads(cli("hook", "get", "a").output)
    assert got["description"] == "Ops" and "stack" not in got  # omitempty, as upstream
    assert got["event_type"] == "task.failed" and got["file_path"] == str(lua.resolve())
    assert got["enabled"] is True and got["id"] == "a" and got["run_count"] == 0
    staged = cli("hook", "add", "b", "-f", str(lua), "-e", "deploy.failed", "-s", "p")
    assert staged.exit_code == 0, staged.output
    assert json.loads(cli("hook", "get", "b").output)["stack"] == "p"
    assert cli("hook", "list", "-s", "other").output.strip() == "(none)"
    in_p = cli("hook", "list", "-s", "p").output
    assert "b " in in_p and "a " not in in_p

    ran = cli("event", "dispatch", "task.failed", "--data", '{"task": {"task_name": "bad"}}')
    assert ran.exit_code == 0, ran.output
    assert cli("hook", "test", "a", "-d", '{"task": {"task_name": "x"}}').exit_code == 0
    logs = json.loads(cli("hook", "logs", "a", "-n", "1", "-f", "json").output)
    assert logs["total_shown"] == 1 and logs["failed_count"] == 1
    only_errors = cli("hook", "logs", "a", "-e").output
    assert "cannot alert about bad" in only_errors and "ALERT" not in only_errors
    only_output = cli("hook", "logs", "a", "-o").output
    assert "ALERT: Task bad failed" in only_output and "cannot alert" not in only_output

    listed = cli("events", "list", "-s", "failed", "-t", "task.failed", "-l", "5")
    assert listed.exit_code == 0, listed.output
    assert "1   task.failed  failed" in listed.output and "Total events: 1" in listed.output
    assert cli("events", "list", "-s", "completed").output.startswith("(none)")
    event = json.loads(cli("events", "get", "1").output)
    assert event["id"] == "1" and event["status"] == "failed"
    assert "cannot alert about bad" in event["error"]
    assert event["hook_executions"][0]["hook_name"] == "a"
    assert "processed_at" in event and event["created_at"] == event["timestamp"]
    assert cli("events", "cleanup", "-H", "0").output.strip() == "Cleaned up 1 old events"
    assert cli("events", "get", "1").exit_code == 1

    bad_id = cli("events", "get", "550e8400-e29b-41d4-a716-446655440000")
    assert bad_id.exit_code == 2 and "integers" in bad_id.output
    assert cli("hook", "delete", "a", "-f").exit_code == 0


def test_hook_source_prints_the_lua_and_help_names_upstream(cli, tmp_path: Path) -> None:
    lua = tmp_path / "alert.lua"
    lua.write_text(ALERT_HOOK)
    assert cli("hook", "add", "a", "--file", str(lua), "--event", "task.failed").exit_code == 0
    assert cli("hook", "source", "a").output == ALERT_HOOK
    assert json.loads(cli("hook", "source", "a", "--json").output)["code"] == ALERT_HOOK
    for args in (
        ["events", "--help"],
        ["events", "list", "--help"],
        ["hook", "add", "--help"],
        ["hook", "logs", "--help"],
        ["hook", "get", "--help"],
    ):
        assert "Sloth Runner" in cli(*args).output, args


ECHO_HOOK = """\
function on_event()
  log.info(event.data.task.task_name)
  error(event.data.task.task_name)
end
"""
# What must never reach a terminal raw: C0 but the newline, DEL, C1, bidi controls,
# line/paragraph separators.
_RAW = re.compile(
    "[\x00-\x09\x0b-\x1f\x7f-\x9f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069]"
)


@settings(
    max_examples=15,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
# NUL and lone surrogates cannot be command-line arguments (refused before any command).
@given(text=hostile_text(40).filter(lambda t: not re.search("[\x00\ud800-\udfff]", t)))
def test_upstream_commands_escape_outside_text(
    tmp_path_factory: pytest.TempPathFactory, text: str
) -> None:
    home = tmp_path_factory.mktemp("hostile-home")
    lua = home / "echo.lua"
    lua.write_text(ECHO_HOOK)

    def cli(*args: str) -> Result:
        return CliRunner().invoke(main, ["--home", str(home), "--embedded", *args])

    assert cli("hook", "add", "a", "-f", str(lua), "-e", "task.failed", "-d", text).exit_code == 0
    data = json.dumps({"task": {"task_name": text}, "note": text})
    assert cli("event", "dispatch", "task.failed", "--data", data).exit_code == 0
    for args in (
        ["events", "show", "1"],
        ["events", "list"],
        ["hook", "logs", "a", "-o", "-e"],
        ["hook", "list"],
    ):
        out = cli(*args).output
        assert not _RAW.search(out), (args, out)
    got = json.loads(cli("events", "get", "1").output)  # JSON: escaped, and read back exact
    assert got["data"]["note"] == text
    assert json.loads(cli("hook", "get", "a").output)["description"] == text
    logs = json.loads(cli("hook", "logs", "a", "-f", "json").output)
    assert logs["executions"][0].get("output", "") == text  # empty: left out, as upstream
