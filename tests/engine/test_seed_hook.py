"""The seed's "Hook Script Example" on the real engine: logs, a real http.post, a rollback chain."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from sloth_tui.engine.engine import Engine

SEED_HOOK = Path(__file__).parents[1] / "lua" / "data" / "seed_deploy_failed.lua"
SLACK = "https://hooks.slack.com/services/YOUR/WEBHOOK/URL"


@pytest.fixture
def webhook() -> Iterator[tuple[str, list[dict]]]:
    received: list[dict] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"]))
            received.append(
                {"path": self.path, "type": self.headers["Content-Type"], "json": json.loads(body)}
            )
            self.send_response(200)
            self.end_headers()
            self.wfile.write(b"ok")

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}/services/hook", received
    server.shutdown()
    server.server_close()


async def test_seed_example_end_to_end(engine: Engine, tmp_path: Path, webhook) -> None:
    url, received = webhook
    code = SEED_HOOK.read_text()
    assert SLACK in code  # the copy is the seed's script, untouched but for the URL below
    hook_file = tmp_path / "alert_on_deploy_failure.lua"
    hook_file.write_text(code.replace(SLACK, url))
    await engine.add_hook(
        "deploy-alert",
        ["deploy.failed"],
        hook_file,
        description="Alert ops team on deployment failures",
    )
    data = {
        "deploy_id": "deploy-12345",
        "service": "api-server",
        "error": "health check timed out",
        "rollback_needed": True,
    }
    failed, (execution,) = await engine.dispatch_and_run("deploy.failed", data, source="cli")
    await engine.wait_idle()

    assert execution.status == "success", execution.error
    assert [line.message for line in execution.logs] == [
        "Deployment failed: api-server (deploy-12345)",
        "Error: health check timed out",
    ]
    assert all(line.level == "error" for line in execution.logs)
    (post,) = [c for c in execution.calls if c["fn"] == "http.post"]
    assert post["status"] == 200 and "api-server" in json.dumps(post["body"])
    assert len(received) == 1 and received[0]["type"].startswith("application/json")
    assert "Deployment Failed" in received[0]["json"]["text"]
    assert "deploy-12345" in received[0]["json"]["text"]

    (rollback,) = await engine.child_events(failed.id)
    assert rollback.type == "deploy.rollback"
    assert rollback.parent_id == failed.id and rollback.depth == 1
    assert rollback.source == "hook:deploy-alert"
    assert rollback.data == {
        "deploy_id": "deploy-12345",
        "service": "api-server",
        "reason": "automated_rollback_on_failure",
    }


async def test_seed_example_unchanged_dry_run_touches_no_network(engine: Engine) -> None:
    await engine.add_hook("deploy-alert", ["deploy.failed"], SEED_HOOK)
    execution = await engine.test_hook("deploy-alert", "deploy.failed", {"rollback_needed": True})
    assert execution.status == "success" and execution.dry_run
    (post,) = [c for c in execution.calls if c["fn"] == "http.post"]
    assert post["url"] == SLACK and post["dry_run"] is True
    dispatched = [c for c in execution.calls if c["fn"] == "event.dispatch"]
    assert dispatched[0]["type"] == "deploy.rollback"
    assert await engine.count_events() == 0  # nothing was dispatched
