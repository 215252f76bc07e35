"""`config show [--json]`: every setting in effect with where it came from (default,
file, environment, flag), the owned tables as the file gives them, secrets never
printed, outside text escaped; a broken config.toml is one line and exit 1."""

from __future__ import annotations

import json
import string
from dataclasses import fields
from pathlib import Path
from typing import Any

import tomli_w
from click.testing import CliRunner, Result
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sloth_tui.cli import main
from sloth_tui.config import MonitorSettings, ServerSettings, Settings

SECRET = "s3cr3t-value-never-printed"


def show(home: Path | None, *args: str, env: dict[str, str] | None = None) -> Result:
    """`[--home HOME] [global flags] config show [--json]`."""
    root = ["--home", str(home)] if home is not None else []
    flags = [a for a in args if a != "--json"]
    json_flag = ["--json"] if "--json" in args else []
    return CliRunner().invoke(main, [*root, *flags, "config", "show", *json_flag], env=env)


def show_json(home: Path | None, *args: str, env: dict[str, str] | None = None) -> Any:
    result = show(home, *args, "--json", env=env)
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout, parse_constant=_refuse)


def _refuse(name: str) -> None:
    raise AssertionError(f"{name} in JSON output")


def test_every_setting_is_shown_with_its_default(home: Path) -> None:
    got = show_json(home)
    for f in fields(Settings):
        key = f.name
        if key in ("config_dir", "watch_kinds", "source_tables", "filters", "keymap"):
            continue  # config_dir: the config_file line; the rest: the tables, when given
        if key in ("monitor", "server", "sandbox", "watchers"):
            continue
        assert key in got, key
    for prefix, obj in (("monitor", MonitorSettings), ("server", ServerSettings)):
        for f in fields(obj):
            assert got[f"{prefix}.{f.name}"]["from"] == "default"
    assert got["concurrency"] == {"value": 8, "from": "default", "via": None}
    assert got["socket"]["value"] == str(home / "sloth.sock")
    assert got["home"] == {"value": str(home), "from": "flag", "via": "--home"}
    assert got["config_file"]["value"] == str(home / "config.toml")
    assert got["sandbox.file_roots"]["value"][0] == str(home / "files")
    assert got["monitor.mount_points"]["value"] == ["/"]


def test_file_then_environment_then_flag(home: Path) -> None:
    (home / "config.toml").write_text(
        "concurrency = 4\nqueue_size = 77\ntheme = 'sloth-light'\n"
        "[retention]\nmax_events = 5000\n[server]\nbacklog = 64\n[monitor]\ninterval = 2.5\n"
    )
    env = {"SLOTH_TUI_CONCURRENCY": "6", "SLOTH_TUI_THEME": "sloth-contrast"}
    got = show_json(home, "--strict", "--theme", "sloth-dark", env=env)
    assert got["queue_size"] == {"value": 77, "from": "file", "via": None}
    assert got["concurrency"] == {
        "value": 6,
        "from": "environment",
        "via": "SLOTH_TUI_CONCURRENCY",
    }
    assert got["theme"] == {"value": "sloth-dark", "from": "flag", "via": "--theme"}
    assert got["strict"] == {"value": True, "from": "flag", "via": "--strict"}
    assert got["max_events"] == {"value": 5000, "from": "file", "via": "[retention] max_events"}
    assert got["server.backlog"]["from"] == "file"
    assert got["server.idle_timeout"]["from"] == "default"
    assert got["monitor.interval"] == {"value": 2.5, "from": "file", "via": None}
    # Without the flag the environment wins over the file.
    assert show_json(home, env=env)["theme"]["from"] == "environment"


def test_home_from_the_environment(home: Path) -> None:
    got = show_json(None, env={"SLOTH_TUI_HOME": str(home)})
    assert got["home"] == {"value": str(home), "from": "environment", "via": "SLOTH_TUI_HOME"}


def test_owned_tables_are_shown_and_secrets_are_not(home: Path, tmp_path: Path) -> None:
    token = tmp_path / "http.token"
    token.write_text(SECRET)
    (home / "config.toml").write_text(
        f"""
[http]
listen = "127.0.0.1:8080"
token_file = "{token}"

[[webhooks]]
name = "gh"
preset = "github"
secret_file = "{token}"
token = "{SECRET}"
[webhooks.data]
name = "alertname"

[[schedules]]
name = "nightly"
cron = "0 3 * * *"

[[checks]]
name = "api"
url = "https://ops:{SECRET}@example.com/health"
headers = {{ Authorization = "Bearer {SECRET}" }}

[[watchers]]
name = "etc"
path = "/etc"
"""
    )
    result = show(home, "--token-file", str(token))
    assert result.exit_code == 0, result.output
    assert SECRET not in result.output
    lines = {line.split()[0]: line.split()[1:] for line in result.stdout.splitlines()[2:]}
    assert lines["http.listen"] == ["127.0.0.1:8080", "file"]
    assert lines["http.token_file"] == [str(token), "file"]  # the path, never its content
    assert lines["webhooks[1].token"] == ["<hidden>", "file"]
    assert lines["webhooks[1].data.name"] == ["alertname", "file"]
    assert lines["schedules[1].cron"][-1] == "file"
    assert lines["checks[1].url"][0] == "https://<hidden>@example.com/health"
    assert lines["checks[1].headers.Authorization"][0] == "<hidden>"
    assert lines["watchers[1].path"] == ["/etc", "file"]
    assert lines["token_file"] == [str(token), "flag", "--token-file"]
    as_json = show_json(home)
    assert SECRET not in json.dumps(as_json)
    assert as_json["webhooks[1].secret_file"]["value"] == str(token)


def test_outside_text_is_escaped(home: Path) -> None:
    (home / "config.toml").write_text(
        '[backup]\nnote = "a\\u001b]0;title\\u0007\\nb \\u202e"\n'
        '[keymap]\n"events.pause\\u001b" = "ctrl+z"\n'
    )
    result = show(home)
    assert result.exit_code == 0, result.output
    for raw in ("\x1b", "\x07", "\u202e"):
        assert raw not in result.stdout
    assert "a\\x1b]0;title\\x07\\nb \\u202e" in result.stdout
    assert show_json(home)["backup.note"]["value"] == "a\x1b]0;title\x07\nb \u202e"


def test_a_broken_config_is_one_line_and_exit_1(home: Path) -> None:
    (home / "config.toml").write_text("concurrency = [\n")
    result = show(home)
    assert result.exit_code == 1
    assert result.stdout == ""
    assert len(result.stderr.splitlines()) == 1
    assert result.stderr.startswith(f"error: {home / 'config.toml'}")
    (home / "config.toml").write_text("concurrency = 0\n")
    result = show(home)
    assert result.exit_code == 1 and "out of range" in result.stderr
    assert "Traceback" not in result.output


def test_no_config_file_is_all_defaults(home: Path) -> None:
    result = show(home)
    assert result.exit_code == 0
    assert result.stdout.splitlines()[0] == f"config file: {home / 'config.toml'} (none)"
    froms = {line.split()[-1] for line in result.stdout.splitlines()[2:]}
    assert froms <= {"default", "--home"}


_TEXT = st.text(st.characters(codec="utf-8"), max_size=40)
_KEYS = st.text(string.ascii_letters + string.digits + "_-. \x1b\n\u202e", min_size=1, max_size=12)
_VALUES = st.recursive(
    st.one_of(_TEXT, st.integers(-(2**63), 2**63 - 1), st.booleans(), st.floats()),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(_KEYS, inner, max_size=3),
    max_leaves=12,
)


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(st.dictionaries(_KEYS, _VALUES, min_size=1, max_size=5))
def test_hostile_owned_tables(home: Path, table: dict[str, Any]) -> None:
    (home / "config.toml").write_text(tomli_w.dumps({"backup": table}))
    result = show(home)
    assert result.exit_code == 0, result.output
    for line in result.stdout.splitlines():
        assert not any(ord(c) < 0x20 or 0x7F <= ord(c) < 0xA0 for c in line), line
    as_json = show_json(home)  # strict JSON: no NaN or Infinity
    assert any(k.startswith("backup") for k in as_json)
    assert len(result.stdout.splitlines()) == 2 + len(as_json)  # one line per value
