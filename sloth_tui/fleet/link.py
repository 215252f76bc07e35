"""FleetLink: the engine's one connection to NATS, kept up for as long as it runs.

NATS may be down when the engine starts, go away mid-stream, or restart: the engine
keeps working alone meanwhile (its events wait in the store's outbox), and the link
keeps trying. `start()` never waits for NATS. Parts (fleet/parts.py) register what to do
on each (re)connection with `on_connect`, e.g. create their consumers again: the
streams and buckets are made sure of first (`ensure`), so a NATS server restarted
with an empty store is set up again without an operator.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import ssl
import time
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from sloth_tui.fleet import subjects, writelines_guard
from sloth_tui.fleet.settings import FleetSettings

if TYPE_CHECKING:
    from nats.aio.client import Client
    from nats.js import JetStreamContext
    from nats.js.kv import KeyValue

log = logging.getLogger("sloth_tui.fleet")

OnConnect = Callable[[], Awaitable[None]]

RETRY_FIRST = 0.2  # seconds before the first retry of a failed connect; doubles to RETRY_MAX
RETRY_MAX = 5.0
# How long JetStream keeps message ids to drop a retried publish. An engine that stays
# down longer and then publishes again is caught by the intake (mirror keys) and the
# runner (done-markers): the window only saves work.
DUPLICATE_WINDOW_S = 600
EVENTS_MAX_AGE_S = 7 * 24 * 3600
BUCKETS: dict[str, dict[str, Any]] = {
    # name -> KeyValueConfig fields
    "hooks": {"history": 5},
    "state": {"history": 1},
    "members": {"history": 1},
    "done": {"history": 1, "ttl": 7 * 24 * 3600},
    "claims": {"history": 1, "ttl": 24 * 3600},
}


async def connect(options: dict[str, Any]) -> Client:
    """nats.connect(**options), with writelines() guarded first (fleet/writelines_guard.py:
    nats-py writes with it, and a server killed mid-publish could otherwise leave its
    socket registered once closed). Every NATS connection sloth-tui makes is made here."""
    import nats

    writelines_guard.install()
    return await nats.connect(**options)


class FleetLink:
    def __init__(self, fleet: FleetSettings) -> None:
        self.fleet = fleet
        self.prefix = fleet.prefix
        self.nc: Client | None = None
        self.js: JetStreamContext | None = None
        self.error = ""  # the last problem, one line
        self.connects = 0  # successful (re)connections, the first included
        self.since = 0.0  # when the link last came up (0: never)
        self._up = asyncio.Event()
        self._on_connect: list[OnConnect] = []
        self._task: asyncio.Task[None] | None = None
        self._stopping = False
        self._kv: dict[str, KeyValue] = {}
        self._closing: asyncio.Task[None] | None = None  # leave()'s close

    # -- state --------------------------------------------------------------------------

    @property
    def connected(self) -> bool:
        return self._up.is_set() and self.nc is not None and self.nc.is_connected

    async def wait_connected(self, timeout: float | None = None) -> bool:
        try:
            await asyncio.wait_for(self._up.wait(), timeout)
        except TimeoutError:
            return False
        return True

    def on_connect(self, callback: OnConnect) -> None:
        """Run `callback` after every (re)connection, once streams and buckets exist."""
        self._on_connect.append(callback)

    async def kv(self, what: str) -> KeyValue:
        """One of BUCKETS (raises when the link is down)."""
        if what not in self._kv:
            js = self.jetstream()
            self._kv[what] = await js.key_value(subjects.bucket(self.prefix, what))
        return self._kv[what]

    def jetstream(self) -> JetStreamContext:
        if self.js is None or not self.connected:
            raise ConnectionError("not connected to NATS")
        return self.js

    # -- lifecycle ----------------------------------------------------------------------

    async def start(self) -> None:
        self._task = asyncio.create_task(self._connect_loop(), name="fleet-link")

    async def stop(self) -> None:
        self._stopping = True
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._task
        if self.nc is not None:
            # Flushed and closed, not drained: the parts are stopped, and a drain waits for
            # every subscription's queue to empty. One nobody reads any more (a watch cut
            # off as it began) held each such stop for the drain's whole 5 s.
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self.nc.flush(), 2.0)
            with contextlib.suppress(Exception):
                await self.nc.close()
        self._up.clear()

    def leave(self, reason: str) -> None:
        """Give the fleet up for good while the engine keeps running alone (another live
        engine holds this one's name): `reason` stays the link's error, no part gets a
        connection again. Safe to call from an on_connect callback."""
        self._stopping = True
        self._up.clear()
        self.error = reason
        if self.nc is not None:
            self._closing = asyncio.get_running_loop().create_task(self.nc.close())

    async def _connect_loop(self) -> None:
        delay = RETRY_FIRST
        while not self._stopping:
            try:
                self.nc = await connect(self._options())
            except Exception as exc:  # NATS down or refusing us: say why, try again
                self._problem(f"cannot reach NATS at {self.fleet.shown_url}: {_one_line(exc)}")
                await asyncio.sleep(delay)
                delay = min(delay * 2, RETRY_MAX)
                continue
            self.js = self.nc.jetstream()
            await self._came_up()
            return

    def _options(self) -> dict[str, Any]:
        fleet = self.fleet
        options: dict[str, Any] = {
            "servers": list(fleet.servers),
            "name": f"sloth-tui {fleet.name}",
            "allow_reconnect": True,
            "max_reconnect_attempts": -1,
            "reconnect_time_wait": 1.0,
            "connect_timeout": 2.0,
            "error_cb": self._error_cb,
            "disconnected_cb": self._disconnected_cb,
            "reconnected_cb": self._reconnected_cb,
        }
        options.update(credentials(fleet))
        return options

    async def _came_up(self) -> None:
        try:
            await self.ensure()
        except Exception as exc:
            self._problem(f"NATS at {self.fleet.shown_url}: JetStream not ready: {_one_line(exc)}")
            # JetStream may be starting (or off): the reconnect callback or the next
            # ensure() call tries again; the outbox keeps what waits meanwhile.
            asyncio.get_running_loop().call_later(RETRY_MAX, self._retry_ensure)
            return
        self.connects += 1
        self.since = time.time()
        self.error = ""
        self._up.set()
        log.info("fleet: connected to %s as %s", self.fleet.shown_url, self.fleet.name)
        for callback in list(self._on_connect):
            if self._stopping:  # a part gave the fleet up (leave): the rest set up nothing
                break
            try:
                await callback()
            except Exception:
                log.exception("fleet: a part failed to set up after connecting")

    def _retry_ensure(self) -> None:
        if not self._stopping and self.nc is not None and self.nc.is_connected:
            asyncio.get_running_loop().create_task(self._came_up())

    async def ensure(self) -> None:
        """The streams and buckets the fleet uses, created when missing (idempotent)."""
        from nats.js.api import KeyValueConfig, StreamConfig
        from nats.js.errors import NotFoundError

        assert self.js is not None
        js = self.js
        streams = (
            (subjects.events_stream(self.prefix), subjects.all_events(self.prefix)),
            (subjects.runs_stream(self.prefix), subjects.all_runs(self.prefix)),
        )
        for name, subject in streams:
            try:
                await js.stream_info(name)
            except NotFoundError:
                await js.add_stream(
                    StreamConfig(
                        name=name,
                        subjects=[subject],
                        duplicate_window=DUPLICATE_WINDOW_S,
                        max_age=EVENTS_MAX_AGE_S,
                    )
                )
        self._kv.clear()
        for what, config in BUCKETS.items():
            name = subjects.bucket(self.prefix, what)
            try:
                self._kv[what] = await js.key_value(name)
            except Exception:  # BucketNotFoundError (its class moved between releases)
                self._kv[what] = await js.create_key_value(KeyValueConfig(bucket=name, **config))

    # -- callbacks from nats-py ---------------------------------------------------------

    async def _error_cb(self, exc: Exception) -> None:
        self._problem(f"NATS: {_one_line(exc)}")

    async def _disconnected_cb(self) -> None:
        if not self._stopping:
            self._up.clear()
            self._problem(f"disconnected from NATS at {self.fleet.shown_url}; reconnecting")

    async def _reconnected_cb(self) -> None:
        await self._came_up()

    def _problem(self, line: str) -> None:
        if self._stopping:  # stopping, or left (leave's reason stays the error)
            return
        if line != self.error:
            log.warning("fleet: %s", line)
        self.error = line


def credentials(fleet: FleetSettings) -> dict[str, Any]:
    """nats.connect's token, creds and TLS options from [nats]: one reading for every
    connection (the engine's link, `fleet status --nats`)."""
    options: dict[str, Any] = {}
    if fleet.token is not None:
        options["token"] = fleet.token
    if fleet.creds_file is not None:
        options["user_credentials"] = fleet.creds_file
    if fleet.tls_ca or fleet.tls_cert:
        context = ssl.create_default_context(cafile=fleet.tls_ca)
        if fleet.tls_cert:
            context.load_cert_chain(fleet.tls_cert, fleet.tls_key)
        options["tls"] = context
    return options


def _one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split()) or type(exc).__name__
    return text[:300]
