"""`sloth-tui serve`: the headless engine with its producers, until SIGTERM or SIGINT.

The producers (the socket, the monitor, the [[watchers]]) come from the registry
(sources/registry.py) and are started and stopped by a SourceSet (sources/wiring.py),
the same wiring as the dashboard's embedded engine.

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

Under systemd's Type=notify, serve says READY=1 once its producers run, STOPPING=1 when
a stop begins, and pings the watchdog from its loop (sd_notify.py).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sloth_tui.config import Settings, load_settings
from sloth_tui.engine.engine import Engine
from sloth_tui.model.errors import SlothError
from sloth_tui.remote.handover import open_taking_over
from sloth_tui.remote.protocol import ProtocolError
from sloth_tui.remote.server import TcpAddress
from sloth_tui.sources.log_format import JsonFormatter, make_formatter
from sloth_tui.sources.registry import SourceOptions, build_sources
from sloth_tui.sources.sd_notify import Notifier
from sloth_tui.sources.watch_config import WatchSpec, parse_watch_kinds
from sloth_tui.sources.wiring import SourceSet

if TYPE_CHECKING:
    from sloth_tui.engine.api import EngineAPI

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
    http: str | None = None  # --http HOST:PORT
    nats: str | None = None  # --nats URL: join a fleet
    nats_name: str | None = None  # --name NAME: this engine's name there


class Daemon:
    def __init__(self, settings: Settings, options: DaemonOptions) -> None:
        self.settings = settings
        self.options = options
        self.engine: Engine | None = None
        self.sources = SourceSet.build(settings, self._source_options())
        # The polled [[watchers]] kinds running now: a reload restarts them only when
        # these change (a restart takes a new baseline, and a log watcher's place).
        self._host_specs: tuple[WatchSpec, ...] = (
            parse_watch_kinds(settings) if options.watchers else ()
        )
        self._stop = asyncio.Event()
        self._reload_lock = asyncio.Lock()
        self._reason = "stopped"
        self._force = asyncio.Event()  # a second signal while stopping
        self._force_signal = 0
        self.notify = Notifier.from_environ()  # inert unless run by systemd, Type=notify

    @property
    def in_fleet(self) -> bool:
        """serve --nats or [nats] url: hooks run where the fleet hands them out."""
        return any(source.name == "fleet" for source in self.sources.sources)

    def _source_options(self) -> SourceOptions:
        opts = self.options
        return SourceOptions(
            role="serve",
            tcp=opts.tcp,
            token=opts.token,
            extra_ops={"reload_watchers": self._reload_watchers},
            monitor=opts.monitor,
            watchers=opts.watchers,
            http=opts.http,
            nats=opts.nats,
            nats_name=opts.nats_name,
        )

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
        # A dashboard running this home's engine embedded hands it over (remote/handover.py).
        self.engine = engine = await open_taking_over(
            self.settings,
            lambda: Engine.open(self.settings, lifecycle=True, fleet=self.in_fleet),
        )
        engine.report_sources(self.sources.health)
        engine.report_controls(self.sources)
        try:
            await self.sources.start(engine)  # a watcher left out is told there, and goes on
        except BaseException:
            await self._shutdown("failed to start")
            raise
        hooks = len(await engine.list_hooks())
        log.info("ready: engine on %s, %d hooks", self.settings.home, hooks)
        # systemd (Type=notify): ready now that the producers run; the watchdog pings
        # from this loop, so a hung engine loop stops them and systemd restarts serve.
        self.notify.ready(f"ready: {hooks} hooks, socket {self.settings.socket_path}")
        watchdog = asyncio.create_task(self.notify.watchdog(), name="sd-watchdog")
        try:
            await self._stop.wait()
            self.notify.stopping(f"stopping: {self._reason}")
            await self._stop_in_order()
        finally:
            watchdog.cancel()
            self.notify.close()

    async def _stop_in_order(self) -> None:
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
        await self.sources.stop_at_once(self.engine)
        log.info("stopped at once")
        raise StoppedAtOnce(self._force_signal)

    async def _reload_watchers(self, engine: EngineAPI, req: dict[str, Any]) -> dict[str, Any]:
        """Op `reload_watchers`: re-read config.toml's [[watchers]] (after `watch add/remove`):
        the file watchers, and the other kinds (process, port, ...) when they changed."""
        if not self.options.watchers:
            raise ProtocolError("this daemon runs with --no-watchers")
        s = self.settings
        fresh = load_settings(s.home if s.config_dir == s.home else None)  # errors: kept as is
        async with self._reload_lock:
            # Both built before either is replaced: a bad entry changes nothing.
            built = build_sources(fresh, self._source_options(), kinds=("watchers",))
            specs = parse_watch_kinds(fresh)
            hosts = None
            if specs != self._host_specs:
                hosts = build_sources(fresh, self._source_options(), kinds=("host_watchers",))
            errors = await self.sources.replace("watchers", built)
            if hosts is not None:
                errors += await self.sources.replace("host_watchers", hosts)
                self._host_specs = specs
        names = sorted(
            h.name.removeprefix("watcher:")
            for h in self.sources.health()
            if h.kind in ("watchers", "host_watchers") and h.state == "running"
        )
        log.info("watchers reloaded: %s", ", ".join(names) or "(none)")
        return {"watchers": names, "errors": errors}

    async def _shutdown(self, reason: str) -> None:
        await self.sources.stop(self.engine, reason)
        log.info("stopped")


async def serve(settings: Settings, options: DaemonOptions) -> None:
    try:
        await Daemon(settings, options).run()
    except StoppedAtOnce as stopped:
        # Not a normal exit: that would join the hook threads still running, the very
        # wait a second signal asks to skip. Everything durable is closed by now.
        logging.shutdown()
        os._exit(128 + stopped.signum)
    except SlothError as exc:
        if not _json_logs():
            raise  # serve's one `error:` line (commands/serve.py)
        # With --log-format json the last word is a JSON record too: the shipper reads
        # why serve did not start (another engine on the home, a port taken, a bad entry).
        log.error("%s", exc)
        logging.shutdown()
        raise SystemExit(1) from None


def _json_logs() -> bool:
    return any(
        isinstance(h.formatter, JsonFormatter) for h in logging.getLogger("sloth_tui").handlers
    )


def configure_logging(level: str = "info", fmt: str = "text") -> None:
    """Plain lines on stderr: journald and `docker logs` add their own context.
    `fmt` "json": one JSON object per line, for log shippers (sources/log_format.py)."""
    handler = logging.StreamHandler()
    handler.setFormatter(make_formatter(fmt))
    root = logging.getLogger("sloth_tui")
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    root.propagate = False
    # Libraries' records (asyncio's "exception never retrieved", aiohttp's errors) come
    # in the same lines, escaped as ours are, not in the command line's (commands/cli_log.py).
    top = logging.getLogger()
    top.handlers[:] = [handler]
    top.setLevel(logging.WARNING)
    if fmt == "json":
        # Python warnings would otherwise reach stderr as plain text, breaking "every
        # line is JSON" for the shipper.
        logging.captureWarnings(True)
