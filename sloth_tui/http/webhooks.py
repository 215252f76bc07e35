"""POST /webhooks/NAME: a named [[webhooks]] entry turns a JSON payload into events.

The order of the checks: the name (404), the token (401 missing, 403 wrong) before the
body is read, the body (413 over the limit), the signature over the raw body (401/403),
JSON (400), the mapping (422, naming the path), then engine.dispatch_batch: the reply
comes once the events are durable, 200 {"ok": true, "ids": [...]}. The listener's token
middleware skips /webhooks/*: each webhook carries its own auth, checked here.

Every refusal is counted under the route template "/webhooks/{name}" (never the raw
name, so strangers cannot grow the metrics) and a fixed reason word.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

from sloth_tui.config import Settings
from sloth_tui.http.context import HttpContext
from sloth_tui.http.replies import refuse
from sloth_tui.http.settings import HttpSettings
from sloth_tui.http.webhook_config import WebhookSettings, parse_webhooks
from sloth_tui.http.webhook_mapping import MappingError, resolve
from sloth_tui.model.errors import EventRefused, SlothError

log = logging.getLogger(__name__)

ROUTE = "/webhooks/{name}"
MAX_ITEMS = 1000  # events one request may make (`each` over a long array)
SIGNATURE_HEADER = "X-Hub-Signature-256"
TOKEN_HEADER = "X-Sloth-Token"

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def configured(settings: Settings, http: HttpSettings) -> tuple[WebhookSettings, ...]:
    """The [[webhooks]] of config.toml for a listener at `http`; ConfigError on a bad one."""
    return parse_webhooks(
        settings.table("webhooks"),
        str(settings.config_file),
        config_dir=settings.config_dir,
        listener_host=http.host,
    )


def produced_types(hooks: tuple[WebhookSettings, ...]) -> tuple[str, ...]:
    """The event types these webhooks can record (`event producers`), sorted."""
    return tuple(
        sorted({case.event for hook in hooks for case in hook.mapping.cases if case.event})
    )


def install(app: web.Application, ctx: HttpContext) -> None:
    """Parse [[webhooks]] (ConfigError on a bad entry, before anything listens) and add
    the route."""
    hooks = configured(ctx.settings, ctx.http)
    app.router.add_post(ROUTE, handler_for(ctx, {hook.name: hook for hook in hooks}))


def handler_for(ctx: HttpContext, hooks: dict[str, WebhookSettings]) -> Handler:
    def no(reason: str, status: int, message: str, error_type: str = "bad_request") -> web.Response:
        return refuse(ctx.refusals, ROUTE, reason, status, message, error_type)

    async def handle(request: web.Request) -> web.StreamResponse:
        name = request.match_info["name"]
        hook = hooks.get(name)
        if hook is None:
            shown = name if len(name) <= 64 else name[:64] + "..."
            return no("unknown_webhook", 404, f"no webhook named {shown!r}", "not_found")
        if hook.token is not None:
            refused = _check_token(request, hook.token, no)
            if refused is not None:
                return refused
        try:
            body = await request.read()
        except web.HTTPRequestEntityTooLarge:
            limit = ctx.http.max_body_bytes
            return no("too_large", 413, f"the body is over the limit of {limit} bytes", "too_large")
        if hook.secret is not None:
            refused = _check_signature(request, body, hook.secret, no)
            if refused is not None:
                return refused
        try:
            payload = json.loads(body, parse_constant=_no_constant)
        except (ValueError, RecursionError):
            return no("bad_json", 400, "the body is not JSON (send Content-Type: application/json)")
        headers = {key.lower(): value for key, value in request.headers.items()}
        try:
            mapped = resolve(hook.mapping, payload, headers, max_items=MAX_ITEMS)
        except MappingError as exc:
            return no("unmapped", 422, f"webhook {hook.name}: {exc}")
        if not mapped.events:
            return web.json_response({"ok": True, "ids": [], "ignored": mapped.ignored})
        lines: list[Any] = [(type_, data, hook.source, None) for type_, data in mapped.events]
        try:
            results = await ctx.engine.dispatch_batch(lines)
        except SlothError as exc:
            log.warning("webhook %s: %s", hook.name, exc)
            return no("unavailable", 503, f"the engine did not take the events: {exc}", "error")
        ids = [r.id for r in results if not isinstance(r, EventRefused)]
        problems = [
            {"index": i, "error": str(r)}
            for i, r in enumerate(results)
            if isinstance(r, EventRefused)
        ]
        if problems and not ids:
            return no("refused", 422, f"webhook {hook.name}: {problems[0]['error']}", "refused")
        if problems:
            ctx.refusals.count(ROUTE, "refused")
            return web.json_response({"ok": True, "ids": ids, "refused": problems})
        reply: dict[str, Any] = {"ok": True, "ids": ids}
        if mapped.ignored:
            reply["ignored"] = mapped.ignored
        return web.json_response(reply)

    return handle


def _no_constant(text: str) -> Any:
    raise ValueError(f"{text} is not JSON")


def _same(given: str, expected: str) -> bool:
    """Constant-time comparison of header text (which may hold any character)."""
    return hmac.compare_digest(given.encode("utf-8", "surrogatepass"), expected.encode("utf-8"))


def _check_token(
    request: web.Request, token: str, no: Callable[..., web.Response]
) -> web.Response | None:
    given = request.headers.get(TOKEN_HEADER)
    if given is None:
        scheme, _, rest = request.headers.get("Authorization", "").partition(" ")
        given = rest.strip() if scheme.lower() == "bearer" and rest.strip() else None
    if given is None:
        return no(
            "no_token",
            401,
            f"this webhook needs a token: Authorization: Bearer TOKEN or {TOKEN_HEADER}",
            "unauthorized",
        )
    if not _same(given, token):
        return no("bad_token", 403, "wrong token", "unauthorized")
    return None


def _check_signature(
    request: web.Request, body: bytes, secret: str, no: Callable[..., web.Response]
) -> web.Response | None:
    given = request.headers.get(SIGNATURE_HEADER)
    if given is None:
        return no(
            "unsigned",
            401,
            f"this webhook needs a signature: {SIGNATURE_HEADER}: sha256=HMAC_HEX of the body",
            "unauthorized",
        )
    expected = "sha256=" + hmac.new(secret.encode("utf-8"), body, hashlib.sha256).hexdigest()
    if not _same(given.strip().lower(), expected):
        return no("bad_signature", 403, f"wrong {SIGNATURE_HEADER} signature", "unauthorized")
    return None
