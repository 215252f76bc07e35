"""`sloth-tui check list/run`: the [[checks]] of config.toml, listed and probed once, against
real loopback targets; bad config is one line, hostile config text never a traceback."""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result
from hostile import hostile_text
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sloth_tui.cli import main
from sloth_tui.sources.watchconf import toml_string


class _Ok(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        body = b"ready" if self.path == "/healthz" else b"nope"
        self.send_response(200 if self.path == "/healthz" else 503)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def web() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Ok)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    server.server_close()
    thread.join(5)


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


@pytest.fixture
def cli(home: Path):
    runner = CliRunner()

    def invoke(*args: str) -> Result:
        return runner.invoke(main, ["--home", str(home), *args], catch_exceptions=False)

    return invoke


def configure(home: Path, text: str) -> None:
    (home / "config.toml").write_text(text, encoding="utf-8")


def _checks(web: str, port: int) -> str:
    return f"""
[[checks]]
name = "web"
kind = "http"
url = "{web}/healthz"
body_contains = "ready"
service = "frontend"

[[checks]]
name = "broken"
kind = "http"
url = "{web}/other"
enabled = false

[[checks]]
name = "db"
kind = "tcp"
host = "127.0.0.1"
port = {port}
timeout = 2
failures = 3

[[checks]]
name = "resolver"
kind = "dns"
host = "localhost"
slow_ms = 0
"""


def test_list_shows_every_check_with_its_settings(cli, home: Path, web: str) -> None:
    assert cli("check", "list").output.strip() == "(none)"
    port = closed_port()
    configure(home, _checks(web, port))
    listed = cli("check", "list")
    assert listed.exit_code == 0
    lines = listed.output.splitlines()
    assert lines[0].split() == [
        "NAME", "KIND", "TARGET", "SERVICE", "INTERVAL", "TIMEOUT", "FAILURES", "SLOW", "ENABLED",
    ]  # fmt: skip
    assert lines[1].split() == [
        "web", "http", f"{web}/healthz", "frontend", "30s", "5s", "1", "2500ms", "yes",
    ]  # fmt: skip
    assert lines[2].split()[-1] == "no"
    assert lines[3].split() == [
        "db", "tcp", f"127.0.0.1:{port}", "db", "30s", "2s", "3", "1000ms", "yes",
    ]  # fmt: skip
    assert lines[4].split()[7] == "-"
    as_json = json.loads(cli("check", "list", "--json").output)
    assert [c["name"] for c in as_json] == ["web", "broken", "db", "resolver"]
    assert as_json[0] == {
        "name": "web",
        "kind": "http",
        "service": "frontend",
        "interval": 30.0,
        "timeout": 5.0,
        "failures": 1,
        "slow_ms": 2500.0,
        "enabled": True,
        "url": f"{web}/healthz",
        "expect_status": 200,
        "body_contains": "ready",
        "follow_redirects": False,
        "target": f"{web}/healthz",
    }
    assert as_json[2]["port"] == port and "url" not in as_json[2]


def test_run_passes_and_fails_with_the_exit_status(cli, home: Path, web: str) -> None:
    port = closed_port()
    configure(home, _checks(web, port))
    passed = cli("check", "run", "web")
    assert passed.exit_code == 0, passed.output
    assert passed.output.startswith("passed: web in ") and passed.output.endswith(", 200 OK\n")
    failed = cli("check", "run", "db")
    assert failed.exit_code == 1
    assert failed.output == f"failed: db: 127.0.0.1:{port}: connection refused\n"
    disabled = cli("check", "run", "broken")  # disabled checks run by hand too
    assert disabled.exit_code == 1
    assert (
        disabled.output
        == f"failed: broken: GET {web}/other: 503 Service Unavailable (expected 200)\n"
    )
    dns = cli("check", "run", "resolver", "--json")
    assert dns.exit_code == 0
    result = json.loads(dns.output)
    assert result["ok"] is True and result["error"] is None and result["slow"] is False
    assert set(result) == {
        "name", "kind", "target", "service", "ok", "slow", "response_time_ms", "error", "detail",
    }  # fmt: skip
    failed_json = cli("check", "run", "db", "--json")
    assert failed_json.exit_code == 1
    assert json.loads(failed_json.output)["error"] == f"127.0.0.1:{port}: connection refused"


def test_run_an_unknown_check_or_on_bad_config_is_one_line(cli, home: Path, web: str) -> None:
    configure(home, _checks(web, closed_port()))
    unknown = cli("check", "run", "nope")
    assert unknown.exit_code == 1
    assert unknown.stderr == "error: no check named 'nope' (known: web, broken, db, resolver)\n"
    configure(home, '[[checks]]\nname = "db"\nkind = "tcp"\nhost = "127.0.0.1"\nport = 99999\n')
    for args in (("check", "list"), ("check", "run", "db")):
        bad = cli(*args)
        assert bad.exit_code == 1
        assert bad.stderr.count("\n") == 1 and bad.stderr.startswith("error: ")
        assert (
            "[[checks]] entry 1 (db): port = 99999 must be a number from 1 to 65535" in bad.stderr
        )


def test_help_explains_each_command_and_option(cli) -> None:
    group = cli("check", "--help").output
    assert "list" in group and "run" in group and "[[checks]]" in group
    run = cli("check", "run", "--help").output
    assert "exit status 1 when it fails" in run and "--json" in run
    assert "--json" in cli("check", "list", "--help").output


def _encodable(text: str) -> bool:
    return not any(0xD800 <= ord(c) <= 0xDFFF for c in text)


@given(
    key=st.sampled_from(["name", "url", "host", "service", "body_contains", "kind"]),
    value=hostile_text(120).filter(_encodable),
)
@settings(
    max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
def test_hostile_config_text_is_listed_or_refused_never_a_traceback(
    cli, home: Path, key: str, value: str
) -> None:
    entry = {"name": "x", "kind": "dns", "host": "localhost"}
    if key in ("url", "body_contains"):
        entry = {"name": "x", "kind": "http", "url": "http://127.0.0.1:1/"}
    entry[key] = value
    configure(home, "[[checks]]\n" + "".join(f"{k} = {toml_string(v)}\n" for k, v in entry.items()))
    for args in (("check", "list"), ("check", "list", "--json")):
        done = cli(*args)
        assert done.exit_code in (0, 1)
        if done.exit_code:
            assert done.stderr.count("\n") == 1 and done.stderr.startswith("error: ")
        assert "\x1b" not in done.output and "\u202e" not in done.output


@given(name=hostile_text(120))
@settings(
    max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
def test_run_with_a_hostile_name_is_one_escaped_line(cli, name: str) -> None:
    done = cli("check", "run", name)
    assert done.exit_code in (1, 2)  # 2: click's usage error (e.g. a name like "--x")
    if done.exit_code == 1:
        assert done.stderr.count("\n") == 1 and done.stderr.startswith("error: no check named ")
    assert "\x1b" not in done.stderr and "\u202e" not in done.stderr
