"""A real loopback HTTP server around one app, for route tests (issue 18).

`async with served(app) as base:` listens on 127.0.0.1, a free port, and yields the base
URL ("http://127.0.0.1:PORT"); requests go through a real aiohttp client.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from aiohttp import web

from sloth_tui.http.app import build_app
from sloth_tui.http.context import HttpContext
from sloth_tui.http.replies import Refusals
from sloth_tui.http.settings import HttpSettings


def context_for(engine: Any, **http: Any) -> HttpContext:
    """An HttpContext over a real engine (the `engine` fixture)."""
    return HttpContext(
        engine=engine, settings=engine.settings, http=HttpSettings(**http), refusals=Refusals()
    )


@asynccontextmanager
async def served(app: web.Application) -> AsyncIterator[str]:
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    try:
        server = site._server
        assert server is not None and server.sockets  # type: ignore[union-attr]
        port = server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        yield f"http://127.0.0.1:{port}"
    finally:
        await runner.cleanup()


@asynccontextmanager
async def served_engine(engine: Any, **http: Any) -> AsyncIterator[tuple[str, HttpContext]]:
    """The whole listener app (every route module) over a real engine."""
    ctx = context_for(engine, **http)
    async with served(build_app(ctx)) as base:
        yield base, ctx


@asynccontextmanager
async def served_listener(
    engine: Any, required: frozenset[str] = frozenset(), **http: Any
) -> AsyncIterator[tuple[str, HttpContext, Any]]:
    """The real listener (http/server.py: token, limits, timeouts, connection cap) over a
    real engine on a free loopback port: yields (base URL, its context, the Listener)."""
    from sloth_tui.http.server import Listener

    ctx = context_for(engine, **{"port": 0, **http})
    listener = Listener(ctx, required)
    await listener.start()
    try:
        yield listener.url, ctx, listener
    finally:
        await listener.stop()


def free_port() -> int:
    """A loopback port free a moment ago (for a `serve --http` subprocess)."""
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])
