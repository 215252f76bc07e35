"""`sloth-tui serve`: the headless engine with its producers, until SIGTERM or SIGINT.

Stopping order matters: producers stop first (the watchers send what they
were still coalescing), then no hook run starts any more, the socket stops
taking requests and answers what it owes, the runs under way end (each within
its deadline), the engine records system.shutdown, and only then do
subscribers get their last notice. Events whose hooks did not run stay
pending, and the next start runs them.

A second SIGTERM or SIGINT during that stops at once: connections are dropped,
the socket file removed, the store closed (what was committed stays) and the
lock released; the process exits with 128 + the signal's number, without
waiting for hook runs under way (their events are run again at the next start).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
from dataclasses import dataclass
from typing import Any

from sloth_tui.config import Settings, load_settings
from sloth_tui.engine.engine import Engine
from sloth_tui.model.errors import EventRefused
from sloth_tui.remote.handover import open_taking_over
from sloth_tui.remote.protocol import ProtocolError
from sloth_tui.remote.server import SocketServer, TcpAddress, stop_at_once, stop_in_order
from sloth_tui.sources.monitor import SystemMonitor
from sloth_tui.sources.watchers import FileWatchers

log = logging.getLogger("sloth_tui.serve")


class StoppedAtOnce(Exception):
    """A second signal cut the stop short; `serve` exits with 128 + signum."""

    def __init__(self, signum: int) -> None:
        super().__init__(f"stopped at once on signal {signum}")
        self.signum = signum


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
        self._force = asyncio.Event()  # a second signal while stopping
        self._force_signal = 0

    def request_stop(self, reason: str, signum: int = 0) -> None:
        if self._stop.is_set():
            if signum and not self._force.is_set():
                log.warning("%s again: stopping at once", reason)
                self._force_signal = signum
                self._force.set()
            else:
                log.info("already stopping")
            return
        log.info("%s: stopping", reason)
        self._reason = reason
        self._stop.set()

    async def run(self) -> None:
        """Serve until a signal, then stop in order. Raises StoppedAtOnce when a second
        signal cut the stop short (the store is closed and the socket removed by then)."""
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, self.request_stop, f"received {sig.name}", sig.value)
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
        shutdown = asyncio.create_task(self._shutdown(self._reason), name="shutdown")
        forced = asyncio.create_task(self._force.wait(), name="second-signal")
        await asyncio.wait({shutdown, forced}, return_when=asyncio.FIRST_COMPLETED)
        forced.cancel()
        if not self._force.is_set() or shutdown.done():
            await shutdown  # its errors are serve's
            return
        shutdown.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await shutdown
        await stop_at_once(self.server, self.engine)
        log.info("stopped at once")
        raise StoppedAtOnce(self._force_signal)

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
    try:
        await Daemon(settings, options).run()
    except StoppedAtOnce as stopped:
        # Not a normal exit: that would join the hook threads still running, the very
        # wait a second signal asks to skip. Everything durable is closed by now.
        logging.shutdown()
        os._exit(128 + stopped.signum)


def configure_logging(level: str = "info") -> None:
    """Plain lines on stderr: journald and `docker logs` add their own context."""
    handler = logging.StreamHandler()
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger("sloth_tui")
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    root.propagate = False
