"""Acceptance: the seed's "Hook Script Example" runs unchanged on deploy.failed."""

from __future__ import annotations

from pathlib import Path

import pytest

from sloth_tui.model.records import Hook

SEED_HOOK = Path(__file__).parent / "data" / "seed_deploy_failed.lua"
SEED_DOC = Path("/work/shared/seed/event-reference.md")
SLACK = "https://hooks.slack.com/services/YOUR/WEBHOOK/URL"


def seed_hook(path: Path = SEED_HOOK) -> Hook:
    return Hook(name="deploy-alert", events=["deploy.failed"], file=str(path))


@pytest.mark.skipif(not SEED_DOC.exists(), reason="seed document not available")
def test_copy_is_the_seed_script_unchanged():
    doc = SEED_DOC.read_text(encoding="utf-8")
    assert SEED_HOOK.read_text(encoding="utf-8") in doc


def test_seed_hook_unchanged_dry_run(runtime, deploy_event, host):
    exe = runtime.run(seed_hook(), deploy_event, dry_run=True)
    assert exe.status == "success", exe.error
    assert exe.result is True
    assert [(line.level, line.message) for line in exe.logs] == [
        ("error", "Deployment failed: api-server (deploy-12345)"),
        ("error", "Error: health check failed"),
    ]
    post, rollback = exe.calls
    assert post["fn"] == "http.post" and post["url"] == SLACK and post["dry_run"] is True
    text = post["body"]["text"]
    assert "Deployment Failed\\nService: api-server\\nDeploy ID: deploy-12345" in text
    assert text.endswith("Error: health check failed")
    assert rollback["fn"] == "event.dispatch"
    assert rollback["type"] == "deploy.rollback"
    assert rollback["data"] == {
        "deploy_id": "deploy-12345",
        "service": "api-server",
        "reason": "automated_rollback_on_failure",
    }
    assert host.events == []  # dry run: nothing dispatched


def test_seed_hook_without_rollback(runtime, deploy_event, host):
    deploy_event.data["rollback_needed"] = False
    exe = runtime.run(seed_hook(), deploy_event, dry_run=True)
    assert exe.status == "success"
    assert [c["fn"] for c in exe.calls] == ["http.post"]


def test_seed_hook_against_a_local_server(runtime, deploy_event, host, http_server, tmp_path):
    local = tmp_path / "deploy_alert.lua"
    local.write_text(
        SEED_HOOK.read_text(encoding="utf-8").replace(SLACK, f"{http_server.url}/slack")
    )
    exe = runtime.run(seed_hook(local), deploy_event)
    assert exe.status == "success", exe.error
    assert len(exe.logs) == 2
    (req,) = http_server.received
    assert req.method == "POST" and req.path == "/slack"
    assert req.headers["Content-Type"] == "application/json"
    assert "Service: api-server" in req.json()["text"]
    assert exe.calls[0]["status"] == 200
    (rollback,) = host.events
    assert rollback.type == "deploy.rollback"
    assert rollback.parent_id == deploy_event.id
    assert rollback.depth == 1
    assert rollback.source == "hook:deploy-alert"
    assert rollback.data["reason"] == "automated_rollback_on_failure"
    assert exe.calls[1]["id"] == rollback.id
