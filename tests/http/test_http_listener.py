"""`serve --http`: a real daemon process, events in over HTTP and read back over its socket."""

from __future__ import annotations

import json
import re
import shutil
import signal
import socket
import subprocess
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import sourcekit
from httpkit import free_port
from sourcekit import DaemonProcess, ask, run_cli, wait_for, write_config

daemons = sourcekit.daemons  # a fixture (tests/sources/sourcekit.py)

Daemons = Callable[..., DaemonProcess]

HOOK = """
function on_event()
  local ok, err = event.dispatch("deploy.verified", {service = event.data.service})
  assert(ok, err)
end
"""


def http(
    method: str, url: str, body: Any = None, headers: dict[str, str] | None = None
) -> tuple[int, dict[str, Any]]:
    """A real HTTP client (urllib); the status and the JSON reply, errors included."""
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, method=method, headers=headers or {})
    if data is not None:
        request.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(request, timeout=20) as reply:
            return reply.status, json.loads(reply.read())
    except urllib.error.HTTPError as err:
        return err.code, json.loads(err.read())


def http_line(d: DaemonProcess) -> dict[str, Any]:
    (reply,) = ask(d.socket, {"op": "source_health"})
    return next(s for s in reply["sources"] if s["kind"] == "http")


def test_events_over_http_are_read_back_over_the_socket(daemons: Daemons, tmp_path: Path) -> None:
    port = free_port()
    d = daemons().start("--no-monitor", "--http", f"127.0.0.1:{port}")
    base = f"http://127.0.0.1:{port}"
    hook = tmp_path / "verify.lua"
    hook.write_text(HOOK)
    (added,) = ask(
        d.socket, {"op": "add_hook", "name": "verify", "events": ["deploy.finished"],
                   "file": str(hook)},
    )  # fmt: skip
    assert added["ok"], added
    assert http("GET", f"{base}/readyz") == (200, {"ok": True, "ready": True})

    status, reply = http("POST", f"{base}/events", {"type": "deploy.finished",
                                                    "data": {"service": "api"}})  # fmt: skip
    assert status == 200 and reply["ok"], reply
    event_id = reply["id"]
    status, reply = http(
        "POST", f"{base}/events", [{"type": "custom", "data": {"name": "n"}}, {"type": "x"}]
    )
    assert status == 200 and [r["ok"] for r in reply["results"]] == [True, False]

    (got,) = ask(d.socket, {"op": "get_event", "id": event_id})
    assert got["ok"] and got["event"]["source"] == "http"
    assert got["event"]["data"] == {"service": "api"}

    def ran() -> list[dict[str, Any]]:
        (runs,) = ask(d.socket, {"op": "executions_of", "event_id": event_id})
        return [r for r in runs["executions"] if r["status"] == "success"]

    wait_for(ran, what="the hook's run on the HTTP event")
    (children,) = ask(d.socket, {"op": "query_events", "filter": "type:deploy.verified"})
    assert [e["data"] for e in children["events"]] == [{"service": "api"}]

    line = http_line(d)
    assert line["state"] == "running"
    assert line["detail"] == f"{base} · 3 requests · 0 refused"
    assert line["events"] == 2 and line["errors"] == 1  # counted by the wiring
    assert d.signal(signal.SIGTERM) == 0


def test_a_taken_port_is_one_line_and_a_failed_start(daemons: Daemons, tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        home = tmp_path / "home"
        home.mkdir()
        run = run_cli("--home", str(home), "serve", "--no-monitor", "--http", f"127.0.0.1:{port}")
    assert run.returncode != 0
    last = run.stderr.strip().splitlines()[-1]
    assert last == f"error: cannot listen on http://127.0.0.1:{port}: Address already in use"
    assert "Traceback" not in run.stderr


def test_off_loopback_without_a_token_does_not_start(tmp_path: Path) -> None:
    home = tmp_path / "home"
    home.mkdir()
    write_config(home, '[http]\nlisten = "0.0.0.0:8080"\n')
    run = run_cli("--home", str(home), "serve", "--no-monitor")
    assert run.returncode == 1
    assert run.stderr.strip().splitlines()[-1] == (
        f"error: {home / 'config.toml'} [http]: listen = '0.0.0.0:8080': listening off loopback "
        f"needs a token: set token_file in {home / 'config.toml'} [http] (a file holding at "
        "least 16 characters)"
    )


def readme_curl() -> list[str]:
    """The curl commands of README's HTTP section, as written (continuations joined)."""
    text = (Path(__file__).resolve().parents[2] / "README.md").read_text(encoding="utf-8")
    section = text.split("<!-- section:http -->", 1)[1].split("<!-- section:", 1)[0]
    block = re.search(r"```sh\n(.*?)```", section, re.S)
    assert block is not None, "the HTTP section lost its curl example"
    joined = block.group(1).replace("\\\n", " ")
    return [line for line in joined.splitlines() if line.startswith("curl ")]


@pytest.mark.skipif(shutil.which("curl") is None, reason="needs curl")
def test_the_readme_curl_examples_work_as_written(daemons: Daemons, tmp_path: Path) -> None:
    port = free_port()
    d = daemons()
    (d.home / "http.token").write_text("readme-token-0123456789\n")
    write_config(d.home, f'[http]\nlisten = "127.0.0.1:{port}"\ntoken_file = "http.token"\n')
    d.start("--no-monitor")
    commands = readme_curl()
    assert len(commands) == 2
    outputs = []
    for command in commands:
        run = subprocess.run(
            ["bash", "-c", command.replace("127.0.0.1:8080", f"127.0.0.1:{port}")],
            cwd=d.home,  # where `cat http.token` finds it
            capture_output=True,
            text=True,
            timeout=30,
        )
        assert run.returncode == 0, run.stderr
        outputs.append(json.loads(run.stdout))
    one, many = outputs
    assert one == {"ok": True, "id": one["id"]}
    good, bad = many["results"]
    assert good == {"ok": True, "id": one["id"] + 1}  # as shown: no warnings either
    assert (bad["ok"], bad["error_type"]) == (False, "refused")
    assert bad["error"].startswith("invalid event type")
    assert d.signal(signal.SIGTERM) == 0
