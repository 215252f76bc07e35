"""Hostile bodies to POST /events, over the real listener: never a 500, always a JSON
reply with "ok", and the listener keeps answering /healthz after each."""

from __future__ import annotations

import json
import os
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
from hostile import hostile_text
from httpkit import served_listener
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sloth_tui.engine.engine import Engine

EXAMPLES = int(os.environ.get("SLOTH_HTTP_FUZZ_EXAMPLES", "150"))

FIELDS = ["type", "data", "source", "strict", "ref", "stack", "agent", "run_id", "op", "x"]
scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**70), 2**70),
    st.floats(allow_nan=False, allow_infinity=False),
    hostile_text(40),
    st.sampled_from(["custom", "deploy.finished", "http", "http:x", "BAD TYPE"]),
)
values = st.recursive(
    scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=3), st.dictionaries(hostile_text(8), inner, max_size=3)
    ),
    max_leaves=8,
)
event = st.dictionaries(st.sampled_from(FIELDS), values, max_size=5)


def _deep(n: int) -> bytes:
    return b'{"type":"custom","data":' + b"[" * n + b"]" * n + b"}"


bodies = st.one_of(
    st.binary(max_size=300),
    event.map(lambda e: json.dumps(e).encode("utf-8", "surrogatepass")),
    st.lists(event, max_size=4).map(lambda e: json.dumps(e).encode("utf-8", "surrogatepass")),
    st.sampled_from([10, 33, 500, 5000, 50_000]).map(_deep),
    st.sampled_from([200_000, 300_000]).map(
        lambda n: json.dumps({"type": "custom", "data": {"s": "h" * n}}).encode()
    ),
    st.sampled_from([b"NaN", b"[NaN]", b'"\\ud800"', b"\x00", b"{}" * 1000, b"null"]),
)
content_types = st.sampled_from(
    ["application/json", "application/json; charset=latin-1", "text/plain", ""]
)


@pytest.fixture
async def base(engine: Engine) -> AsyncIterator[str]:
    async with served_listener(engine, max_body_bytes=512 * 1024) as (url, _ctx, _l):
        yield url


@settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(body=bodies, content_type=content_types)
async def test_no_body_breaks_the_listener(base: str, body: bytes, content_type: str) -> None:
    headers = {"Content-Type": content_type} if content_type else {}
    async with aiohttp.ClientSession() as session:
        async with session.post(f"{base}/events", data=body, headers=headers) as reply:
            assert reply.status != 500 and reply.status < 600
            assert reply.content_type == "application/json"
            answer: dict[str, Any] = await reply.json()
            assert answer["ok"] is (reply.status == 200)
            if not answer["ok"]:
                assert "\n" not in answer["error"] and answer["error_type"]
        async with session.get(f"{base}/healthz") as alive:
            assert alive.status == 200
