"""GET /metrics: the engine's figures in Prometheus text format (issue 18).

Two kinds of figures, rendered by prometheus_client from the listener's own registry
(never the process-wide default one, so two listeners in one process, as in tests, do
not share counters):

- counted from the engine's notices (metrics_tally.py): events by category and type,
  runs by hook and final status, run durations. A reader task takes every notice from
  an unbounded subscription: it does no I/O and drains whatever waits in one go, so the
  queue never holds more than one burst of the engine's own loop turn, and no notice is
  ever dropped (a bounded one could drop, and the counts would no longer be exact);
- read when scraped (metrics_scrape.py): the engine's counters, queue depth, dropped
  notices, store size, source health and the listener's refusals.

The reader starts with the app (on_startup) and ends with it (on_cleanup). A notice it
cannot count is logged and counted (`sloth_metrics_errors_total`); should the reader
itself fail, it is logged and restarted on the same subscription, losing nothing.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, generate_latest

from sloth_tui.engine.bus import Notice, Subscription
from sloth_tui.http.context import HttpContext
from sloth_tui.http.metrics_scrape import ScrapeCollector, Snapshot, store_bytes
from sloth_tui.http.metrics_tally import Tally

log = logging.getLogger("sloth_tui.http.metrics")

ROUTE = "/metrics"
RESTART_DELAY = 1.0  # seconds before a failed reader is restarted (not a busy loop)


class Metrics:
    """The listener's registry, its notice reader, and the /metrics handler."""

    def __init__(self, ctx: HttpContext, *, restart_delay: float = RESTART_DELAY) -> None:
        self.ctx = ctx
        self.registry = CollectorRegistry(auto_describe=False)
        self.tally = Tally(self.registry)
        self.scrape = ScrapeCollector()
        self.registry.register(self.scrape)
        self.errors = Counter(
            "sloth_metrics_errors",
            "Notices the metrics could not count, and failures of their reader (each logged).",
            registry=self.registry,
        )
        self.restart_delay = restart_delay
        self._sub: Subscription | None = None
        self._task: asyncio.Task[None] | None = None
        # Tests swap in a failing one to see the reader survive; production never does.
        self.take: Callable[[Notice], None] = self.tally.take

    # -- the reader --------------------------------------------------------------------

    async def start(self, _app: web.Application | None = None) -> None:
        # maxsize 0: unbounded (asyncio.Queue), so the bus never drops one for us.
        self._sub = self.ctx.engine.subscribe(maxsize=0)
        self._task = asyncio.create_task(self._run(self._sub), name="sloth-metrics-reader")

    async def stop(self, _app: web.Application | None = None) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        if self._sub is not None:
            self._sub.close()
            self._sub = None

    @property
    def reading(self) -> bool:
        """Whether the reader runs (for tests and health)."""
        return self._task is not None and not self._task.done()

    async def _run(self, sub: Subscription) -> None:
        while True:
            try:
                await self._read(sub)
            except asyncio.CancelledError:
                raise
            except Exception:
                self.errors.inc()
                log.exception("metrics: the notice reader failed; restarting it")
                await asyncio.sleep(self.restart_delay)

    async def _read(self, sub: Subscription) -> None:
        # get() does not suspend while notices wait, so a burst is read in one go.
        async for notice in sub:
            try:
                self.take(notice)
            except Exception:
                self.errors.inc()
                log.exception("metrics: could not count a %s notice", notice.kind)

    # -- the route ---------------------------------------------------------------------

    async def snapshot(self) -> Snapshot:
        ctx = self.ctx
        return Snapshot(
            stats=ctx.engine.stats(),
            sources=await ctx.engine.source_health(),
            store_bytes=store_bytes(ctx.settings.db_path),
            refusals=ctx.refusals.snapshot(),
        )

    async def handle(self, _request: web.Request) -> web.Response:
        self.scrape.snapshot = await self.snapshot()
        # Rendered at once after the snapshot, with no await between: one scrape's view.
        body = generate_latest(self.registry)
        return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})


METRICS = web.AppKey("sloth_metrics", Metrics)


def install(app: web.Application, ctx: HttpContext) -> None:
    """GET /metrics, and the notice reader started and ended with the app."""
    metrics = Metrics(ctx)
    app[METRICS] = metrics
    app.router.add_get(ROUTE, metrics.handle)
    app.on_startup.append(metrics.start)
    app.on_cleanup.append(metrics.stop)
