"""POST /events, /healthz, /readyz and the guards, over the real listener (http/server.py)
on a free loopback port, a real engine and store, and a real aiohttp client."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
from httpkit import served_listener
from sourcekit import db_rows

from sloth_tui.config import Settings
from sloth_tui.engine.engine import Engine
from sloth_tui.http.events import MAX_ITEMS
from sloth_tui.model.stats import SourceHealth

TOKEN = "a-token-of-sixteen-or-more"
AUTH = {"Authorization": f"Bearer {TOKEN}"}


async def call(
    method: str, url: str, *, headers: dict[str, str] | None = None, **kw: Any
) -> tuple[int, dict[str, Any]]:
    async with (
        aiohttp.ClientSession() as session,
        session.request(method, url, headers=headers, **kw) as reply,
    ):
        assert reply.content_type == "application/json", await reply.text()
        return reply.status, await reply.json()


@pytest.fixture
async def listening(engine: Engine) -> AsyncIterator[tuple[str, Any, Any]]:
    async with served_listener(engine) as served:
        yield served


async def test_one_event_is_stored_before_the_reply(
    listening: tuple[str, Any, Any], settings: Settings
) -> None:
    base, ctx, listener = listening
    status, reply = await call(
        "POST", f"{base}/events", json={"type": "custom", "data": {"name": "x", "message": "y"}}
    )
    assert status == 200 and reply["ok"] is True
    # Read from the file by another connection: committed when the reply came.
    rows = db_rows(settings.home, "SELECT type, source FROM events WHERE id = ?", (reply["id"],))
    assert rows == [("custom", "http")]
    assert listener.counters.requests == 1 and ctx.refusals.total() == 0


async def test_an_array_answers_each_in_order_and_a_refusal_drops_no_other(
    listening: tuple[str, Any, Any], settings: Settings
) -> None:
    base, ctx, _ = listening
    events = [
        {"type": "custom", "data": {"name": "a"}},
        {"type": "Not A Type", "data": {}},
        {"type": "custom", "data": {"name": "c"}, "source": "http:alertmanager", "ref": 7},
    ]
    status, reply = await call("POST", f"{base}/events", json=events)
    assert status == 200 and reply["ok"] is True
    first, second, third = reply["results"]
    assert first["ok"] and third["ok"] and third["id"] > first["id"]
    assert second == {"ok": False, "error": second["error"], "error_type": "refused"}
    assert "Not A Type" in second["error"]
    rows = db_rows(settings.home, "SELECT json_extract(data, '$.name'), source FROM events")
    assert rows == [("a", "http"), ("c", "http:alertmanager")]
    assert ctx.refusals.total() == 0  # the request was taken; one item was not


async def test_a_malformed_item_stores_nothing(
    listening: tuple[str, Any, Any], settings: Settings
) -> None:
    base, ctx, _ = listening
    cases: list[tuple[Any, str]] = [
        ([{"type": "custom"}, {"data": {}}], 'item 1: an event line needs a "type"'),
        ([{"type": "custom"}, 5], "item 1: an event must be a JSON object, not int"),
        ({"type": "custom", "op": "ping"}, "unknown field 'op'"),
        ({"type": "custom", "strict": "yes"}, "strict"),
        ({"type": "custom", "source": "system"}, "source must be 'http'"),
        ({"type": "custom", "source": "http:"}, "source must be 'http'"),
        ("custom", "must be a JSON object, not str"),
        ([], "no events"),
    ]
    for body, words in cases:
        status, reply = await call("POST", f"{base}/events", json=body)
        assert status == 400, body
        assert reply["ok"] is False and words in reply["error"], (body, reply)
        assert "\n" not in reply["error"]
    assert db_rows(settings.home, "SELECT count(*) FROM events") == [(0,)]
    assert ctx.refusals.snapshot() == {("/events", "bad_event"): len(cases)}


async def test_a_single_refused_event_is_422_with_the_engines_words(
    listening: tuple[str, Any, Any],
) -> None:
    base, ctx, _ = listening
    status, reply = await call("POST", f"{base}/events", json={"type": "BAD", "data": {}})
    assert status == 422
    assert reply["error_type"] == "refused" and "BAD" in reply["error"]
    assert ctx.refusals.snapshot() == {("/events", "refused"): 1}


async def test_body_refusals(listening: tuple[str, Any, Any]) -> None:
    base, ctx, _ = listening
    url = f"{base}/events"
    json_ct = {"Content-Type": "application/json"}
    checks: list[tuple[dict[str, Any], int, str]] = [
        ({"data": b"{nope"}, 400, "the body is not JSON"),
        ({"data": b'{"type": "custom", "data": NaN}'}, 400, "NaN is not a JSON number"),
        ({"data": b"\xff\xfe{}"}, 400, "not valid UTF-8 (byte 0)"),
        ({"data": b"[" * 100_000 + b"]" * 100_000}, 400, "nests too deeply"),
    ]
    for kw, want, words in checks:
        status, reply = await call("POST", url, headers=json_ct, **kw)
        assert (status, words in reply["error"]) == (want, True), (kw, reply)
    status, reply = await call("POST", url, data=b"{}", headers={"Content-Type": "text/plain"})
    assert status == 415 and "application/json" in reply["error"]
    many = [{"type": "custom", "data": {}}] * (MAX_ITEMS + 1)
    status, reply = await call("POST", url, json=many)
    assert status == 413 and f"the limit is {MAX_ITEMS}" in reply["error"]
    assert ctx.refusals.snapshot() == {
        ("/events", "bad_json"): 3,
        ("/events", "bad_encoding"): 1,
        ("/events", "bad_content_type"): 1,
        ("/events", "too_many"): 1,
    }


async def test_body_over_the_limit_declared_or_chunked(engine: Engine) -> None:
    async with served_listener(engine, max_body_bytes=4096) as (base, ctx, _):
        url = f"{base}/events"
        big = json.dumps({"type": "custom", "data": {"x": "h" * 10_000}}).encode()
        status, reply = await call(
            "POST", url, data=big, headers={"Content-Type": "application/json"}
        )
        assert status == 413 and "4096 bytes" in reply["error"]

        async def chunks() -> AsyncIterator[bytes]:  # no Content-Length: chunked encoding
            for i in range(0, len(big), 1000):
                yield big[i : i + 1000]

        status, reply = await call(
            "POST", url, data=chunks(), headers={"Content-Type": "application/json"}
        )
        assert status == 413 and reply["error_type"] == "too_large"
        assert ctx.refusals.snapshot() == {("/events", "too_large"): 2}


async def test_routes_and_methods_are_json_errors(listening: tuple[str, Any, Any]) -> None:
    base, ctx, _ = listening
    status, reply = await call("GET", f"{base}/no/such/\x1b[2J")
    assert status == 404 and reply["error_type"] == "not_found"
    status, reply = await call("GET", f"{base}/events")
    assert status == 405 and "allowed: POST" in reply["error"]
    assert ctx.refusals.snapshot() == {("*", "not_found"): 1, ("/events", "bad_method"): 1}


async def test_the_token(engine: Engine) -> None:
    async with served_listener(engine, token=TOKEN) as (base, ctx, _):
        event = {"type": "custom", "data": {"name": "t"}}
        status, reply = await call("POST", f"{base}/events", json=event)
        assert status == 401 and reply["error_type"] == "unauthorized"
        status, _r = await call(
            "POST", f"{base}/events", json=event, headers={"Authorization": "Bearer wrong"}
        )
        assert status == 401
        status, _r = await call(
            "POST", f"{base}/events", json=event, headers={"Authorization": TOKEN}
        )
        assert status == 401  # no scheme
        status, reply = await call("POST", f"{base}/events", json=event, headers=AUTH)
        assert status == 200 and reply["ok"]
        # Probes need none; an unknown path needs it too (no map of routes for strangers).
        assert (await call("GET", f"{base}/healthz"))[0] == 200
        assert (await call("GET", f"{base}/readyz"))[0] == 200
        assert (await call("GET", f"{base}/secret"))[0] == 401
        assert (await call("GET", f"{base}/secret", headers=AUTH))[0] == 404
        # A path spelled to look like an open route is judged on the route it matched.
        assert (await call("POST", f"{base}/webhooks/../events", json=event))[0] == 401
        assert ctx.refusals.snapshot() == {
            ("/events", "no_token"): 2,
            ("/events", "bad_token"): 2,
            ("*", "no_token"): 1,
            ("*", "not_found"): 1,
        }


async def test_the_engine_stopping_is_503(settings: Settings) -> None:
    engine = await Engine.open(settings)
    async with served_listener(engine) as (base, ctx, _):
        await engine.close()
        status, reply = await call("POST", f"{base}/events", json={"type": "custom", "data": {}})
        assert status == 503 and "not accepting events" in reply["error"]
        assert ctx.refusals.snapshot() == {("/events", "unavailable"): 1}


class FakeHealth:
    """Stands in only for source_health(): what the wiring would report."""

    def __init__(self, engine: Engine, lines: list[SourceHealth]) -> None:
        self.engine = engine
        self.lines = lines

    def __getattr__(self, name: str) -> Any:
        return getattr(self.engine, name)

    async def source_health(self) -> list[SourceHealth]:
        return self.lines


async def test_readyz_follows_the_required_sources(engine: Engine) -> None:
    lines = [SourceHealth("socket", "socket", "stopped"), SourceHealth("demo", "demo", "failed")]
    api = FakeHealth(engine, lines)
    async with served_listener(api, required=frozenset({"socket", "monitor"})) as (base, _c, lis):
        status, reply = await call("GET", f"{base}/readyz")
        assert status == 503 and "socket is stopped" in reply["error"]
        lines[0] = SourceHealth("socket", "socket", "failed", "cannot bind: in use")
        status, reply = await call("GET", f"{base}/readyz")
        assert status == 503 and "socket failed: cannot bind: in use" in reply["error"]
        lines[0] = SourceHealth("socket", "socket", "running")  # demo is not required
        assert await call("GET", f"{base}/readyz") == (200, {"ok": True, "ready": True})
        lis.stopping()
        status, reply = await call("GET", f"{base}/readyz")
        assert status == 503 and reply["error"] == "not ready: stopping"
        assert await call("GET", f"{base}/healthz") == (200, {"ok": True})
