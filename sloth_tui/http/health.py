"""GET /healthz and GET /readyz: the probes of a supervisor or a load balancer.

/healthz: 200 while the process serves HTTP at all (liveness; never asks the engine).
/readyz: 200 when the engine takes events: not while the listener is stopping, not on a
read-only engine, and not while a required source (SourceOptions.required: the socket,
the monitor, ...) is anything but running; 503 with the reason otherwise. Neither needs
the token: probes carry none, and neither says more than up or not.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from aiohttp import web

from sloth_tui.http.context import HttpContext
from sloth_tui.http.replies import json_error


@dataclass(slots=True)
class Lifecycle:
    """What /readyz knows beyond the engine: set by the listener (server.py)."""

    stopping: bool = False
    required: frozenset[str] = field(default_factory=frozenset)  # source kinds to be running


LIFECYCLE = web.AppKey("sloth_lifecycle", Lifecycle)


async def not_ready(ctx: HttpContext, life: Lifecycle) -> str | None:
    """Why the engine does not take events now, or None when it does."""
    if life.stopping:
        return "stopping"
    if ctx.engine.readonly:
        return "the engine is read-only"
    for line in await ctx.engine.source_health():
        if line.kind not in life.required or line.kind == "http" or line.state == "running":
            continue
        if line.state == "failed":
            return f"source {line.name} failed: {line.detail}"
        return f"source {line.name} is {line.state} (starting or stopping)"
    return None


def install(app: web.Application, ctx: HttpContext) -> None:
    """GET /healthz and GET /readyz."""
    life = app[LIFECYCLE] = Lifecycle()

    async def healthz(request: web.Request) -> web.Response:
        return web.json_response({"ok": True})

    async def readyz(request: web.Request) -> web.Response:
        try:
            reason = await not_ready(ctx, life)
        except Exception as exc:  # the engine cannot even say: not ready, and why
            reason = f"the engine does not answer: {type(exc).__name__}: {exc}"
        if reason is not None:
            return json_error(503, f"not ready: {reason}", "not_ready")
        return web.json_response({"ok": True, "ready": True})

    app.router.add_get("/healthz", healthz, allow_head=True)
    app.router.add_get("/readyz", readyz, allow_head=True)
