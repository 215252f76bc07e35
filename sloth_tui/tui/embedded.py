"""A dashboard's own engine: it serves the home's socket, and hands the home over to `serve`.

With no daemon running, the dashboard runs the engine in-process (it holds the data dir's
lock) and serves the socket, so `sloth-tui hook add ...` in another terminal goes through
it. When `sloth-tui serve` starts on the same home it asks for the home (op `handover`,
see remote/handover.py): this engine stops taking requests, answers what it owes, closes
(committing everything acknowledged, letting the hook runs under way end, recording
system.shutdown) and releases the lock; queued hook runs stay pending, and `serve` runs
them when it starts. The dashboard meanwhile switches to a RemoteEngine on the socket,
which finds `serve` as soon as it listens.

Its sources (the socket, and the demo's stream when asked) are wired as `serve` wires
its own: sources/wiring.py builds them from the registry and keeps the stop order.

Given a NATS URL (`sloth-tui --attach nats://...`), the engine is a fleet observer on
its own store (commands/fleet_view.py picks the home): opened with fleet=True, its fleet
Source takes every engine's events and runs in and publishes what is fired here (a fired
event goes to the fleet, and its hooks run on the members); it runs no hooks itself.
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from sloth_tui.config import Settings
from sloth_tui.remote.protocol import ProtocolError

if TYPE_CHECKING:
    from sloth_tui.engine.api import EngineAPI
    from sloth_tui.engine.engine import Engine
    from sloth_tui.model.stats import SourceHealth
    from sloth_tui.remote.client import RemoteEngine
    from sloth_tui.sources.demo import DemoGenerator
    from sloth_tui.sources.wiring import SourceSet

log = logging.getLogger("sloth_tui.dashboard")


async def open_local_engine(settings: Settings) -> EngineAPI:
    """A plain in-process engine for a dashboard given only Settings (tests, screenshots):
    no socket, no handover. Built here, the module whose job is building engines."""
    from sloth_tui.engine.engine import Engine

    return await Engine.open(settings, lifecycle=True)


def demo_stream(engine: EngineAPI, rate: float) -> DemoGenerator:
    """The demo's synthetic stream at `rate` events/s, not started yet."""
    from sloth_tui.sources.demo import DemoGenerator

    return DemoGenerator(engine, rate)


class EmbeddedEngine:
    """The engine and its sources, started and stopped in the daemon's order."""

    def __init__(
        self, settings: Settings, *, demo_rate: float | None = None, nats: str | None = None
    ) -> None:
        self.settings = settings
        self.demo_rate = demo_rate  # `sloth-tui demo`: sample hooks and a synthetic stream
        self.nats = nats  # --attach nats://...: a fleet observer (see the module's note)
        self.engine: Engine | None = None
        self.sources: SourceSet | None = None
        self.warnings: list[str] = []
        # Called with the RemoteEngine that replaces this engine once serve takes over.
        self.on_handover: Callable[[RemoteEngine, str], None] | None = None
        self.handed_over_to: int | None = None  # serve's pid
        self._handover: asyncio.Task[None] | None = None
        self._closed = False

    async def start(self) -> Engine:
        from sloth_tui.engine.engine import Engine
        from sloth_tui.sources.options import SourceOptions
        from sloth_tui.sources.wiring import SourceSet

        # Opened before the app so a held lock is a one-line error, not a crashed screen.
        # An observer records no system.startup/shutdown: they would go out to the whole
        # fleet (its own events are published), and a dashboard's view is no news there.
        observer = self.nats is not None
        self.engine = engine = await Engine.open(
            self.settings, lifecycle=not observer, fleet=observer
        )
        self.warnings.extend(engine.warnings)
        options = SourceOptions.dashboard(
            extra_ops={"handover": self._handover_op},
            demo_rate=self.demo_rate,
            demo_hooks=self.settings.hooks_dir,
            nats=self.nats,
        )
        try:  # a bad [nats] table is a one-line ConfigError, before anything starts
            self.sources = sources = SourceSet.build(self.settings, options)
        except BaseException:
            await engine.close(reason="failed to start", drain_timeout=0)
            raise
        engine.report_sources(sources.health)
        engine.report_controls(sources)
        try:
            # A socket that cannot be served is a warning: the dashboard works without it.
            self.warnings.extend(await sources.start(engine))
        except BaseException:
            await self.close(reason="failed to start")
            raise
        return engine

    @property
    def demo(self) -> DemoGenerator | None:
        """The demo's generator once started (the app's top bar says DEMO)."""
        from sloth_tui.sources.demo import DemoSource

        source = self.sources.find("demo") if self.sources is not None else None
        return source.generator if isinstance(source, DemoSource) else None

    def health(self) -> list[SourceHealth]:
        return self.sources.health() if self.sources is not None else []

    async def _handover_op(self, engine: EngineAPI, req: dict[str, Any]) -> dict[str, Any]:
        pid = req.get("pid")
        if not isinstance(pid, int) or isinstance(pid, bool) or pid <= 0:
            raise ProtocolError("handover: pid must be the positive pid of the new serve")
        if self._handover is not None or self._closed:
            raise ProtocolError("this dashboard is already handing its engine over")
        self.handed_over_to = pid
        # After this reply is written: stop_intake waits for the replies owed, this one too.
        self._handover = asyncio.get_running_loop().create_task(
            self._hand_over(pid), name="handover"
        )
        return {"pid": os.getpid()}

    async def _hand_over(self, pid: int) -> None:
        from sloth_tui.remote.client import RemoteEngine
        from sloth_tui.remote.wire import Address

        log.info("serve (pid %d) takes over %s", pid, self.settings.home)
        if self.on_handover is not None:
            # Screens switch to the socket first, so none asks an engine that is closing;
            # the remote's notice stream finds serve once it listens.
            remote = RemoteEngine(self.settings, Address(path=self.settings.socket_path), {})
            self.on_handover(remote, f"handing over to serve (pid {pid})")
        await self.close(reason=f"handed over to serve (pid {pid})")

    async def close(self, reason: str = "dashboard closed") -> None:
        """Stop intake, close the engine (runs under way end, queued ones stay pending,
        system.shutdown recorded), hang up."""
        if self._closed:
            return
        self._closed = True
        if self.sources is not None:
            await self.sources.stop(self.engine, reason)
        elif self.engine is not None:
            await self.engine.close(reason=reason, drain_timeout=0)

    async def stop_at_once(self) -> None:
        """A second signal while closing: hang up, remove the socket file, close the store
        and release the lock without waiting for the hook runs under way."""
        if self.sources is not None:
            await self.sources.stop_at_once(self.engine)
        elif self.engine is not None:
            await self.engine.abort()

    async def wait_handed_over(self) -> None:
        """At exit: a handover under way finishes first (its engine must close cleanly)."""
        if self._handover is not None:
            await asyncio.shield(self._handover)
