"""`http.get/post/put/delete`: one blocking request (http_client.py) per call.

A dry run sends nothing: it records the request and answers 200 with an empty
body and `dry_run = true`. A real run first has the host durably note that it
calls out (`http_started`, when the host has one): http is the one effect a
crash cannot take back, so a run whose note cannot be stored sends nothing.
Bounded by the run's deadline (the request's own timeout is capped by it), the
response body cap, and the host memory budget (request and response bodies).
"""

from __future__ import annotations

import json
import time
from typing import Any

from sloth_tui.lua import http_client
from sloth_tui.lua.context import RunContext
from sloth_tui.lua.convert import clip, loads, to_lua
from sloth_tui.lua.limits import RECORD_TEXT_MAX
from sloth_tui.lua.modules.base import HostCall, HostModule, lua_file

_DRY_RESPONSE = {"status": 200, "body": "", "headers": {}, "ok": True, "dry_run": True}

# (response table, None, None) | (None, error, limit-or-None)
Answer = tuple[Any, str | None, str | None]


def _record_of(
    ctx: RunContext, fn: str, method: str, url: str, kind: str | None, payload: str | None
) -> dict[str, Any]:
    body: Any = None
    if payload is not None:
        body = loads(payload) if kind == "json" and len(payload) <= RECORD_TEXT_MAX else payload
        if isinstance(body, str):
            body = clip(body, RECORD_TEXT_MAX)
    return {
        "fn": fn, "url": url, "method": method, "body": body, "status": None,
        "error": None, "duration_ms": 0.0, "dry_run": ctx.dry_run,
    }  # fmt: skip


def dry_request(
    ctx: RunContext,
    method: str,
    url: str,
    kind: str | None,
    payload: str | None,
    headers_json: str | None,
    timeout: float | None,
) -> Answer:
    fn = f"http.{method.lower()}"
    if refused := ctx.charge(len(payload or ""), fn, None):
        return refused  # type: ignore[no-any-return]
    call = _record_of(ctx, fn, method, url, kind, payload)
    call["status"] = 200
    ctx.record(call)
    return to_lua(ctx.lua, _DRY_RESPONSE), None, None


def request(
    ctx: RunContext,
    method: str,
    url: str,
    kind: str | None,
    payload: str | None,
    headers_json: str | None,
    timeout: float | None,
) -> Answer:
    started = getattr(ctx.host, "http_started", None)
    if started is not None:
        try:
            started()
        except Exception as exc:
            return None, f"http.{str(method).lower()} {url}: not sent: {exc}", None
    fn = f"http.{method.lower()}"
    if refused := ctx.charge(len(payload or ""), fn, None):
        return refused  # type: ignore[no-any-return]
    call = _record_of(ctx, fn, method, url, kind, payload)
    start = time.monotonic()
    remaining = ctx.deadline - start
    if remaining <= 0:
        call["error"] = "deadline reached before the request"
        ctx.record(call)
        return None, f"{fn} {url}: deadline reached", "timeout"
    wait = remaining if timeout is None or timeout <= 0 else min(timeout, remaining)
    try:
        headers = _headers(headers_json, kind)
        data = payload.encode("utf-8") if payload is not None else None
        resp = http_client.request(
            method, url, data, headers, timeout=wait, deadline=ctx.deadline,
            cap=ctx.limits.http_body_cap,
        )  # fmt: skip
    except http_client.HttpFailure as exc:
        call["error"] = str(exc)
        call["duration_ms"] = (time.monotonic() - start) * 1000
        ctx.record(call)
        limit = "timeout" if time.monotonic() >= ctx.deadline else None
        return None, f"{fn} {url}: {exc}", limit
    call["status"] = resp.status
    call["truncated"] = resp.truncated
    call["duration_ms"] = (time.monotonic() - start) * 1000
    ctx.record(call)
    if refused := ctx.charge(len(resp.body), fn, None):
        return refused  # type: ignore[no-any-return]
    table = {
        "status": resp.status, "body": resp.body, "headers": resp.headers,
        "json": resp.json, "truncated": resp.truncated, "ok": 200 <= resp.status < 300,
    }  # fmt: skip
    try:
        return to_lua(ctx.lua, table), None, None
    except Exception as exc:  # e.g. the decoded JSON does not fit the memory cap
        return None, f"{fn} {url}: response too large for the hook: {exc}", None


def _headers(headers_json: str | None, kind: str | None) -> dict[str, str]:
    headers: dict[str, str] = {}
    if headers_json:
        raw = loads(headers_json)
        if isinstance(raw, dict):
            headers = {str(k): v if isinstance(v, str) else json.dumps(v) for k, v in raw.items()}
    if kind and not any(k.lower() == "content-type" for k in headers):
        ctype = "application/json" if kind == "json" else "text/plain; charset=utf-8"
        headers["Content-Type"] = ctype
    return headers


HTTP = HostModule(
    name="http",
    calls={
        "request": HostCall(
            request, dry_run=dry_request, failure=lambda message: (None, f"http: {message}", None)
        )
    },
    limits=("timeout", "http_body_cap", "host_memory"),
    lua=lua_file(__name__, "http.lua"),
    doc="http.get/post/put/delete; a dry run records the request and answers 200",
)
