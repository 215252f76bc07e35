"""POST /events: one event, or an array of events, as the socket's plain event lines.

    {"type": "deploy.finished", "data": {"service": "api"}}
    [{"type": "custom", "data": {"name": "a"}}, {"type": "custom", "data": {"name": "b"}}]

Each item has the fields and rules of a socket event line (remote.ops.event_line: type,
data, strict, stack, agent, run_id; `ref` is taken and ignored, as replies come in
order); `source` is "http" unless given as "http" or "http:NAME". Every item's shape is
checked before anything is stored, so a malformed item refuses the whole request (400)
and stores nothing. The accepted ones then go to the engine in one dispatch_batch, and
the reply comes once they are committed: an item the engine refuses (a bad type name,
strict data) does not drop the others.

Replies: one event -> 200 {"ok": true, "id": N} (or 422 with the engine's refusal); an
array -> 200 {"ok": true, "results": [{"ok": true, "id": N} | {"ok": false, "error",
"error_type"}, ...]} in order. 400 bad JSON/UTF-8/shape, 413 over the body limit or
over MAX_ITEMS items, 415 not application/json, 503 the engine not taking events.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

from aiohttp import web

from sloth_tui.engine.api import EventLine, full_line
from sloth_tui.http.context import HttpContext
from sloth_tui.http.replies import refuse
from sloth_tui.model.errors import EventRefused, SlothError
from sloth_tui.model.records import Event
from sloth_tui.remote.ops import event_line
from sloth_tui.remote.protocol import ProtocolError, error_type_of

ROUTE = "/events"
MAX_ITEMS = 1000  # events in one request: a bigger batch is a 413 (send several)
SOURCE = "http"
SOURCE_NAME_MAX = 64

# Dispatches handed to the engine and not yet answered: a stop waits for them, so what
# a client was told (or was about to be told) is durable before the engine closes.
INFLIGHT = web.AppKey("sloth_events_inflight", set[asyncio.Future[list[Event | EventRefused]]])


class BadRequest(Exception):
    """A request refused before anything is stored: (reason word, one-line message)."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason
        self.message = message


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


def parse_body(body: bytes) -> Any:
    """The body as JSON; BadRequest with a one-line reason otherwise."""
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise BadRequest(
            "bad_encoding", f"the body is not valid UTF-8 (byte {exc.start})"
        ) from None
    try:
        return json.loads(text, parse_constant=_no_constant)
    except RecursionError:
        raise BadRequest("bad_json", "the body nests too deeply") from None
    except ValueError as exc:
        raise BadRequest("bad_json", f"the body is not JSON: {exc}") from None


def http_line(item: Any) -> EventLine:
    """One item as an engine event line; ProtocolError with the socket's words."""
    if not isinstance(item, dict):
        raise ProtocolError(f"an event must be a JSON object, not {type(item).__name__}")
    source = item.get("source", SOURCE)
    if not isinstance(source, str) or not (
        source == SOURCE
        or (
            source.startswith(SOURCE + ":")
            and 0 < len(source) - len(SOURCE) - 1 <= SOURCE_NAME_MAX
            and source.isprintable()
        )
    ):
        raise ProtocolError(
            f"source must be {SOURCE!r} or '{SOURCE}:NAME' (at most {SOURCE_NAME_MAX} "
            "printable characters)"
        )
    rest = {k: v for k, v in item.items() if k != "source"}
    type_, data, _socket, strict, stack, agent, run_id = full_line(event_line(rest))
    return type_, data, source, strict, stack, agent, run_id


def items_of(value: Any) -> tuple[list[EventLine], bool]:
    """(event lines, whether one event was sent rather than an array)."""
    single = not isinstance(value, list)
    items = [value] if single else value
    if not single:
        if not items:
            raise BadRequest("bad_event", "the array holds no events")
        if len(items) > MAX_ITEMS:
            raise BadRequest(
                "too_many", f"{len(items)} events in one request; the limit is {MAX_ITEMS}"
            )
    lines = []
    for i, item in enumerate(items):
        try:
            lines.append(http_line(item))
        except ProtocolError as exc:
            raise BadRequest("bad_event", str(exc) if single else f"item {i}: {exc}") from None
    return lines, single


def _result(result: Event | EventRefused) -> dict[str, Any]:
    if isinstance(result, Event):
        reply: dict[str, Any] = {"ok": True, "id": result.id}
        if result.warnings:
            reply["warnings"] = result.warnings
        return reply
    return {"ok": False, "error": str(result), "error_type": error_type_of(result)}


def install(app: web.Application, ctx: HttpContext) -> None:
    """POST /events, and a stop that waits for the dispatches under way."""
    inflight: set[asyncio.Future[list[Event | EventRefused]]] = set()
    app[INFLIGHT] = inflight

    async def post_events(request: web.Request) -> web.Response:
        if request.content_type != "application/json":
            return refuse(
                ctx.refusals,
                ROUTE,
                "bad_content_type",
                415,
                f"send Content-Type: application/json (not {request.content_type[:80]!r})",
                "unsupported_media_type",
            )
        body = await request.read()  # over client_max_size: 413 (the guard words it)
        try:
            lines, single = items_of(parse_body(body))
        except BadRequest as exc:
            status = 413 if exc.reason == "too_many" else 400
            return refuse(ctx.refusals, ROUTE, exc.reason, status, exc.message)
        task = asyncio.ensure_future(ctx.engine.dispatch_batch(lines))
        inflight.add(task)
        task.add_done_callback(_settled(inflight))
        try:
            # Shielded: a client gone or a timeout must not cut an engine call mid-write.
            results = await asyncio.shield(task)
        except SlothError as exc:  # the engine stopping, the disk full: nothing taken
            return refuse(ctx.refusals, ROUTE, "unavailable", 503, str(exc), error_type_of(exc))
        if single:
            reply = _result(results[0])
            if not reply["ok"]:
                return refuse(
                    ctx.refusals, ROUTE, "refused", 422, reply["error"], reply["error_type"]
                )
            return web.json_response(reply)
        return web.json_response({"ok": True, "results": [_result(r) for r in results]})

    async def drain(app: web.Application) -> None:
        if inflight:
            await asyncio.wait(set(inflight))

    app.router.add_post(ROUTE, post_events)
    app.on_cleanup.append(drain)


def _settled(
    inflight: set[asyncio.Future[list[Event | EventRefused]]],
) -> Any:
    def done(task: asyncio.Future[list[Event | EventRefused]]) -> None:
        inflight.discard(task)
        if not task.cancelled():
            task.exception()  # retrieved: a client that left is no reason for a warning

    return done
