"""Shared by the webhook tests: a config.toml with [[webhooks]], sample payloads as their
senders shape them, GitHub's signature, and the listener app over a real engine."""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from httpkit import served

from sloth_tui.config import Settings, load_settings
from sloth_tui.http.app import build_app
from sloth_tui.http.context import HttpContext
from sloth_tui.http.replies import Refusals
from sloth_tui.http.settings import HttpSettings

SECRET = "s3cret-webhook-key-0123456789"
TOKEN = "tok-0123456789abcdef-webhooks"


def write_config(home: Path, text: str) -> Settings:
    """config.toml in `home` (the test's SLOTH home), loaded as serve would load it."""
    (home / "webhook-secret").write_text(SECRET + "\n")
    (home / "webhook-token").write_text(TOKEN + "\n")
    (home / "config.toml").write_text(text)
    return load_settings(home)


@asynccontextmanager
async def webhook_server(
    engine: Any, settings: Settings, **http: Any
) -> AsyncIterator[tuple[str, HttpContext]]:
    """The whole listener app, configured by `settings`, over the real engine."""
    ctx = HttpContext(
        engine=engine, settings=settings, http=HttpSettings(**http), refusals=Refusals()
    )
    async with served(build_app(ctx)) as base:
        yield base, ctx


def signature(body: bytes, secret: str = SECRET) -> str:
    """X-Hub-Signature-256 as GitHub computes it."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


# Alertmanager's webhook payload, version 4 (prometheus.io/docs/alerting/latest/configuration
# /#webhook_config): a group of two alerts, one firing and one resolved.
ALERTMANAGER = {
    "version": "4",
    "groupKey": '{}:{alertname="DiskFull"}',
    "truncatedAlerts": 0,
    "status": "firing",
    "receiver": "sloth",
    "groupLabels": {"alertname": "DiskFull"},
    "commonLabels": {"alertname": "DiskFull"},
    "commonAnnotations": {},
    "externalURL": "http://alertmanager.example:9093",
    "alerts": [
        {
            "status": "firing",
            "labels": {"alertname": "DiskFull", "severity": "critical", "instance": "db1:9100"},
            "annotations": {"summary": "Disk /var on db1 is 97% full"},
            "startsAt": "2026-12-02T08:00:00Z",
            "endsAt": "0001-01-01T00:00:00Z",
            "generatorURL": "http://prometheus.example:9090/graph",
            "fingerprint": "1a30ba71cca2921f",
        },
        {
            "status": "resolved",
            "labels": {"alertname": "HighLoad", "instance": "web1:9100"},
            "annotations": {"description": "Load is back to normal"},
            "startsAt": "2026-12-02T07:00:00Z",
            "endsAt": "2026-12-02T07:30:00Z",
            "generatorURL": "http://prometheus.example:9090/graph",
            "fingerprint": "bc97ff14869b13e3",
        },
    ],
}

REPO = {"id": 1, "name": "app", "full_name": "acme/app"}
SENDER = {"login": "octocat", "id": 2}

# GitHub's workflow_run event (docs.github.com webhook-events-and-payloads#workflow_run).
WORKFLOW_RUN = {
    "action": "completed",
    "workflow_run": {
        "id": 30433642,
        "name": "CI",
        "head_branch": "main",
        "head_sha": "acb5820ced9479c074f688cc328bf03f341a511d",
        "run_number": 562,
        "event": "push",
        "status": "completed",
        "conclusion": "success",
        "workflow_id": 159038,
        "html_url": "https://github.com/acme/app/actions/runs/30433642",
        "run_started_at": "2026-12-02T08:00:00Z",
        "updated_at": "2026-12-02T08:05:00Z",
    },
    "repository": REPO,
    "sender": SENDER,
}

PUSH = {
    "ref": "refs/heads/main",
    "before": "6113728f27ae82c7b1a177c8d03f9e96e0adf246",
    "after": "0000000000000000000000000000000000000001",
    "head_commit": {"id": "0000000000000000000000000000000000000001", "message": "Fix the build"},
    "commits": [{"id": "0000000000000000000000000000000000000001"}],
    "pusher": {"name": "octocat"},
    "repository": REPO,
    "sender": SENDER,
}

PING = {"zen": "Design for failure.", "hook_id": 42, "hook": {"type": "Repository"}}

CONFIG = """
[[webhooks]]
name = "alerts"
preset = "alertmanager"

[[webhooks]]
name = "github"
preset = "github"
secret_file = "webhook-secret"

[[webhooks]]
name = "ci"
event = "deploy.started"
token_file = "webhook-token"
data.deploy_id = "payload.id"
data.service = "payload.app.name"
data.version = { path = "payload.version", default = "unknown" }
data.environment = { value = "prod" }
"""
