"""`sloth-tui serve`: the headless engine with its producers, until SIGTERM or SIGINT.

Stopping order matters: producers stop first (the watchers send what they
were still coalescing), then the socket stops taking requests and answers
what it owes, then the engine drains its hook queue and records
system.shutdown, and only then do subscribers get their last notice.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from dataclasses import dataclass
from typing import Any

from sloth_tui.config import Settings, load_settings
from sloth_tui.engine.engine import Engine
from sloth_tui.engine.errors import EventRefused
from sloth_tui.sources.handover import open_taking_over
from sloth_tui.sources.monitor import SystemMonitor
from sloth_tui.sources.protocol import ProtocolError
from sloth_tui.sources.server import SocketServer, TcpAddress, stop_in_order
from sloth_tui.sources.watchers import FileWatchers

log = logging.getLogger("sloth_tui.serve")


@dataclass(frozen=True, slots=True)
class DaemonOptions:
    tcp: TcpAddress | None = None
    token: str | None = None
    monitor: bool = True
    watchers: bool = True


class Daemon:
    def __init__(self, settings: Settings, options: DaemonOptions) -> None:
        self.settings = settings
        self.options = options
        self.engine: Engine | None = None
        self.server: SocketServer | None = None
        self.monitor: SystemMonitor | None = None
        self.watchers: FileWatchers | None = None
        self._stop = asyncio.Event()
        self._reload_lock = asyncio.Lock()
        self._reason = "stopped"

    def request_stop(self, reason: str) -> None:
        if self._stop.is_set():
            log.info("already stopping")
            return
        log.info("%s: stopping", reason)
        self._reason = reason
        self._stop.set()

    async def run(self) -> None:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, self.request_stop, f"received {sig.name}")
        # A dashboard running this home's engine embedded hands it over (sources/handover.py).
        self.engine = engine = await open_taking_over(
            self.settings, lambda: Engine.open(self.settings, lifecycle=True)
        )
        try:
            await self._start(engine)
        except BaseException:
            await self._shutdown("failed to start")
            raise
        log.info(
            "ready: engine on %s, %d hooks", self.settings.home, len(await engine.list_hooks())
        )
        await self._stop.wait()
        await self._shutdown(self._reason)

    async def _start(self, engine: Engine) -> None:
        opts = self.options
        self.server = SocketServer(
            engine,
            self.settings.socket_path,
            tcp=opts.tcp,
            token=opts.token,
            extra_ops={"reload_watchers": self._reload_watchers},
        )
        await self.server.start()
        if opts.monitor and self.settings.monitor.enabled:
            self.monitor = SystemMonitor(engine.dispatch, self.settings.monitor)
            self.monitor.start()
        if opts.watchers:
            await self._start_watchers(self.settings)

    async def _start_watchers(self, settings: Settings) -> list[str]:
        assert self.engine is not None
        self.watchers = FileWatchers(self.engine.dispatch, settings.watchers)
        errors = self.watchers.start()
        for name, error in errors.items():  # the others run; this one is told, loudly
            log.error("%s", error)
            with contextlib.suppress(EventRefused):
                await self.engine.dispatch(
                    "system.error",
                    {"component": f"watcher:{name}", "error": error, "severity": "error"},
                    source="system",
                )
        return list(errors.values())

    async def _reload_watchers(self, engine: Engine, req: dict[str, Any]) -> dict[str, Any]:
        """Op `reload_watchers`: re-read config.toml's [[watchers]] (after `watch add/remove`)."""
        if not self.options.watchers:
            raise ProtocolError("this daemon runs with --no-watchers")
        s = self.settings
        fresh = load_settings(s.home if s.config_dir == s.home else None)  # errors: kept as is
        async with self._reload_lock:
            if self.watchers is not None:
                await self.watchers.stop()
            errors = await self._start_watchers(fresh)
        assert self.watchers is not None
        log.info("watchers reloaded: %s", ", ".join(self.watchers.names) or "(none)")
        return {"watchers": self.watchers.names, "errors": errors}

    async def _shutdown(self, reason: str) -> None:
        if self.watchers is not None:
            await self.watchers.stop()
        if self.monitor is not None:
            await self.monitor.stop()
        await stop_in_order(self.server, self.engine, reason)
        log.info("stopped")


async def serve(settings: Settings, options: DaemonOptions) -> None:
    await Daemon(settings, options).run()


def configure_logging(level: str = "info") -> None:
    """Plain lines on stderr: journald and `docker logs` add their own context."""
    handler = logging.StreamHandler()
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger("sloth_tui")
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    root.propagate = False
