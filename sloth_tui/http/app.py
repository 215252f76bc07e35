"""build_app(): the aiohttp Application of the listener, from its route modules.

Each module in ROUTE_MODULES has `install(app, ctx)`: it adds its routes, and may hook
the app's on_startup/on_cleanup (metrics subscribes to the engine's bus there).
"""

from __future__ import annotations

from aiohttp import web
from aiohttp.typedefs import Middleware

from sloth_tui.http import events, health, metrics, webhooks
from sloth_tui.http.context import HttpContext

ROUTE_MODULES = (events, health, webhooks, metrics)

CONTEXT = web.AppKey("sloth_context", HttpContext)


def build_app(ctx: HttpContext, middlewares: list[Middleware] | None = None) -> web.Application:
    """The listener's app. Raises ConfigError when a route module's config is wrong
    (a bad [[webhooks]] entry), before anything listens."""
    app = web.Application(middlewares=middlewares or [], client_max_size=ctx.http.max_body_bytes)
    app[CONTEXT] = ctx
    for module in ROUTE_MODULES:
        module.install(app, ctx)
    return app
