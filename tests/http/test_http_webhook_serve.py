"""Webhooks end to end through a real `serve --http 127.0.0.1:PORT` subprocess (issue 18).

A signed GitHub delivery and an Alertmanager group go in over HTTP; the events come out
over the daemon's Unix socket, and a hook ran on them. A bad [[webhooks]] entry stops
`serve` at start with one line."""

from __future__ import annotations

import json
import socket
import subprocess
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

from sourcekit import SLOTH, DaemonProcess, ask, daemons, db_rows, events_of, wait_for
from webhookkit import ALERTMANAGER, CONFIG, WORKFLOW_RUN, signature, write_config

__all__ = ["daemons"]  # a fixture, used by name


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def post(url: str, body: bytes, headers: dict[str, str]) -> tuple[int, dict[str, Any]]:
    request = urllib.request.Request(url, data=body, headers=headers, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=10) as resp:
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


def listening(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.5)
        return sock.connect_ex(("127.0.0.1", port)) == 0


def test_webhooks_through_a_real_serve(
    daemons: Callable[[Path | None], DaemonProcess], tmp_path: Path
) -> None:
    home = tmp_path / "home"
    home.mkdir()
    write_config(home, CONFIG)
    hook = home / "on-workflow.lua"
    hook.write_text(
        "function on_event(event)\n  log.info('workflow ' .. event.data.workflow_name)\nend\n"
    )
    add = subprocess.run(
        [*SLOTH, "hook", "add", "on-workflow", "--event", "workflow.*", "--file", str(hook)],
        env={"SLOTH_TUI_HOME": str(home), "PATH": "/usr/bin:/bin"},
        capture_output=True,
        timeout=60,
    )
    assert add.returncode == 0, add.stderr
    port = free_port()
    daemon = daemons(home).start("--http", f"127.0.0.1:{port}")
    wait_for(lambda: listening(port), timeout=20, what="the HTTP listener")
    base = f"http://127.0.0.1:{port}/webhooks"

    body = json.dumps(WORKFLOW_RUN).encode()
    headers = {
        "Content-Type": "application/json",
        "X-GitHub-Event": "workflow_run",
        "X-Hub-Signature-256": signature(body),
    }
    status, reply = post(f"{base}/github", body, headers)
    assert status == 200, (reply, daemon.output())
    (event_id,) = reply["ids"]
    (got,) = ask(daemon.socket, {"op": "get_event", "id": event_id})
    assert got["ok"] is True, got
    assert json.dumps(got).count("workflow.completed") >= 1

    status, reply = post(f"{base}/github", body, {**headers, "X-Hub-Signature-256": "sha256=00"})
    assert status == 403 and reply["error_type"] == "unauthorized"

    status, reply = post(
        f"{base}/alerts", json.dumps(ALERTMANAGER).encode(), {"Content-Type": "application/json"}
    )
    assert status == 200 and len(reply["ids"]) == 2, reply
    names = [e["data"]["name"] for e in events_of(home, "custom")]
    assert names == ["DiskFull", "HighLoad"]
    # The hook ran on the webhook's event, and saw its data.
    runs = wait_for(
        lambda: db_rows(
            home, "SELECT status, logs FROM executions WHERE event_id = ?", (event_id,)
        ),
        timeout=20,
        what="the hook's run on the webhook's event",
    )
    assert runs[0][0] == "success" and "workflow CI" in runs[0][1], runs


def test_a_bad_webhook_entry_stops_serve_with_one_line(tmp_path: Path) -> None:
    home = tmp_path / "home"
    home.mkdir()
    write_config(home, '[[webhooks]]\nname = "x"\nevent = "custom"\ndata.a = "body.a"\n')
    proc = subprocess.run(  # the timeout: the hang guard (a serve that starts never ends)
        [*SLOTH, "serve", "--home", str(home), "--http", f"127.0.0.1:{free_port()}"],
        capture_output=True,
        text=True,
        timeout=60,
        stdin=subprocess.DEVNULL,
    )
    assert proc.returncode != 0, proc.stdout
    lines = [line for line in proc.stderr.splitlines() if "webhooks" in line]
    assert lines, proc.stderr
    assert f"{home / 'config.toml'} [[webhooks]] entry 1 (x): data.a: path 'body.a'" in lines[0]
    assert "Traceback" not in proc.stderr
