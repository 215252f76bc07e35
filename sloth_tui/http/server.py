"""The listener: aiohttp's server with the guards a daemon facing strangers needs.

- The token (`Authorization: Bearer TOKEN`, compared in constant time) on every route but
  /healthz, /readyz (probes) and /webhooks/* (each webhook carries its own auth). The
  exemption is decided on the *matched route*, never the raw path, so no spelling of a
  path (`/webhooks/../events`) slips past it; a path matching no route needs the token
  too, so a stranger cannot map the routes.
- Time: the head of a request must arrive within `request_timeout` of the connection
  (else a JSON 408 and the connection is closed: a slowloris trickling headers), and
  each request must be read and answered within it (else 408 while the body is still
  coming, 503 when the engine was slow). Idle keep-alive connections close after it.
- Size: the body over `max_body_bytes` is a 413, declared (Content-Length) or not
  (chunked: aiohttp's client_max_size, set by build_app, stops reading there).
- Connections: at `max_connections` open ones, a new connection is answered a canned 503
  JSON at once and closed, without parsing anything (so it costs nothing to refuse).
- Errors: 404/405/413 and malformed requests are JSON errors; a bug is a JSON 500 and a
  log line, never a traceback to the client. Every refusal is counted in ctx.refusals by
  the route's template and a reason word.
"""

from __future__ import annotations

import asyncio
import hmac
import json
import logging
import os
from collections.abc import Callable
from typing import Any

from aiohttp import web
from aiohttp.typedefs import Handler, Middleware
from aiohttp.web_protocol import RequestHandler

from sloth_tui.http import health
from sloth_tui.http.app import build_app
from sloth_tui.http.context import HttpContext
from sloth_tui.http.replies import refuse
from sloth_tui.model.errors import SlothError
from sloth_tui.remote.listen_close import close_listeners

log = logging.getLogger("sloth_tui.http")

UNMATCHED = "*"  # the route word of a request matching no route, or of no request at all
OPEN_ROUTES = ("/healthz", "/readyz")  # probes: a load balancer sends no token
OPEN_PREFIX = "/webhooks/"  # webhooks check their own signature or token (webhooks.py)
LINGER = 2.0  # seconds a refused body is still read (so the client sees the reply) at most
STOP_WAIT = 3.0  # seconds a stop waits for requests under way before cutting them
OVERLOAD_LINGER = 1.0  # seconds a refused connection is kept for its request to drain
MAX_MESSAGE = 200  # characters of client-given text (a path, a parse error) in a reply


def route_of(request: web.BaseRequest) -> str:
    """The template of the route a request matched ("/webhooks/{name}"), or "*"."""
    match = getattr(request, "match_info", None)
    resource = match.route.resource if match is not None else None
    return resource.canonical if resource is not None else UNMATCHED


async def _template_of(request: web.Request) -> str:
    """The template of the route whose path matched, for a wrong method (aiohttp's 405
    names no resource): a refusal is counted under the route, not the raw path."""
    for resource in request.app.router.resources():
        found, allowed = await resource.resolve(request)
        if found is None and allowed:
            return resource.canonical
    return UNMATCHED


def _clip(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= MAX_MESSAGE else text[: MAX_MESSAGE - 1] + "…"


def canned(status: int, reason: str, message: str, error_type: str) -> bytes:
    """A whole HTTP/1.1 response as bytes, for a connection refused below aiohttp."""
    body = json.dumps({"ok": False, "error": message, "error_type": error_type}).encode()
    head = (
        f"HTTP/1.1 {status} {reason}\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n"
    )
    return head.encode() + body


class Counters:
    """What the listener saw: requests that reached the app (refusals are ctx.refusals)."""

    def __init__(self) -> None:
        self.requests = 0


def middlewares(ctx: HttpContext, counters: Counters) -> list[Middleware]:
    """The guard (errors, time, size) around the token check around the routes."""
    http = ctx.http

    @web.middleware
    async def guard(request: web.Request, handler: Handler) -> web.StreamResponse:
        counters.requests += 1
        route = route_of(request)
        declared = request.content_length
        if declared is not None and declared > http.max_body_bytes:
            return _too_large(ctx, route)
        try:
            async with asyncio.timeout(http.request_timeout):
                return await handler(request)
        except web.HTTPException as exc:
            if exc.status < 400:
                raise
            if isinstance(exc, web.HTTPMethodNotAllowed):
                route = await _template_of(request)
            return _http_error(ctx, request, route, exc)
        except TimeoutError:
            if request.content.is_eof():  # the request was read: the answer was slow
                return refuse(
                    ctx.refusals,
                    route,
                    "timeout",
                    503,
                    f"not answered within {http.request_timeout:g}s (the engine is busy); "
                    "events sent may still be stored",
                    "timeout",
                )
            return refuse(
                ctx.refusals,
                route,
                "slow_body",
                408,
                f"the request body did not arrive within {http.request_timeout:g}s",
                "too_slow",
            )
        except Exception:  # a bug costs this request a 500, never the listener
            log.exception("HTTP %s %s failed", request.method, route)
            return refuse(ctx.refusals, route, "internal", 500, "internal error", "error")

    @web.middleware
    async def token(request: web.Request, handler: Handler) -> web.StreamResponse:
        if http.token is None:
            return await handler(request)
        route = route_of(request)
        if route in OPEN_ROUTES or route.startswith(OPEN_PREFIX):
            return await handler(request)
        given = request.headers.get("Authorization", "")
        scheme, _, value = given.strip().partition(" ")
        ok = scheme.lower() == "bearer" and hmac.compare_digest(
            value.strip().encode("utf-8", "replace"), http.token.encode()
        )
        if ok:
            return await handler(request)
        reply = refuse(
            ctx.refusals,
            route,
            "no_token" if not given else "bad_token",
            401,
            "missing or wrong token: send the header Authorization: Bearer TOKEN",
            "unauthorized",
        )
        reply.headers["WWW-Authenticate"] = 'Bearer realm="sloth-tui"'
        return reply

    return [guard, token]


def _too_large(ctx: HttpContext, route: str) -> web.Response:
    reply = refuse(
        ctx.refusals,
        route,
        "too_large",
        413,
        f"the body is over the limit of {ctx.http.max_body_bytes} bytes",
        "too_large",
    )
    reply.force_close()  # the rest of that body is not worth reading on this connection
    return reply


def _http_error(
    ctx: HttpContext, request: web.Request, route: str, exc: web.HTTPException
) -> web.Response:
    """aiohttp's own refusals (no route, wrong method, body too large) as JSON."""
    if exc.status == 413:
        return _too_large(ctx, route)
    if exc.status == 404:
        message = f"no such route: {_clip(request.path)}"
        return refuse(ctx.refusals, route, "not_found", 404, message, "not_found")
    if isinstance(exc, web.HTTPMethodNotAllowed):
        allowed = ", ".join(sorted(exc.allowed_methods))
        reply = refuse(
            ctx.refusals,
            route,
            "bad_method",
            405,
            f"{_clip(request.method)} is not allowed here (allowed: {allowed})",
            "bad_method",
        )
        reply.headers["Allow"] = allowed
        return reply
    reason = (exc.reason or "refused").lower().replace(" ", "_")
    return refuse(ctx.refusals, route, reason, exc.status, _clip(exc.text or exc.reason))


class GuardedHandler(RequestHandler):
    """aiohttp's connection handler, plus a deadline for the first request's head (a
    client trickling its headers byte by byte) and JSON for requests aiohttp cannot
    parse. Later heads on a kept-alive connection are bounded by keepalive_timeout."""

    def __init__(
        self,
        manager: web.Server,
        *,
        head_timeout: float,
        on_refusal: Callable[[str], None],
        on_lost: Callable[[], None],
        **kwargs: Any,
    ) -> None:
        super().__init__(manager, **kwargs)
        self._head_timeout = head_timeout
        self._on_refusal = on_refusal
        self._on_lost: Callable[[], None] | None = on_lost
        self._head_timer: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        super().connection_made(transport)
        self._head_timer = self._loop.call_later(self._head_timeout, self._head_late)

    def data_received(self, data: bytes) -> None:
        super().data_received(data)
        if self._head_timer is not None and self._request_count:  # a whole head came
            self._head_timer.cancel()
            self._head_timer = None

    def connection_lost(self, exc: BaseException | None) -> None:
        if self._head_timer is not None:
            self._head_timer.cancel()
            self._head_timer = None
        if self._on_lost is not None:
            self._on_lost()
            self._on_lost = None
        super().connection_lost(exc)

    def _head_late(self) -> None:
        self._head_timer = None
        transport = self.transport
        if self._request_count or transport is None:
            return
        self._on_refusal("slow_head")
        timeout = f"{self._head_timeout:g}"
        transport.write(canned(408, "Request Timeout", f"no request within {timeout}s", "too_slow"))
        # Half-close and drop what still drips in, for a moment: closing with unread
        # bytes would reset the connection, and a reset can discard the 408 unread.
        if isinstance(transport, asyncio.Transport) and transport.can_write_eof():
            transport.write_eof()
        self.close()  # from now on data_received ignores what comes
        self._loop.call_later(OVERLOAD_LINGER, self.force_close)

    def handle_error(
        self,
        request: web.BaseRequest,
        status: int = 500,
        exc: BaseException | None = None,
        message: str | None = None,
    ) -> web.StreamResponse:
        """A request aiohttp could not parse (or a failure past the middlewares): JSON,
        one line, no traceback; logged at debug only, as strangers' garbage is routine."""
        log.debug("HTTP error %s from %s: %s", status, request.remote, exc or message)
        if request.writer.output_size > 0:  # as aiohttp: the reply is already under way
            raise ConnectionError("response already started")
        self._on_refusal("malformed" if status < 500 else "internal")
        text = "internal error" if status >= 500 else _clip(message or "malformed request")
        reply = web.json_response(
            {"ok": False, "error": text, "error_type": "bad_request" if status < 500 else "error"},
            status=status,
        )
        reply.force_close()
        return reply


class Overloaded(asyncio.Protocol):
    """A connection past max_connections: a 503 at once, then closed. Its request is read
    and dropped (not parsed) for a moment so the close does not reset the reply away."""

    def __init__(self, reply: bytes) -> None:
        self.reply = reply
        self._timer: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        transport.write(self.reply)
        if transport.can_write_eof():
            transport.write_eof()
        self._timer = asyncio.get_running_loop().call_later(OVERLOAD_LINGER, transport.close)

    def data_received(self, data: bytes) -> None:
        pass

    def eof_received(self) -> bool:
        return False  # the client is done: the transport closes

    def connection_lost(self, exc: Exception | None) -> None:
        if self._timer is not None:
            self._timer.cancel()


class GuardedSite(web.BaseSite):
    """A TCP site whose connections are made by `factory` (TCPSite always uses aiohttp's
    own handler, which knows no connection limit)."""

    def __init__(
        self,
        runner: web.BaseRunner,
        host: str,
        port: int,
        factory: Callable[[], asyncio.Protocol],
        backlog: int,
    ) -> None:
        super().__init__(runner, backlog=backlog)
        self._host = host
        self._port = port
        self._factory = factory
        self.bound_port = port

    @property
    def name(self) -> str:
        return f"http://{self._host}:{self.bound_port}"

    @property
    def listening(self) -> asyncio.Server | None:
        """The listener start() made (aiohttp types its slot as any AbstractServer)."""
        return self._server if isinstance(self._server, asyncio.Server) else None

    async def start(self) -> None:
        await super().start()
        loop = asyncio.get_running_loop()
        server = await loop.create_server(
            self._factory, self._host, self._port, backlog=self._backlog, reuse_address=True
        )
        self._server = server
        if server.sockets:
            self.bound_port = server.sockets[0].getsockname()[1]


class Listener:
    """The app of every route module, listening with the guards above."""

    def __init__(self, ctx: HttpContext, required: frozenset[str] = frozenset()) -> None:
        self.ctx = ctx
        self.required = required  # source kinds /readyz wants running
        self.counters = Counters()
        self.port = ctx.http.port
        # Open connections, counted from the moment each is accepted: aiohttp's own list
        # grows a loop turn later, so a burst of accepts would all see room in it.
        self.open = 0
        self._runner: web.AppRunner | None = None
        self._site: GuardedSite | None = None
        self._lifecycle: health.Lifecycle | None = None

    @property
    def url(self) -> str:
        host = self.ctx.http.host
        return f"http://[{host}]:{self.port}" if ":" in host else f"http://{host}:{self.port}"

    async def start(self) -> None:
        """Listen. Raises SlothError (one line) when the address cannot be bound, or
        ConfigError when a route module's config is wrong."""
        http = self.ctx.http
        app = build_app(self.ctx, middlewares(self.ctx, self.counters))
        self._lifecycle = app[health.LIFECYCLE]
        self._lifecycle.required = self.required
        runner = web.AppRunner(app, shutdown_timeout=min(STOP_WAIT, http.request_timeout))
        await runner.setup()
        site = GuardedSite(runner, http.host, http.port, self._protocol, backlog=1024)
        self._runner = runner  # before the bind: a connection may come at once
        try:
            await site.start()
        except OSError as exc:
            self._runner = None
            await runner.cleanup()
            # asyncio rewords the OSError; its errno says it plainly ("Address already in use").
            reason = os.strerror(exc.errno) if exc.errno else str(exc)
            raise SlothError(f"cannot listen on {self.url}: {reason}") from None
        self._site = site
        self.port = site.bound_port

    def _protocol(self) -> asyncio.Protocol:
        runner = self._runner
        server = runner.server if runner is not None else None
        if server is None:  # between bind and setup's end, or stopping: nothing serves
            return Overloaded(canned(503, "Service Unavailable", "not serving", "unavailable"))
        if self.open >= self.ctx.http.max_connections:
            self.ctx.refusals.count(UNMATCHED, "too_many_connections")
            limit = self.ctx.http.max_connections
            return Overloaded(
                canned(
                    503,
                    "Service Unavailable",
                    f"too many connections (the limit is {limit}); try again",
                    "unavailable",
                )
            )
        timeout = self.ctx.http.request_timeout
        self.open += 1
        return GuardedHandler(
            server,
            loop=asyncio.get_running_loop(),
            head_timeout=timeout,
            on_refusal=lambda reason: self.ctx.refusals.count(UNMATCHED, reason),
            on_lost=self._closed,
            # +1: the head deadline above answers a silent first request before this
            # closes it without a word; later this closes idle kept-alive connections.
            keepalive_timeout=timeout + 1,
            lingering_time=LINGER,
            access_log=None,
        )

    def _closed(self) -> None:
        self.open -= 1

    def stopping(self) -> None:
        """From now on /readyz says so (the listener still answers until stop())."""
        if self._lifecycle is not None:
            self._lifecycle.stopping = True

    async def stop(self) -> None:
        """Stop listening; requests under way get up to STOP_WAIT s, and events already
        handed to the engine are committed before this returns (events.py)."""
        self.stopping()
        runner, self._runner = self._runner, None  # a connection made from now: 503
        site, self._site = self._site, None
        if site is not None and site.listening is not None:
            await close_listeners([site.listening])
        if runner is not None:
            await runner.cleanup()
