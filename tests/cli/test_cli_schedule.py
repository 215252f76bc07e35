"""`sloth-tui schedule add/update/list/remove/enable/disable`: kept in the data dir's
schedules.json (config.toml untouched), each change a schedule.* event with the
catalog's fields, on a local engine or through a running daemon, which picks the
change up without a restart."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from click.testing import CliRunner, Result
from hostile import hostile_text
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sourcekit import DaemonProcess, ask, events_of, run_cli, wait_for, write_config

from sloth_tui.cli import main
from sloth_tui.engine.events import catalog_warnings

CONFIG = """# the operator's file
theme = "sloth-light"

[[schedules]]
name = "from-config"   # a comment
cron = "0 3 * * *"
"""


def cli(home: Path, *args: str) -> Result:
    return CliRunner().invoke(main, ["--home", str(home), *args])


def schedule_events(home: Path) -> list[dict[str, Any]]:
    return events_of(home, "schedule.*")


def one_line_error(result: Result, code: int = 1) -> str:
    assert result.exit_code == code, result.output
    assert "Traceback" not in result.output
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    return lines[0]


def test_add_list_update_enable_disable_remove_on_a_local_engine(home: Path) -> None:
    write_config(home, CONFIG)
    before = (home / "config.toml").read_bytes()

    added = cli(
        home,
        "schedule",
        "add",
        "nightly",
        "--cron",
        "0 2 * * *",
        "--timezone",
        "Europe/Berlin",
        "--workflow",
        "backup-databases",
    )
    assert added.exit_code == 0, added.output
    assert "added schedule nightly: next fire " in added.output
    ping = cli(home, "schedule", "add", "ping", "--cron", "*/5 * * * *", "--event", "custom",
               "--data", '{"name": "ping"}')  # fmt: skip
    assert ping.exit_code == 0, ping.output

    listed = json.loads(cli(home, "schedule", "list", "--json").output)
    assert [(r["name"], r["origin"], r["enabled"]) for r in listed] == [
        ("from-config", "config", True),
        ("nightly", "cli", True),
        ("ping", "cli", True),
    ]
    nightly = listed[1]
    berlin = ZoneInfo("Europe/Berlin")
    for fire in nightly["next_fires"]:
        local = datetime.fromisoformat(fire.replace("Z", "+00:00")).astimezone(berlin)
        assert (local.hour, local.minute) == (2, 0)
    assert len(nightly["next_fires"]) == 3 and nightly["last_fire"] is None
    assert listed[2]["event"] == "custom" and listed[2]["data"] == {"name": "ping"}
    text = cli(home, "schedule", "list").output
    assert "from-config" in text and "config.toml" in text and "Europe/Berlin" in text

    assert cli(home, "schedule", "update", "ping", "--cron", "*/10 * * * *").exit_code == 0
    assert cli(home, "schedule", "disable", "nightly").exit_code == 0
    assert "already disabled" in cli(home, "schedule", "disable", "nightly").output
    assert cli(home, "schedule", "enable", "nightly").exit_code == 0
    # config.toml's own schedule: switched in the data dir, the operator's file untouched.
    assert cli(home, "schedule", "disable", "from-config").exit_code == 0
    assert cli(home, "schedule", "remove", "ping").exit_code == 0

    assert (home / "config.toml").read_bytes() == before
    listed = json.loads(cli(home, "schedule", "list", "--json").output)
    assert [(r["name"], r["enabled"]) for r in listed] == [
        ("from-config", False),
        ("nightly", True),
    ]
    kept = json.loads((home / "schedules.json").read_text())
    assert [s["name"] for s in kept["schedules"]] == ["nightly"]
    assert kept["config_switches"]["from-config"]["enabled"] is False
    assert (home / "schedules.json").stat().st_mode & 0o077 == 0

    events = schedule_events(home)
    assert [(e["type"], e["data"]["schedule_name"]) for e in events] == [
        ("schedule.created", "nightly"),
        ("schedule.created", "ping"),
        ("schedule.updated", "ping"),
        ("schedule.disabled", "nightly"),  # the second disable changed nothing: no event
        ("schedule.enabled", "nightly"),
        ("schedule.disabled", "from-config"),
        ("schedule.deleted", "ping"),
    ]
    for e in events:
        assert catalog_warnings(e["type"], e["data"]) == [], e
        assert e["source"] == "cli"
    assert events[0]["data"]["cron_expr"] == "0 2 * * *"
    assert events[0]["data"]["workflow_name"] == "backup-databases"
    assert events[2]["data"]["changes"] == "cron_expr: */5 * * * * -> */10 * * * *"


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["add", "a", "--cron", "61 * * * *"], "invalid cron expression '61 * * * *': Bad minute"),
        (["add", "a", "--cron", "* * * * *", "--timezone", "Mars/Base"], "unknown timezone"),
        (["add", "from-config", "--cron", "* * * * *"], "already exists"),
        (["add", "a b", "--cron", "* * * * *"], "invalid schedule name"),
        (["add", "a", "--cron", "* * * * *", "--data", '{"k": 1}'], "data needs an event"),
        (["add", "a", "--cron", "* * * * *", "--event", "Bad Type"], "invalid event type"),
        (["remove", "from-config"], "defined in config.toml"),
        (["remove", "nope"], "no schedule named 'nope'"),
        (["enable", "nope"], "no schedule named 'nope'"),
        (["update", "from-config", "--cron", "* * * * *"], "defined in config.toml"),
    ],
)
def test_bad_input_is_one_line_and_changes_nothing(
    home: Path, args: list[str], expected: str
) -> None:
    write_config(home, CONFIG)
    assert expected in one_line_error(cli(home, "schedule", *args))
    assert not (home / "schedules.json").exists()
    assert not (home / "sloth.db").exists() or schedule_events(home) == []


def test_update_with_nothing_to_change_and_bad_data_json(home: Path) -> None:
    assert cli(home, "schedule", "add", "a", "--cron", "* * * * *").exit_code == 0
    assert "nothing to change" in one_line_error(cli(home, "schedule", "update", "a"))
    bad = cli(home, "schedule", "add", "b", "--cron", "* * * * *", "--event", "custom",
              "--data", "[1]")  # fmt: skip
    assert "must be a JSON object" in one_line_error(bad, 2)


def test_a_bad_config_entry_is_one_line_for_list_and_for_serve(home: Path) -> None:
    write_config(home, '[[schedules]]\nname = "x"\ncron = "0 2 * * *"\ntimezone = "Nowhere/Land"\n')
    line = one_line_error(cli(home, "schedule", "list"))
    assert "[[schedules]] entry 1 ('x'): unknown timezone 'Nowhere/Land'" in line
    served = run_cli("serve", "--home", str(home), "--no-monitor")
    assert served.returncode != 0
    assert "unknown timezone 'Nowhere/Land'" in served.stderr and "Traceback" not in served.stderr


@pytest.fixture
def daemon(tmp_path: Path) -> Iterator[DaemonProcess]:
    home = tmp_path / "served"
    home.mkdir()
    d = DaemonProcess(home)
    try:
        yield d
    finally:
        d.kill()


def schedules_health(d: DaemonProcess) -> str:
    [reply] = ask(d.socket, {"op": "source_health"})
    [line] = [s for s in reply["sources"] if s["kind"] == "schedules"]
    assert line["state"] == "running", line
    return str(line["detail"])


def test_a_running_serve_picks_up_schedule_add_without_restart(daemon: DaemonProcess) -> None:
    d = daemon.start("--no-monitor")
    home = str(d.home)
    assert schedules_health(d).startswith("0 schedules")

    # Every second (cronsim's six-field form): a fire is seconds away, not minutes.
    added = run_cli("--home", home, "schedule", "add", "tick", "--cron", "* * * * * *",
                    "--event", "custom", "--data", '{"name": "tick"}')  # fmt: skip
    assert added.returncode == 0, added.stderr
    fired = wait_for(
        lambda: [e for e in events_of(d.home, "schedule.triggered")],
        what="the daemon to fire the new schedule",
    )
    assert fired[0]["data"]["schedule_name"] == "tick"
    assert fired[0]["source"] == "schedule:tick"
    wait_for(lambda: events_of(d.home, "custom"), what="the schedule's own event")
    # The change event went through the daemon (the CLI could not open the store itself).
    [created] = events_of(d.home, "schedule.created")
    assert created["data"]["cron_expr"] == "* * * * * *"

    assert run_cli("--home", home, "schedule", "disable", "tick").returncode == 0
    wait_for(lambda: "(0 enabled)" in schedules_health(d), what="the disable to be seen")
    assert run_cli("--home", home, "schedule", "remove", "tick").returncode == 0
    wait_for(lambda: schedules_health(d).startswith("0 schedules"), what="the removal")
    types = [e["type"] for e in events_of(d.home, "schedule.*") if e["source"] == "cli"]
    assert types == ["schedule.created", "schedule.disabled", "schedule.deleted"]
    assert d.proc is not None and d.proc.poll() is None  # the same process throughout


# -- hostile names and cron strings: never a traceback -------------------------------------

names = st.one_of(
    hostile_text(40), st.from_regex(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,70}", fullmatch=True)
)
crons = st.one_of(
    hostile_text(40),
    st.lists(st.sampled_from(["*", "*/0", "0", "60", "L", "MON#9", "1-99", "\x1b[2J", "é"]),
             min_size=1, max_size=7).map(" ".join),
)  # fmt: skip


@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(name=names, cron=crons)
def test_any_name_and_cron_is_added_or_one_line(home: Path, name: str, cron: str) -> None:
    result = cli(home, "schedule", "add", name, "--cron", cron)
    assert result.exit_code in (0, 1, 2), result.output
    assert "Traceback" not in result.output and "\x1b" not in result.output
    if result.exit_code:
        one_line_error(result, result.exit_code)
    else:
        assert cli(home, "schedule", "remove", name).exit_code == 0
