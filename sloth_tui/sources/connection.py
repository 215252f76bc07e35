"""One client connection: read lines, run requests concurrently, write replies in order.

Lines are read in chunks and each request becomes a task at once, so many
events from one pipelining client are in flight together and the store's
group commit batches them. A bounded window of in-flight requests per
connection is the backpressure: a client that never reads its replies stalls
only its own reads, never the engine or other clients.
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import logging
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from sloth_tui.engine.bus import Subscription
from sloth_tui.engine.engine import Engine
from sloth_tui.engine.errors import SlothError
from sloth_tui.engine.filters import Filter
from sloth_tui.sources.ops import NOTICE_KINDS, OPS, Handler, dispatch_event
from sloth_tui.sources.protocol import (
    LineSplitter,
    ProtocolError,
    TooLong,
    decode_line,
    encode,
    error_reply,
    error_type_of,
    filter_from_wire,
    notice_to_wire,
)

log = logging.getLogger("sloth_tui.serve")

CHUNK = 256 * 1024
WINDOW = 1024  # requests in flight per connection
MAX_BATCH = 1024  # replies joined into one write
_END = object()


def _task_reply(task: asyncio.Task[bytes]) -> bytes:
    if task.cancelled():
        return encode(error_reply("request cancelled (the daemon is stopping)", "error"))
    return task.result()


@dataclass(slots=True)
class _Then:
    """A reply with something to do right after it is written (start a subscription)."""

    data: bytes
    then: Callable[[], None]


@dataclass(slots=True)
class ConnContext:
    """What a connection needs from its server."""

    engine: Engine
    ping: Callable[[], dict[str, Any]]
    extra_ops: dict[str, Handler]
    token: str | None  # required first (auth) line when set: TCP
    on_unauthorized: Callable[[str, str], Awaitable[None]]  # (peer, reason)


class Connection:
    def __init__(
        self,
        ctx: ConnContext,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        peer: str,
    ) -> None:
        self.ctx = ctx
        self.reader = reader
        self.writer = writer
        self.peer = peer
        self._authed = ctx.token is None
        self._out: deque[Any] = deque()  # bytes | _Then | Task[bytes] | _END, in order
        self._wake = asyncio.Event()
        self._subscribed = False
        self._barrier: asyncio.Task[bytes] | None = None  # the last op, until it is done
        self._window = asyncio.Semaphore(WINDOW)
        self._broken = False
        self._stopping = False
        self._pump: asyncio.Task[None] | None = None
        self._read_task: asyncio.Task[None] | None = None

    async def run(self) -> None:
        writer_task = asyncio.create_task(self._write_loop())
        self._read_task = asyncio.create_task(self._read_loop())
        try:
            with contextlib.suppress(asyncio.CancelledError, ConnectionError):
                await self._read_task
        finally:
            self._put(_END)
            await writer_task  # every request read gets its reply (acks survive shutdown)
            if self._pump is not None:
                if not self._stopping:
                    self._pump.cancel()
                with contextlib.suppress(asyncio.CancelledError, ConnectionError):
                    await self._pump
            self.writer.close()
            with contextlib.suppress(ConnectionError, OSError):
                await self.writer.wait_closed()

    @property
    def subscribed(self) -> bool:
        return self._subscribed

    def stop_reading(self) -> None:
        """Shutdown: take no more requests; subscribers stay until the engine's last notice."""
        self._stopping = True
        if self._read_task is not None:
            self._read_task.cancel()

    def abort(self) -> None:
        """Last resort at shutdown: drop a client that will not read what is owed to it."""
        self._broken = True
        if self._pump is not None:
            self._pump.cancel()
        self.writer.transport.abort()

    # -- reading ------------------------------------------------------------------

    async def _read_loop(self) -> None:
        splitter = LineSplitter()
        while True:
            chunk = await self.reader.read(CHUNK)
            if not chunk:
                if splitter.partial:
                    log.debug("%s: disconnected mid-line; the partial line is dropped", self.peer)
                return
            for item in splitter.feed(chunk):
                await self._window.acquire()
                if self._authed:
                    self._put(self._start(item))
                elif not await self._authenticate(item):
                    return

    async def _authenticate(self, item: bytes | TooLong) -> bool:
        reason = 'the first line must be {"op": "auth", "token": ...}'
        if not isinstance(item, TooLong):
            with contextlib.suppress(ProtocolError):
                req = decode_line(item)
                if req.get("op") == "auth":
                    token = req.get("token")
                    assert self.ctx.token is not None
                    if isinstance(token, str) and hmac.compare_digest(
                        token.encode(), self.ctx.token.encode()
                    ):
                        self._authed = True
                        self._put(encode({"ok": True}))
                        return True
                    reason = "wrong token"
        self._put(encode(error_reply(f"unauthorized: {reason}", "unauthorized")))
        await self.ctx.on_unauthorized(self.peer, reason)
        return False

    def _start(self, item: bytes | TooLong) -> Any:
        """The reply for one line: bytes now, or a task that will produce them."""
        if isinstance(item, TooLong):
            return encode(error_reply(f"line is {item.size} bytes; the limit is 1 MiB"))
        try:
            req = decode_line(item)
            op = req.get("op")
            if op is None:
                barrier = self._barrier
                if barrier is not None and not barrier.done():
                    return asyncio.create_task(self._run(dispatch_event, req, (barrier,)))
                return asyncio.create_task(self._run(dispatch_event, req))
            if op == "ping":
                return encode({"ok": True, "engine": self.ctx.ping()})
            if op == "auth":
                return encode({"ok": True})
            if op == "subscribe":
                return self._subscribe(req)
            handler = OPS.get(op) if isinstance(op, str) else None
            handler = handler or (self.ctx.extra_ops.get(op) if isinstance(op, str) else None)
            if handler is None:
                known = ", ".join(sorted({"ping", "subscribe", *OPS, *self.ctx.extra_ops}))
                raise ProtocolError(f"unknown op {op!r} (known: {known})")
        except SlothError as exc:
            return encode(error_reply(str(exc), error_type_of(exc)))
        # An op sees the effect of everything sent before it, and what follows sees its
        # effect (add_hook then dispatch must run the hook); plain events between ops
        # still run concurrently, which is what lets group commit batch them.
        earlier = tuple(t for t in self._out if isinstance(t, asyncio.Task) and not t.done())
        self._barrier = asyncio.create_task(self._run(handler, req, earlier))
        return self._barrier

    async def _run(
        self, handler: Handler, req: dict[str, Any], after: tuple[asyncio.Task[bytes], ...] = ()
    ) -> bytes:
        if after:
            await asyncio.wait(after)
        try:
            reply = {"ok": True, **await handler(self.ctx.engine, req)}
        except SlothError as exc:
            reply = error_reply(str(exc), error_type_of(exc))
        except Exception as exc:  # a bug must cost one reply, not the connection
            log.exception("%s: request %s failed", self.peer, req.get("op", "event"))
            reply = error_reply(f"internal error: {type(exc).__name__}: {exc}", "error")
        if "ref" in req:
            reply["ref"] = req["ref"]
        elif handler is dispatch_event and len(reply) == 2:  # the plain ack: skip json
            return b'{"ok":true,"id":%d}\n' % reply["id"]
        return encode(reply)

    # -- writing ------------------------------------------------------------------

    def _put(self, item: Any) -> None:
        self._out.append(item)
        self._wake.set()

    async def _write_loop(self) -> None:
        """Replies in request order; all that are ready go out in one write (one syscall)."""
        out = self._out
        while True:
            while not out:
                self._wake.clear()
                await self._wake.wait()
            head = out[0]
            if isinstance(head, asyncio.Task) and not head.done():
                await asyncio.wait((head,))
                continue
            parts: list[bytes] = []
            then = None
            end = False
            while out and then is None and len(parts) < MAX_BATCH:
                head = out[0]
                if head is _END:
                    end = True
                    break
                if isinstance(head, asyncio.Task):
                    if not head.done():
                        break
                    data = _task_reply(head)
                elif isinstance(head, _Then):
                    data, then = head.data, head.then
                else:
                    data = head
                out.popleft()
                self._window.release()
                parts.append(data)
            if parts and not self._broken:
                try:
                    self.writer.write(b"".join(parts))
                    if then is not None:
                        then()
                    await self.writer.drain()
                except (ConnectionError, OSError):
                    self._broken = True  # keep going: the remaining requests still run
            if end:
                return

    # -- subscriptions --------------------------------------------------------------

    def _subscribe(self, req: dict[str, Any]) -> _Then:
        if self._subscribed:
            raise ProtocolError("already subscribed on this connection")
        flt = filter_from_wire(req.get("filter"))
        kinds = req.get("kinds") or sorted(NOTICE_KINDS)
        if not isinstance(kinds, list) or not set(kinds) <= NOTICE_KINDS:
            raise ProtocolError(
                f"'kinds' must be a list drawn from {', '.join(sorted(NOTICE_KINDS))}"
            )
        maxsize = req.get("maxsize", 10_000)
        if not isinstance(maxsize, int) or not 1 <= maxsize <= 1_000_000:
            raise ProtocolError("'maxsize' must be an integer between 1 and 1000000")
        self._subscribed = True
        # Dropped notices are always delivered: the subscriber must know it missed some.
        wanted = frozenset(kinds) | {"dropped", "shutdown"}

        def start() -> None:  # once the reply is out, so notices never precede it
            sub = self.ctx.engine.subscribe(maxsize)
            self._pump = asyncio.create_task(self._pump_loop(sub, flt, wanted))

        reply = {"ok": True, "subscribed": sorted(wanted)}
        if "ref" in req:
            reply["ref"] = req["ref"]
        return _Then(encode(reply), start)

    async def _pump_loop(
        self, sub: Subscription, flt: Filter | None, kinds: frozenset[str]
    ) -> None:
        try:
            async for notice in sub:
                if notice.kind not in kinds:
                    continue
                if (
                    flt
                    and notice.kind in ("event", "event_status")
                    and not flt.matches(notice.payload)
                ):
                    continue
                self.writer.write(encode(notice_to_wire(notice)))
                await self.writer.drain()
                if notice.kind == "shutdown":
                    return
        finally:
            sub.close()
