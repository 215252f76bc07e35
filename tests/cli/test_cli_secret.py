"""`sloth-tui secret ...` end to end: real vault files, a real store, real hook runs, a real
loopback HTTP server, and a real `serve` for the daemon path.

The value under test never appears on a command line; each test checks where it must
not be: the vault file, `secret list`, sloth.db (and its WAL), the execution record.
"""

from __future__ import annotations

import json
import stat
import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result
from cryptography.fernet import Fernet
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sourcekit import DaemonProcess, events_of, wait_for

from sloth_tui.cli import main

VALUE = "hooks.slack.com/T0/B0/XyZ-not-a-real-token-\u00e9\u2603"
Invoke = Callable[..., Result]


@pytest.fixture
def cli(home: Path) -> Invoke:
    runner = CliRunner()

    def invoke(*args: str, input: str | bytes | None = None) -> Result:
        return runner.invoke(main, ["--home", str(home), *args], input=input)

    return invoke


def home_bytes(home: Path) -> dict[str, bytes]:
    """Every file of the data dir but the key (sloth.db, its WAL, the vault, ...)."""
    return {
        p.name: p.read_bytes()
        for p in home.iterdir()
        if p.is_file() and p.name != "secrets.key" and not p.name.endswith(".sock")
    }


def assert_nowhere(value: str, *texts: str | bytes, home: Path | None = None) -> None:
    raw = value.encode("utf-8")
    escaped = json.dumps(value)[1:-1].encode()
    for text in texts:
        data = text.encode("utf-8") if isinstance(text, str) else text
        assert raw not in data and escaped not in data
    for name, data in (home_bytes(home) if home else {}).items():
        assert raw not in data and escaped not in data, f"the value is in {name}"


def one_line_error(result: Result) -> str:
    assert result.exit_code != 0
    lines = result.output.strip().splitlines()
    assert len(lines) == 1, result.output
    assert "Traceback" not in result.output
    return lines[0]


def test_set_from_stdin_list_never_shows_it(cli: Invoke, home: Path) -> None:
    done = cli("secret", "set", "slack", "--rotate-after", "30", "--expires", "90d",
               input=VALUE + "\n")  # fmt: skip
    assert done.exit_code == 0, done.output
    assert "secret slack created" in done.output
    key = home / "secrets.key"
    assert stat.S_IMODE(key.stat().st_mode) == 0o600
    assert stat.S_IMODE((home / "secrets.json").stat().st_mode) == 0o600
    listing = cli("secret", "list")
    as_json = cli("secret", "list", "--json")
    assert listing.exit_code == 0 and as_json.exit_code == 0
    assert "slack" in listing.output and "30d" in listing.output and "ok" in listing.output
    [entry] = json.loads(as_json.output)
    assert entry["name"] == "slack" and entry["state"] == "ok"
    assert entry["rotate_after_days"] == 30 and entry["expires"] > entry["created"]
    assert "token" not in entry and "value" not in entry
    assert_nowhere(VALUE, listing.output, as_json.output, home=home)
    # the trailing newline was dropped: a hook reads exactly the value
    from sloth_tui.secret_vault import Vault

    assert Vault(home / "secrets.json", key).get("slack") == VALUE
    events = events_of(home, "secret.*")
    assert [(e["type"], e["data"]["secret_name"]) for e in events] == [("secret.created", "slack")]
    assert events[0]["data"]["namespace"] == "default" and events[0]["data"]["created_by"]


def test_help_explains_each_command_and_option(cli: Invoke) -> None:
    for cmd, words in (
        ([], ["secrets.key", "0600", "Fernet"]),
        (["set"], ["stdin", "--expires", "--rotate-after", "at least 8"]),
        (["rotate"], ["rotation", "--expires"]),
        (["list"], ["--json", "Never values"]),
        (["delete"], ["nil, err"]),
    ):
        result = cli("secret", *cmd, "--help")
        assert result.exit_code == 0
        text = " ".join(result.output.split())
        for word in words:
            assert word in text, (cmd, word)


def test_there_is_no_argv_path_for_a_value(cli: Invoke, home: Path) -> None:
    for cmd in (["secret", "set", "slack", VALUE], ["secret", "rotate", "slack", VALUE]):
        result = cli(*cmd, input="other-value-123\n")
        assert result.exit_code == 2
        assert "never taken from the command line" in result.output
        assert VALUE not in result.output  # not even echoed back in the error
    for option in ("--value", "--secret", "-v"):
        assert cli("secret", "set", "slack", option, VALUE).exit_code == 2
    assert not (home / "secrets.json").exists()


def test_update_rotate_delete_and_their_events(cli: Invoke, home: Path) -> None:
    assert cli("secret", "set", "db", input="first-value-1").exit_code == 0
    assert cli("secret", "set", "db", input="second-value-2").exit_code == 0
    rotated = cli("secret", "rotate", "db", input="third-value-3\n")
    assert rotated.exit_code == 0, rotated.output
    [entry] = json.loads(cli("secret", "list", "--json").output)
    assert entry["rotated"] is not None and entry["rotated"] >= entry["created"]
    assert cli("secret", "delete", "db").exit_code == 0
    assert json.loads(cli("secret", "list", "--json").output) == []
    types = [e["type"] for e in events_of(home, "secret.*")]
    assert types == ["secret.created", "secret.updated", "secret.updated", "secret.deleted"]
    listed = json.loads(cli("event", "list", "--category", "secret", "--json").output)
    for e in listed:  # the catalog's fields, so no warnings
        assert e["source"] == "cli" and e["status"] == "completed" and e["warnings"] == []
    assert_nowhere("first-value-1", home=home)
    assert_nowhere("third-value-3", home=home)


def test_bad_input_is_one_line(cli: Invoke, home: Path) -> None:
    assert "no secret named 'ghost'" in one_line_error(cli("secret", "delete", "ghost"))
    assert "no secret named" in one_line_error(cli("secret", "rotate", "ghost", input="x" * 20))
    assert "bad secret name" in one_line_error(cli("secret", "set", "a b", input="x" * 20))
    assert "at least 8" in one_line_error(cli("secret", "set", "short", input="1234"))
    assert "no value" in one_line_error(cli("secret", "set", "empty", input=""))
    assert "not UTF-8" in one_line_error(cli("secret", "set", "bin", input=b"\xff" * 20))
    assert "in the past" in one_line_error(
        cli("secret", "set", "old", "--expires", "2001-01-01", input="x" * 20)
    )
    assert "not a date" in one_line_error(
        cli("secret", "set", "old", "--expires", "soon", input="x" * 20)
    )


def test_a_tampered_or_exposed_key_file_is_refused_in_one_line(cli: Invoke, home: Path) -> None:
    assert cli("secret", "set", "slack", input=VALUE).exit_code == 0
    key = home / "secrets.key"
    good = key.read_bytes()

    key.chmod(0o644)  # world-readable
    line = one_line_error(cli("secret", "set", "other", input="other-value-1"))
    assert str(key) in line and "readable by others" in line
    key.chmod(0o600)

    key.write_bytes(good[:20])  # truncated
    line = one_line_error(cli("secret", "rotate", "slack", input="new-value-123"))
    assert str(key) in line and "tampered" in line

    key.write_bytes(Fernet.generate_key())  # another key: would mix two keys
    line = one_line_error(cli("secret", "set", "other", input="other-value-1"))
    assert "the key file does not match the vault" in line

    key.unlink()  # a missing key beside stored values is never replaced by a new one
    line = one_line_error(cli("secret", "set", "other", input="other-value-1"))
    assert "key file missing" in line and not key.exists()
    # names and dates need no key
    assert [e["name"] for e in json.loads(cli("secret", "list", "--json").output)] == ["slack"]


def test_an_empty_key_file_is_replaced_only_while_no_secret_needs_it(
    cli: Invoke, home: Path
) -> None:
    """An empty key is what a key whose making failed (a full disk) left before keys were
    written whole: with nothing stored it is replaced; beside stored values, refused."""
    key = home / "secrets.key"
    home.mkdir(parents=True, exist_ok=True)
    key.touch(mode=0o600)
    assert cli("secret", "set", "slack", input=VALUE).exit_code == 0
    assert len(key.read_bytes().strip()) == 44  # a Fernet key

    key.write_bytes(b"")
    line = one_line_error(cli("secret", "set", "other", input="other-value-1"))
    assert str(key) in line and "tampered" in line
    assert [e["name"] for e in json.loads(cli("secret", "list", "--json").output)] == ["slack"]


@pytest.fixture
def http_sink() -> Iterator[tuple[str, list[bytes]]]:
    """A loopback server that keeps each request's path and body."""
    got: list[bytes] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            got.append(self.path.encode() + b" " + body)
            self.send_response(200)
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"ok")

        def log_message(self, format: str, *args: Any) -> None:
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}", got
    httpd.shutdown()
    httpd.server_close()


HOOK = """
function on_event()
  local v, err = secret.get("slack")
  if not v then error(err) end
  log.info("posting with " .. v)
  local r, e = http.post("{url}/send", {{text = "alert", token = v}})
  if not r then error(e) end
  return {{sent = v}}
end
"""


def test_a_hook_run_sends_the_value_and_stores_none_of_it(
    cli: Invoke, home: Path, tmp_path: Path, http_sink: tuple[str, list[bytes]]
) -> None:
    url, got = http_sink
    assert cli("secret", "set", "slack", input=VALUE).exit_code == 0
    hook = tmp_path / "notify.lua"
    hook.write_text(HOOK.format(url=url))
    assert (
        cli("hook", "add", "notify", "--event", "deploy.failed", "--file", str(hook)).exit_code == 0
    )
    fired = cli("event", "dispatch", "deploy.failed", "service=api", "--json")
    assert fired.exit_code == 0, fired.output
    [run] = json.loads(fired.output)["executions"]
    assert run["status"] == "success", run
    assert run["logs"][0]["message"] == "posting with [secret:slack]"
    assert run["result"] == {"sent": "[secret:slack]"}
    assert run["calls"][1]["body"] == {"text": "alert", "token": "[secret:slack]"}
    [request] = got
    assert json.dumps(VALUE)[1:-1].encode() in request or VALUE.encode() in request  # sent
    logs = cli("hook", "logs", "notify", "--json")
    accessed = [e for e in events_of(home, "secret.accessed")]
    assert [(e["data"]["secret_name"], e["data"]["accessed_by"]) for e in accessed] == [
        ("slack", "notify")
    ]
    assert accessed[0]["source"] == "hook:notify" and accessed[0]["data"]["access_time"]
    assert_nowhere(VALUE, fired.output, logs.output, home=home)


def test_a_test_fire_reads_the_value_and_its_record_stays_redacted(
    cli: Invoke, home: Path, tmp_path: Path
) -> None:
    assert cli("secret", "set", "slack", input=VALUE).exit_code == 0
    hook = tmp_path / "check.lua"
    hook.write_text(
        'function on_event()\n  local v = secret.get("slack")\n'
        f'  log.info("ok=" .. tostring(#v == {len(VALUE.encode())}) .. " " .. v)\n'
        "  return v\nend\n"
    )
    assert cli("hook", "add", "check", "--event", "custom", "--file", str(hook)).exit_code == 0
    tested = cli("hook", "test", "check", "--json")
    assert tested.exit_code == 0, tested.output
    assert "ok=true [secret:slack]" in tested.output
    assert '"[secret:slack]"' in tested.output
    assert events_of(home, "secret.accessed") == []  # a dry run dispatches nothing
    assert_nowhere(VALUE, tested.output, cli("hook", "logs", "check", "--json").output, home=home)


def test_expired_and_deleted_secrets_read_as_nil_err(
    cli: Invoke, home: Path, tmp_path: Path
) -> None:
    from sloth_tui.secret_vault import Vault

    assert cli("secret", "set", "old", input=VALUE).exit_code == 0
    Vault(home / "secrets.json", home / "secrets.key").set_expiry("old", 1.0)
    hook = tmp_path / "read.lua"
    hook.write_text(
        'function on_event()\n  local v, e = secret.get("old")\n  local w, f = secret.get("gone")\n'
        "  return {e = e, f = f, got = v ~= nil or w ~= nil}\nend\n"
    )
    assert cli("hook", "add", "read", "--event", "custom", "--file", str(hook)).exit_code == 0
    fired = cli("event", "dispatch", "custom", "name=x", "message=y", "--json")
    [run] = json.loads(fired.output)["executions"]
    assert run["result"]["got"] is False
    assert run["result"]["e"].startswith("secret.get: expired: secret 'old' expired at 1970")
    assert run["result"]["f"] == "secret.get: no secret named 'gone'"
    assert events_of(home, "secret.accessed") == []


def test_through_a_running_daemon(cli: Invoke, home: Path, tmp_path: Path) -> None:
    """With `serve` up the CLI cannot open the store itself: the events reach the daemon,
    and the daemon's hooks read the value the CLI stored."""
    hook = tmp_path / "watch.lua"
    hook.write_text(
        "function on_event()\n  local v = secret.get(event.data.secret_name)\n"
        '  log.info("read " .. v)\n  return true\nend\n'
    )
    assert (
        cli("hook", "add", "watch", "--event", "secret.created", "--file", str(hook)).exit_code == 0
    )
    daemon = DaemonProcess(home).start("--no-monitor", "--no-watchers")
    try:
        done = cli("secret", "set", "slack", input=VALUE)
        assert done.exit_code == 0, done.output
        wait_for(lambda: events_of(home, "secret.accessed"), what="secret.accessed")
        [accessed] = events_of(home, "secret.accessed")
        assert accessed["data"]["accessed_by"] == "watch"
        logs = cli("hook", "logs", "watch", "--json")
        assert "read [secret:slack]" in logs.output
    finally:
        daemon.kill()
    assert_nowhere(VALUE, logs.output, daemon.output(), home=home)


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    name=st.text(max_size=80),
    value=st.binary(max_size=200)
    | st.text(max_size=200).map(lambda t: t.encode("utf-8", "replace")),
)
def test_hostile_names_and_values_never_traceback(cli: Invoke, name: str, value: bytes) -> None:
    result = cli("secret", "set", name, input=value)
    assert result.exit_code in (0, 1, 2), result.output
    assert "Traceback" not in result.output
    if result.exit_code:
        assert len(result.output.strip().splitlines()) == 1, result.output
    listing = cli("secret", "list", "--json")
    assert listing.exit_code == 0
    if result.exit_code == 0 and len(value) >= 16:
        assert value not in listing.output.encode()
