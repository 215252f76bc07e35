"""POST /webhooks/NAME on a real loopback server over a real engine (issue 18).

Each request goes through a real aiohttp client; the events are read back from the
engine's store, so "200 with ids" is checked to mean "durable"."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import aiohttp
from webhookkit import (
    ALERTMANAGER,
    CONFIG,
    PING,
    PUSH,
    TOKEN,
    WORKFLOW_RUN,
    signature,
    webhook_server,
    write_config,
)

ROUTE = "/webhooks/{name}"


async def post(
    base: str, name: str, body: bytes | Any, headers: dict[str, str] | None = None
) -> tuple[int, dict[str, Any]]:
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    async with (
        aiohttp.ClientSession() as session,
        session.post(
            f"{base}/webhooks/{name}",
            data=raw,
            headers={"Content-Type": "application/json", **(headers or {})},
        ) as resp,
    ):
        return resp.status, await resp.json()


def github(event: str, body: bytes) -> dict[str, str]:
    return {
        "X-GitHub-Event": event,
        "X-GitHub-Delivery": "72d3162e-cc78-11e3-81ab-4c9367dc0958",
        "X-Hub-Signature-256": signature(body),
    }


async def test_alertmanager_group_makes_one_event_per_alert(engine: Any, home: Path) -> None:
    async with webhook_server(engine, write_config(home, CONFIG)) as (base, ctx):
        status, reply = await post(base, "alerts", ALERTMANAGER)
    assert status == 200, reply
    assert reply["ok"] is True and len(reply["ids"]) == 2
    firing, resolved = [await engine.get_event(i) for i in reply["ids"]]
    assert firing.type == "custom" and firing.source == "webhook:alerts"
    assert firing.data["name"] == "DiskFull"
    assert firing.data["message"] == "Disk /var on db1 is 97% full"
    assert firing.data["status"] == "firing" and firing.data["severity"] == "critical"
    assert firing.data["payload"]["fingerprint"] == "1a30ba71cca2921f"
    assert firing.warnings == []  # a custom event as the catalog describes it
    # No summary: the description; no severity label: the default.
    assert resolved.data["message"] == "Load is back to normal"
    assert resolved.data["status"] == "resolved" and resolved.data["severity"] == ""
    assert ctx.refusals.total() == 0


async def test_github_workflow_run_push_and_ping_with_a_real_signature(
    engine: Any, home: Path
) -> None:
    before = len(await engine.query_events(limit=1000))
    async with webhook_server(engine, write_config(home, CONFIG)) as (base, _ctx):
        body = json.dumps(WORKFLOW_RUN).encode()
        status, reply = await post(base, "github", body, github("workflow_run", body))
        assert status == 200, reply
        run = await engine.get_event(reply["ids"][0])
        assert run.type == "workflow.completed" and run.source == "webhook:github"
        assert run.data["workflow_name"] == "CI" and run.data["workflow_id"] == 30433642
        assert run.data["repository"] == "acme/app"

        failed = json.loads(body)
        failed["workflow_run"]["conclusion"] = "failure"
        body = json.dumps(failed).encode()
        status, reply = await post(base, "github", body, github("workflow_run", body))
        assert status == 200, reply
        event = await engine.get_event(reply["ids"][0])
        assert event.type == "workflow.failed" and event.data["error"] == "failure"

        body = json.dumps(PUSH).encode()
        status, reply = await post(base, "github", body, github("push", body))
        assert status == 200, reply
        push = await engine.get_event(reply["ids"][0])
        assert push.type == "custom" and push.data["name"] == "push"
        assert push.data["message"] == "Fix the build"
        assert push.data["payload"]["ref"] == "refs/heads/main"

        body = json.dumps(PING).encode()
        status, reply = await post(base, "github", body, github("ping", body))
        assert (status, reply) == (200, {"ok": True, "ids": [], "ignored": 1})
    assert len(await engine.query_events(limit=1000)) == before + 3  # the ping made none


async def test_signature_missing_or_wrong_is_refused_and_counted(engine: Any, home: Path) -> None:
    async with webhook_server(engine, write_config(home, CONFIG)) as (base, ctx):
        body = json.dumps(PUSH).encode()
        status, reply = await post(base, "github", body, {"X-GitHub-Event": "push"})
        assert status == 401 and reply["ok"] is False
        assert reply["error_type"] == "unauthorized" and "X-Hub-Signature-256" in reply["error"]
        wrong = {**github("push", body), "X-Hub-Signature-256": signature(body, "another-secret")}
        status, reply = await post(base, "github", body, wrong)
        assert status == 403 and reply["error_type"] == "unauthorized"
        # Signed for another body: the signature covers the raw bytes.
        status, _ = await post(base, "github", body + b" ", github("push", body))
        assert status == 403
        assert ctx.refusals.snapshot() == {(ROUTE, "unsigned"): 1, (ROUTE, "bad_signature"): 2}
    assert await engine.query_events(limit=10) == []


async def test_token_webhook_takes_bearer_or_header_and_refuses_the_rest(
    engine: Any, home: Path
) -> None:
    payload = {"id": "d-1", "app": {"name": "payments"}}
    async with webhook_server(engine, write_config(home, CONFIG)) as (base, ctx):
        status, reply = await post(base, "ci", payload)
        assert status == 401 and reply["error_type"] == "unauthorized"
        status, reply = await post(base, "ci", payload, {"Authorization": "Bearer wrong-token"})
        assert status == 403
        status, reply = await post(base, "ci", payload, {"Authorization": f"Bearer {TOKEN}"})
        assert status == 200, reply
        status, reply2 = await post(base, "ci", payload, {"X-Sloth-Token": TOKEN})
        assert status == 200, reply2
        assert ctx.refusals.snapshot() == {(ROUTE, "no_token"): 1, (ROUTE, "bad_token"): 1}
    event = await engine.get_event(reply["ids"][0])
    assert event.type == "deploy.started" and event.source == "webhook:ci"
    assert event.data == {
        "deploy_id": "d-1",
        "service": "payments",
        "version": "unknown",
        "environment": "prod",
    }


async def test_unknown_webhook_bad_json_and_unmappable_payload(engine: Any, home: Path) -> None:
    auth = {"X-Sloth-Token": TOKEN}
    async with webhook_server(engine, write_config(home, CONFIG)) as (base, ctx):
        status, reply = await post(base, "nope", {"a": 1})
        assert status == 404 and reply == {
            "ok": False,
            "error": "no webhook named 'nope'",
            "error_type": "not_found",
        }
        status, reply = await post(base, "ci", b"{not json", auth)
        assert status == 400 and reply["ok"] is False
        status, reply = await post(base, "ci", b'{"id": NaN}', auth)
        assert status == 400
        status, reply = await post(base, "ci", {"id": "d-2"}, auth)
        assert status == 422
        assert reply["error"] == "webhook ci: the payload has no payload.app.name"
        status, reply = await post(base, "alerts", {"alerts": "none"})
        assert status == 422 and "payload.alerts" in reply["error"]
        status, reply = await post(base, "alerts", {"alerts": [{"status": "firing"}]})
        assert status == 422
        assert reply["error"] == (
            "webhook alerts: the payload has no item.labels.alertname (element 0 of payload.alerts)"
        )
        assert ctx.refusals.snapshot() == {
            (ROUTE, "unknown_webhook"): 1,
            (ROUTE, "bad_json"): 2,
            (ROUTE, "unmapped"): 3,
        }
    assert await engine.query_events(limit=10) == []


async def test_a_body_over_the_limit_is_refused(engine: Any, home: Path) -> None:
    async with webhook_server(engine, write_config(home, CONFIG), max_body_bytes=1024) as (
        base,
        ctx,
    ):
        big = {"alerts": [], "pad": "x" * 4096}
        status, reply = await post(base, "alerts", big)
    assert status == 413 and reply["ok"] is False
    assert ctx.refusals.total() == 1  # counted once (here, or by the listener's limit)


async def test_an_event_the_engine_refuses_is_a_422_with_its_reason(
    engine: Any, home: Path
) -> None:
    """A lone surrogate (valid JSON, not storable text) reaches the engine's door."""
    auth = {"X-Sloth-Token": TOKEN}
    async with webhook_server(engine, write_config(home, CONFIG)) as (base, ctx):
        body = b'{"id": "d-3", "app": {"name": "pay\\ud800"}}'
        status, reply = await post(base, "ci", body, auth)
    assert status == 422 and reply["error_type"] == "refused", reply
    assert reply["error"].startswith("webhook ci: ")
    assert ctx.refusals.snapshot() == {(ROUTE, "refused"): 1}
    assert await engine.query_events(limit=10) == []


async def test_a_group_with_one_refused_alert_keeps_the_others(engine: Any, home: Path) -> None:
    """Alertmanager retries a whole group on a non-2xx: the good alerts are kept (200) and
    the refused one is named in the reply, so a retry cannot store the good ones twice."""
    good = json.dumps(ALERTMANAGER["alerts"][0])
    bad = good.replace("DiskFull", "Disk\\ud800Full")
    body = ('{"alerts": [' + bad + ", " + good + "]}").encode()
    async with webhook_server(engine, write_config(home, CONFIG)) as (base, ctx):
        status, reply = await post(base, "alerts", body)
    assert status == 200 and len(reply["ids"]) == 1, reply
    assert [p["index"] for p in reply["refused"]] == [0]
    assert ctx.refusals.snapshot() == {(ROUTE, "refused"): 1}
    assert (await engine.get_event(reply["ids"][0])).data["name"] == "DiskFull"
