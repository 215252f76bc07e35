"""Hostile payloads: never a crash, always a JSON answer with the right status (issue 18).

The mapping only looks keys up and copies values, so payload text is data: markup,
control characters, `${...}`, Lua or SQL in a payload come out as the same text."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import aiohttp
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from webhookkit import ALERTMANAGER, CONFIG, PUSH, signature, webhook_server, write_config

from sloth_tui.http.webhook_config import parse_webhooks
from sloth_tui.http.webhook_mapping import Mapped, MappingError, resolve

HOOKS = {
    hook.name: hook
    for hook in parse_webhooks(
        [
            {"name": "alerts", "preset": "alertmanager"},
            {"name": "github", "preset": "github"},
            {
                "name": "plain",
                "event": "custom",
                "data": {"name": "payload.a.0.b", "message": {"path": "payload.m", "default": ""}},
            },
        ],
        "config.toml",
        config_dir=Path("/nonexistent"),
        listener_host="127.0.0.1",
    )
}

_json = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.dictionaries(
            st.sampled_from(["alerts", "labels", "alertname", "a", "b", "0", "m", "action"])
            | st.text(max_size=6),
            inner,
            max_size=4,
        )
    ),
    max_leaves=20,
)
_headers = st.dictionaries(
    st.sampled_from(["x-github-event", "x-github-delivery", "x"]),
    st.sampled_from(["push", "ping", "workflow_run", "deployment_status"]) | st.text(max_size=8),
    max_size=3,
)


@settings(max_examples=400, deadline=None)
@given(payload=_json, headers=_headers, name=st.sampled_from(sorted(HOOKS)))
def test_any_json_maps_or_is_a_mapping_error(
    payload: Any, headers: dict[str, str], name: str
) -> None:
    try:
        mapped = resolve(HOOKS[name].mapping, payload, headers, max_items=1000)
    except MappingError as exc:
        assert "\n" not in str(exc)
    else:
        assert isinstance(mapped, Mapped)
        for _type, data in mapped.events:
            json.dumps(data)  # what the engine stores: plain JSON values


def test_payload_text_is_copied_as_data_never_evaluated() -> None:
    hostile = "[bold red]x[/] ${HOME} $(rm -rf /) os.exit(1) '; DROP TABLE events; --\x1b[2J\u202e"
    alert = {"status": "firing", "labels": {"alertname": hostile}, "annotations": {}}
    mapped = resolve(HOOKS["alerts"].mapping, {"alerts": [alert]}, {}, max_items=10)
    ((_type, data),) = mapped.events
    assert data["name"] == hostile and data["payload"] is alert


def test_too_many_items_is_a_mapping_error() -> None:
    alerts = [{"status": "firing", "labels": {"alertname": "a"}}] * 11
    try:
        resolve(HOOKS["alerts"].mapping, {"alerts": alerts}, {}, max_items=10)
    except MappingError as exc:
        assert str(exc) == "payload.alerts has 11 elements; at most 10 per request"
    else:
        raise AssertionError("11 items were taken with max_items=10")


async def post(url: str, body: bytes, headers: dict[str, str]) -> tuple[int, Any]:
    async with (
        aiohttp.ClientSession() as session,
        session.post(url, data=body, headers=headers) as r,
    ):
        return r.status, await r.json()


_bodies = st.one_of(
    st.binary(max_size=300),
    _json.map(lambda v: json.dumps(v).encode()),
    st.sampled_from(
        [
            b"[" * 100_000,  # deeper than the parser recurses
            b'{"alerts": "x"}',
            b'{"alerts": [1, 2, 3]}',
            b'{"n": 1e999999}',
            b'{"n": ' + b"9" * 5000 + b"}",  # over Python's int digit limit
            b'{"s": "\\ud800"}',
            b"\xff\xfe\x00",
            json.dumps(ALERTMANAGER).encode(),
        ]
    ),
)


@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(body=_bodies, name=st.sampled_from(["alerts", "github", "nope"]))
async def test_hostile_bodies_get_a_json_answer_never_a_crash(
    engine: Any, home: Path, body: bytes, name: str
) -> None:
    settings_ = write_config(home, CONFIG)
    headers = {"Content-Type": "application/json", "X-GitHub-Event": "push"}
    headers["X-Hub-Signature-256"] = signature(body)
    async with webhook_server(engine, settings_) as (base, _ctx):
        status, reply = await post(f"{base}/webhooks/{name}", body, headers)
    assert status in {200, 400, 404, 413, 422}, (status, reply)
    assert reply["ok"] is (status == 200)


async def test_deeply_nested_values_are_stored_or_refused_never_a_500(
    engine: Any, home: Path
) -> None:
    deep: Any = "bottom"
    for _ in range(900):
        deep = {"d": deep}
    body = json.dumps({**PUSH, "deep": deep}).encode()
    headers = {"X-GitHub-Event": "push", "X-Hub-Signature-256": signature(body)}
    async with webhook_server(engine, write_config(home, CONFIG)) as (base, _ctx):
        status, reply = await post(f"{base}/webhooks/github", body, headers)
    assert status in {200, 400, 422}, (status, reply)
