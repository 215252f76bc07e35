"""`hook add`/`hook update` policy flags and the displays that show policies, why a hook
is off, and why each run happened (issue 17, CLI side). Real engine on a temporary home;
the daemon test runs a real `serve` and goes through its socket."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from sourcekit import DaemonProcess, run_cli

from sloth_tui.cli import main
from sloth_tui.config import load_settings
from sloth_tui.engine.engine import Engine
from sloth_tui.model.records import Execution

FULL_FLAGS = (
    "--when", "service=payments !src:demo",
    "--mode", "single",
    "--key", "data.service",
    "--retry", "3",
    "--retry-delay", "2s",
    "--retry-backoff", "1.5",
    "--retry-on-failed",
    "--throttle", "5/1m",
    "--dedupe", "10m",
    "--auto-disable", "20",
)  # fmt: skip
FULL_POLICY = {
    "when": "service=payments !src:demo",
    "mode": "single",
    "key": "data.service",
    "retry": {"attempts": 3, "delay": 2.0, "backoff": 1.5, "on_failed": True},
    "throttle": {"count": 5, "window": 60.0},
    "dedupe": 600.0,
    "auto_disable": 20,
}


@pytest.fixture
def cli(home: Path) -> Callable[..., Result]:
    runner = CliRunner()

    def invoke(*args: str) -> Result:
        return runner.invoke(main, ["--home", str(home), "--embedded", *args])

    return invoke


@pytest.fixture
def hook_file(tmp_path: Path) -> Path:
    path = tmp_path / "page.lua"
    path.write_text("function on_event()\n  return true\nend\n")
    return path


def add(cli: Callable[..., Result], hook_file: Path, *extra: str, name: str = "page") -> Result:
    return cli("hook", "add", name, "-e", "deploy.failed", "-f", str(hook_file), *extra)


def policy_of(cli: Callable[..., Result], name: str = "page") -> dict[str, object]:
    shown = cli("hook", "show", name, "--json")
    assert shown.exit_code == 0, shown.output
    policy: dict[str, object] = json.loads(shown.output)["policy"]
    return policy


def test_add_with_every_flag_then_show_get_list(cli, hook_file: Path) -> None:
    added = add(cli, hook_file, *FULL_FLAGS)
    assert added.exit_code == 0, added.output
    assert "policy:      when service=payments !src:demo" in added.output
    assert policy_of(cli) == FULL_POLICY
    assert json.loads(cli("hook", "get", "page").output)["policy"] == FULL_POLICY
    listed = json.loads(cli("hook", "list", "--json").output)
    assert listed[0]["policy"] == FULL_POLICY and listed[0]["disabled_reason"] is None
    shown = cli("hook", "show", "page").output.splitlines()
    at = shown.index("policy:      when service=payments !src:demo")
    assert shown[at + 1 : at + 6] == [
        "             mode single per data.service",
        "             retry 3x after 2s, x1.5, failed too",
        "             throttle 5/1m per data.service",
        "             dedupe 10m per data.service",
        "             auto-disable after 20 failures in a row",
    ]
    table = cli("hook", "list").output.splitlines()
    assert "POLICY" in table[0]
    assert "when,single,retry,+3" in table[1]  # hook show has the rest
    assert max(len(line) for line in table) <= 100


def test_add_without_flags_has_no_policy_and_no_policy_column(cli, hook_file: Path) -> None:
    assert add(cli, hook_file).exit_code == 0
    assert policy_of(cli) == {}
    assert json.loads(cli("hook", "get", "page").output)["policy"] == {}
    assert "POLICY" not in cli("hook", "list").output
    assert "policy:" not in cli("hook", "show", "page").output


def test_update_changes_one_setting_and_keeps_the_rest(cli, hook_file: Path) -> None:
    assert add(cli, hook_file, *FULL_FLAGS).exit_code == 0
    done = cli("hook", "update", "page", "--retry-delay", "30s")
    assert done.exit_code == 0, done.output
    assert "retry 3x after 30s, x1.5, failed too" in done.output
    retry = {"attempts": 3, "delay": 30.0, "backoff": 1.5, "on_failed": True}
    assert policy_of(cli) == FULL_POLICY | {"retry": retry}
    assert cli("hook", "update", "page", "--no-retry-on-failed", "--mode", "queued").exit_code == 0
    policy = policy_of(cli)
    assert policy["mode"] == "queued" and policy["retry"] == retry | {"on_failed": False}
    assert policy["when"] == FULL_POLICY["when"]  # untouched settings stay


def test_update_clears_every_setting(cli, hook_file: Path) -> None:
    assert add(cli, hook_file, *FULL_FLAGS).exit_code == 0
    cleared = cli(
        "hook", "update", "page", "--when", "", "--mode", "parallel", "--key", "",
        "--retry", "0", "--throttle", "off", "--dedupe", "off", "--auto-disable", "0",
    )  # fmt: skip
    assert cleared.exit_code == 0, cleared.output
    assert "policy:      none" in cleared.output
    assert policy_of(cli) == {}
    assert "POLICY" not in cli("hook", "list").output


def test_update_policy_alone_is_a_change(cli, hook_file: Path) -> None:
    assert add(cli, hook_file).exit_code == 0
    nothing = cli("hook", "update", "page")
    assert nothing.exit_code == 2 and "policy flag" in nothing.output
    assert cli("hook", "update", "page", "--when", "env=prod").exit_code == 0
    assert policy_of(cli) == {"when": "env=prod"}


BAD_FLAGS = [
    (("--when", "since:1h"), "--when", "since: is about the moment"),
    (("--when", "status:failed"), "--when", "status:"),
    (("--when", "x" * 1001), "--when", "at most 1000 characters"),
    (("--mode", "serial"), "--mode", "serial"),
    (("--key", "service"), "--key", "is not a data path"),
    (("--key", "data.a\x1b[2J"), "--key", "spaces or control characters"),
    (("--retry", "11"), "--retry", "11"),
    (("--retry", "-1"), "--retry", "-1"),
    (("--retry", "2", "--retry-delay", "2h"), "--retry-delay", "from 0 to 1h"),
    (("--retry", "2", "--retry-delay", "soon"), "--retry-delay", "is not a duration"),
    (("--retry", "2", "--retry-backoff", "0.5"), "--retry-backoff", "from 1 to 10"),
    (("--retry", "2", "--retry-backoff", "nan"), "--retry-backoff", "finite"),
    (("--retry-delay", "5s"), "--retry-delay", "the hook has no retry: give --retry N"),
    (("--retry-on-failed",), "--retry-on-failed", "the hook has no retry"),
    (("--retry", "0", "--retry-backoff", "3"), "--retry", "--retry 0 clears the retry"),
    (("--throttle", "5"), "--throttle", "is not COUNT/WINDOW"),
    (("--throttle", "0/1m"), "--throttle", "throttle count"),
    (("--throttle", "5/8d"), "--throttle", "a window from 1ms to 7d"),
    (("--dedupe", "0"), "--dedupe", "a window from 1ms to 7d"),
    (("--dedupe", "later"), "--dedupe", "is not a duration"),
    (("--auto-disable", "-3"), "--auto-disable", "-3"),
    (("--auto-disable", "2000000"), "--auto-disable", "from 1 to 1000000"),
]


@pytest.mark.parametrize(("flags", "flag", "message"), BAD_FLAGS)
def test_bad_flags_refused_in_one_line_and_nothing_written(
    cli, hook_file: Path, flags: tuple[str, ...], flag: str, message: str
) -> None:
    refused = add(cli, hook_file, *flags, name="fresh")
    assert refused.exit_code == 2, refused.output
    lines = refused.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), refused.output
    assert flag in lines[0] and message in lines[0] and "\x1b" not in lines[0]
    assert json.loads(cli("hook", "list", "--json").output) == []  # nothing half-added
    assert add(cli, hook_file, "--when", "env=prod").exit_code == 0
    again = cli("hook", "update", "page", *flags)
    assert again.exit_code == 2 and message in again.output
    assert policy_of(cli) == {"when": "env=prod"}  # unchanged


def test_help_explains_each_flag(cli) -> None:
    for command in ("add", "update"):
        text = " ".join(cli("hook", command, "--help").output.split())
        for flag, words in (
            ("--when", "filter bar's language"),
            ("--mode", "restart cancels the older run"),
            ("--key", "per value of it"),
            ("--retry N", "error or timeout"),
            ("--retry-delay", "before the first retry"),
            ("--retry-backoff", "longer than the one before"),
            ("--retry-on-failed / --no-retry-on-failed", "returned failure"),
            ("--throttle", "COUNT runs per WINDOW"),
            ("--dedupe", "One run per --key value"),
            ("--auto-disable", "failed runs in a row"),
        ):
            assert flag in text and words in text, (command, flag)


async def _store(home: Path, name: str, runs: list[Execution], reason: str | None) -> None:
    """Write what the engine records (runs with their trigger, a hook it switched off)
    through a real engine's store, as the dispatcher does."""
    engine = await Engine.open(load_settings(home))
    try:
        for ex in runs:
            await engine.store.record_execution(ex)
        if reason is not None:
            hook = await engine.get_hook(name)
            await engine.store.save_hook(replace(hook, enabled=False, disabled_reason=reason))
    finally:
        await engine.close()


def test_auto_disabled_hook_is_marked_and_enable_clears_it(
    cli, home: Path, hook_file: Path
) -> None:
    assert add(cli, hook_file, "--auto-disable", "3", name="a-hook").exit_code == 0
    assert add(cli, hook_file, name="b-hook").exit_code == 0
    assert cli("hook", "disable", "b-hook").exit_code == 0  # off by hand: not "auto-off"
    reason = "auto-disabled after 3 failures in a row; last error: boom \x1b[2J"
    asyncio.run(_store(home, "a-hook", [], reason))
    rows = cli("hook", "list").output.splitlines()
    assert "auto-off" in rows[1] and "a-hook" in rows[1]
    assert "false" in rows[2] and "auto-off" not in rows[2]
    assert rows[-1].startswith("auto-off: disabled after failures in a row")
    shown = cli("hook", "show", "a-hook").output
    assert (
        "disabled:    auto-disabled after 3 failures in a row; last error: boom \\x1b[2J" in shown
    )
    assert "\x1b" not in shown
    listed = json.loads(cli("hook", "list", "--json").output)
    assert listed[0]["disabled_reason"] == reason
    assert json.loads(cli("hook", "get", "a-hook").output)["disabled_reason"] == reason
    enabled = cli("hook", "enable", "a-hook")
    assert enabled.exit_code == 0, enabled.output
    assert enabled.output.splitlines() == [
        "enabled hook a-hook",
        "cleared why it was off: auto-disabled after 3 failures in a row; "
        "last error: boom \\x1b[2J",
    ]
    assert json.loads(cli("hook", "get", "a-hook").output)["disabled_reason"] is None
    assert cli("hook", "enable", "b-hook").output == "enabled hook b-hook\n"


def test_logs_show_trigger_attempt_and_skip_reason(cli, home: Path, hook_file: Path) -> None:
    assert add(cli, hook_file).exit_code == 0
    runs = [
        Execution("page", 7, "success", started=100.0, event_type="deploy.failed"),
        Execution("page", 7, "error", started=101.0, error="boom", trigger="rerun"),
        Execution("page", 7, "success", started=102.0, trigger="retry", attempt=2),
        Execution(
            "page", 8, "skipped", started=103.0,
            error="mode single: a run for data.service='x\x1b[2J' is under way (event 7)",
        ),
    ]  # fmt: skip
    asyncio.run(_store(home, "page", runs, None))
    out = cli("hook", "logs", "page").output
    heads = [line for line in out.splitlines() if line.startswith("page on")]
    assert heads == [
        "page on event 8: skipped in 0.0 ms (event)",
        "page on event 7: success in 0.0 ms (retry, attempt 2)",
        "page on event 7: error in 0.0 ms (rerun)",
        "page on event 7 deploy.failed: success in 0.0 ms (event)",
    ]
    assert (
        "  skipped: mode single: a run for data.service='x\\x1b[2J' is under way (event 7)" in out
    )
    assert "  error: boom" in out and "error: mode single" not in out and "\x1b" not in out
    as_json = json.loads(cli("hook", "logs", "page", "--json").output)
    assert [(r["trigger"], r["attempt"]) for r in as_json] == [
        ("event", 1), ("retry", 2), ("rerun", 1), ("event", 1)
    ]  # fmt: skip
    # -e (errors only) still says why a run was skipped
    assert "  skipped: mode single" in cli("hook", "logs", "page", "-e").output
    history = cli("hook", "show", "page", "--history").output.splitlines()
    runs_at = [line for line in history if line.startswith("  ") and " ms" in line]
    assert [("(retry, attempt 2)" in r, "(rerun) boom" in r) for r in runs_at] == [
        (False, False), (True, False), (False, True), (False, False)
    ]  # fmt: skip


def test_test_fire_says_test(cli, hook_file: Path) -> None:
    assert add(cli, hook_file).exit_code == 0
    tested = cli("hook", "test", "page")
    assert tested.exit_code == 0, tested.output
    assert tested.output.startswith("DRY RUN page on deploy.failed: success in ")
    assert tested.output.splitlines()[0].endswith("(test)")


def test_policy_flags_through_a_running_daemon(
    tmp_path: Path, hook_file: Path, daemons: Callable[[Path | None], DaemonProcess]
) -> None:
    """add + update over a real `serve`'s socket: the policy travels as a dict and the
    daemon's engine stores it; its refusals come back as the same one line."""
    daemon = daemons(None).start("--no-monitor")
    home = ["--home", str(daemon.home)]
    added = run_cli(*home, "hook", "add", "page", "-e", "deploy.failed", "-f", str(hook_file),
                    "--when", "env=prod", "--retry", "2")  # fmt: skip
    assert added.returncode == 0, added.stderr
    assert "retry 2x after 1s, x2" in added.stdout
    updated = run_cli(*home, "hook", "update", "page", "--throttle", "3/10s", "--json")
    assert updated.returncode == 0, updated.stderr
    assert json.loads(updated.stdout)["policy"] == {
        "when": "env=prod",
        "retry": {"attempts": 2, "delay": 1.0, "backoff": 2.0, "on_failed": False},
        "throttle": {"count": 3, "window": 10.0},
    }
    shown = run_cli(*home, "hook", "show", "page")
    assert "throttle 3/10s" in shown.stdout
    refused = run_cli(*home, "hook", "update", "page", "--key", "nope")
    assert refused.returncode == 2 and refused.stdout == ""
    assert refused.stderr.count("\n") == 1 and "is not a data path" in refused.stderr
