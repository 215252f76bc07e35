"""One client connection: read lines, run requests concurrently, write replies in order.

Lines are read in chunks. The plain event lines of a chunk go to the engine
together (EngineAPI.dispatch_batch: one task and one commit for them all), ops
run as their own tasks (their handlers come from the table in remote/ops.py),
and replies go out in request order. A bounded window
of unanswered requests per connection is the backpressure: a client that
never reads its replies stalls only its own reads, never the engine or other
clients.

What a client may cost is bounded (ClientLimits, from config.toml's [server]):
the bytes owed to it and not yet read (replies and notices, queued here or in
the transport's buffer: past the limit it is dropped and told why), the time
a started line may stay unfinished, the time a TCP client has to authenticate,
and the time a connection may sit idle.
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

from sloth_tui.config import ServerSettings
from sloth_tui.engine.api import EngineAPI
from sloth_tui.engine.bus import Notice, Subscription
from sloth_tui.model.errors import EventRefused, SlothError
from sloth_tui.model.filters import Filter
from sloth_tui.model.records import Event
from sloth_tui.remote.ops import NOTICE_KINDS, OPS, EventArgs, Handler, event_line
from sloth_tui.remote.protocol import (
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
DROP_GRACE = 10.0  # seconds a dropped client has to take its last line before the hard close
LINGER = 1.0  # seconds a hung-up client's further bytes are read and discarded (_linger)
NOTICE_WRITE = 256 * 1024  # notices handed to the transport at once: its buffer stays small
_END = object()
_NO_REF = object()


def _waitable(item: Any) -> asyncio.Future[Any] | None:
    """What a reply slot waits on, if anything."""
    if isinstance(item, _Slot):
        return item.batch.done
    return item if isinstance(item, asyncio.Task) else None


def _event_reply(result: Event | SlothError, ref: Any) -> bytes:
    if isinstance(result, Event):
        if ref is _NO_REF and not result.warnings:
            return b'{"ok":true,"id":%d}\n' % result.id  # the hot path skips json
        reply: dict[str, Any] = {"ok": True, "id": result.id}
        if result.warnings:
            reply["warnings"] = result.warnings
    else:
        reply = error_reply(str(result), error_type_of(result))
    if ref is not _NO_REF:
        reply["ref"] = ref
    return encode(reply)


def _task_reply(task: asyncio.Task[bytes]) -> bytes:
    if task.cancelled():
        return encode(error_reply("request cancelled (the daemon is stopping)", "error"))
    return task.result()


class _Batch:
    """Event lines read together; one engine call for all, one reply each."""

    __slots__ = ("args", "done", "refs", "task")

    def __init__(self) -> None:
        self.args: list[EventArgs] = []
        self.refs: list[Any] = []  # each line's "ref", or _NO_REF
        self.done: asyncio.Future[list[bytes]] = asyncio.get_running_loop().create_future()
        self.task: asyncio.Task[None] | None = None  # held here so it is not collected


@dataclass(slots=True)
class _Slot:
    """One event line's place in the reply order."""

    batch: _Batch
    index: int


@dataclass(slots=True)
class _Then:
    """A reply with something to do right after it is written (start a subscription)."""

    data: bytes
    then: Callable[[], None]


@dataclass(frozen=True, slots=True)
class ClientLimits:
    """What one client may cost; see config.ServerSettings for the operator's words."""

    auth_timeout: float = 10.0
    idle_timeout: float = 600.0  # 0: never
    line_timeout: float = 30.0
    max_pending: int = 32 * 1024 * 1024  # bytes owed to the client, not yet read by it

    @classmethod
    def of(cls, server: ServerSettings) -> ClientLimits:
        return cls(
            server.auth_timeout,
            server.idle_timeout,
            server.line_timeout,
            int(server.max_pending_mb * 1024 * 1024),
        )


@dataclass(slots=True)
class ConnContext:
    """What a connection needs from its server."""

    engine: EngineAPI
    ping: Callable[[], dict[str, Any]]
    extra_ops: dict[str, Handler]
    token: str | None  # required first (auth) line when set: TCP
    on_unauthorized: Callable[[str, str], Awaitable[None]]  # (peer, reason)
    limits: ClientLimits = ClientLimits()


class Window:
    """Requests in flight on one connection: one taken per line read, given back as its
    reply goes out. One waiter at most (the read loop), so an Event is enough; and a
    line costs a counter, not a Semaphore's coroutine (issue 19, socket_events_per_s)."""

    def __init__(self, size: int) -> None:
        self.free = size
        self._room = asyncio.Event()

    def take(self) -> bool:
        """Take room for one request now, or False when there is none."""
        if self.free > 0:
            self.free -= 1
            return True
        return False

    async def wait_and_take(self) -> None:
        while not self.take():
            self._room.clear()
            await self._room.wait()

    def give(self, n: int) -> None:
        self.free += n
        self._room.set()


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
        self._batch: _Batch | None = None  # event lines gathered, not yet sent to the engine
        self._window = Window(WINDOW)
        self._broken = False
        self._stopping = False
        self._pump: asyncio.Task[None] | None = None
        self._read_task: asyncio.Task[None] | None = None
        self._owed = 0  # bytes of replies and notices ready here, not yet handed to the transport
        self._notes: deque[bytes] = deque()  # a subscriber's encoded notices, waiting to be sent
        self._notes_wake = asyncio.Event()
        self._notes_done = False
        self._dropped: str | None = None  # why this client was dropped
        self._hang_up: str | None = None  # why the read loop stopped before EOF
        self._last_active = asyncio.get_running_loop().time()

    async def run(self) -> None:
        writer_task = asyncio.create_task(self._write_loop())
        self._read_task = asyncio.create_task(self._read_loop())
        if self._stopping:  # told to stop before it ran: it reads nothing
            self._read_task.cancel()
        try:
            with contextlib.suppress(asyncio.CancelledError, ConnectionError):
                await self._read_task
        finally:
            try:
                await self._finish(writer_task)
            finally:
                # Even when cancelled on the way: a loop that ends with this client still
                # connected cancels every task, and the socket would stay open until the
                # garbage collector found it.
                self.writer.close()
            with contextlib.suppress(ConnectionError, OSError):
                await self.writer.wait_closed()

    async def _finish(self, writer_task: asyncio.Task[None]) -> None:
        """After the last request read: the replies owed, then the pump, then a linger."""
        self._put(_END)
        if self._hang_up is None:
            await writer_task  # every request read gets its reply (acks survive shutdown)
        else:  # what is owed goes out with the reason, to a client that reads in time
            _done, late = await asyncio.wait((writer_task,), timeout=DROP_GRACE)
            if late:
                self.abort()
                await writer_task
        if self._pump is not None:
            if not self._stopping:
                self._pump.cancel()
            with contextlib.suppress(asyncio.CancelledError, ConnectionError):
                await self._pump
        if self._hang_up is not None:
            await self._linger()

    async def _linger(self) -> None:
        """Hanging up on a client that may still be sending: end our side first (EOF after
        the last line), then read and discard for a moment. Closing a socket with unread
        bytes in it makes the peer's next read fail with ECONNRESET, and a client reading
        to EOF (asyncio's read(), a shell's socat) then loses the reason line it had
        already received."""
        transport = self.writer.transport
        if transport.is_closing() or not self.writer.can_write_eof():
            return
        with contextlib.suppress(OSError, RuntimeError):
            self.writer.write_eof()
        deadline = asyncio.get_running_loop().time() + LINGER
        with contextlib.suppress(OSError, ConnectionError, asyncio.TimeoutError):
            while (left := deadline - asyncio.get_running_loop().time()) > 0:
                if not await asyncio.wait_for(self.reader.read(CHUNK), left):
                    return  # the client closed too

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
        loop = asyncio.get_running_loop()
        limits = self.ctx.limits
        auth_deadline = loop.time() + limits.auth_timeout
        line_since = 0.0  # when the unfinished line began (while reading: see below)
        try:
            while True:
                # Read with the nearest deadline that applies: the token, the line, idleness.
                if not self._authed:
                    deadline: float | None = auth_deadline
                elif splitter.partial:
                    deadline = line_since + limits.line_timeout
                elif limits.idle_timeout and not self._subscribed:
                    deadline = self._last_active + limits.idle_timeout
                else:
                    deadline = None
                try:
                    async with asyncio.timeout_at(deadline):
                        chunk = await self.reader.read(CHUNK)
                except TimeoutError:
                    if await self._timed_out(splitter.partial):
                        return
                    continue
                now = loop.time()
                self._last_active = now
                if not chunk:
                    if splitter.partial:
                        log.debug(
                            "%s: disconnected mid-line; the partial line is dropped", self.peer
                        )
                    return
                waited = False
                window = self._window
                for item in splitter.feed(chunk):
                    if not window.take():
                        self._flush()  # what is gathered must start before we wait for room
                        waited = True
                        await window.wait_and_take()
                    if self._authed:
                        self._put(self._start(item))
                    elif not await self._authenticate(item):
                        return
                self._flush()
                if splitter.renewed or waited:  # a new line began (or we were not reading)
                    line_since = loop.time() if waited else now
        finally:
            self._flush()

    async def _timed_out(self, partial: bool) -> bool:
        """A read deadline passed: hang up (True), or not after all (False: busy, not idle)."""
        limits = self.ctx.limits
        if not self._authed:
            reason = f"no auth line within {limits.auth_timeout:g} s"
            self._put(encode(error_reply(f"unauthorized: {reason}", "unauthorized")))
            self._hang_up = reason
            await self.ctx.on_unauthorized(self.peer, reason)
            return True
        if partial:
            reason = f"a line was left unfinished for {limits.line_timeout:g} s"
            log.warning("%s: dropped: %s", self.peer, reason)
            self._put(encode(error_reply(reason, "timeout")))
            self._hang_up = reason
            return True
        if self._out:  # a request is still being answered: busy, not idle
            self._last_active = asyncio.get_running_loop().time()
            return False
        # Silently, as an HTTP server closes an idle keep-alive connection: a pooled client
        # sees the EOF and opens a new connection, and reads no stray line as a reply.
        log.info("%s: idle for %g s; hanging up", self.peer, limits.idle_timeout)
        self._hang_up = "idle"
        return True

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
        """The reply slot for one line: bytes now, a task, or a place in an event batch."""
        if isinstance(item, TooLong):
            return encode(error_reply(f"line is {item.size} bytes; the limit is 1 MiB"))
        try:
            req = decode_line(item)
            op = req.get("op")
            if op is None:
                return self._gather(req)
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
        # effect (add_hook then an event must run the hook). Events between ops still
        # go in batches, which is what keeps ingest fast.
        self._flush()
        earlier = tuple(
            w for w in (_waitable(x) for x in self._out) if w is not None and not w.done()
        )
        self._barrier = asyncio.create_task(self._run(handler, req, earlier))
        return self._barrier

    def _gather(self, req: dict[str, Any]) -> _Slot:
        args = event_line(req)  # ProtocolError: answered at once, not batched
        if self._batch is None:
            self._batch = _Batch()
            self._batch.done.add_done_callback(self._charge_batch)
        batch = self._batch
        batch.args.append(args)
        batch.refs.append(req.get("ref", _NO_REF))
        return _Slot(batch, len(batch.args) - 1)

    def _flush(self) -> None:
        """Send the gathered event lines to the engine, after the last op if it is running."""
        batch, self._batch = self._batch, None
        if batch is not None:
            barrier = self._barrier if self._barrier and not self._barrier.done() else None
            batch.task = asyncio.create_task(self._run_batch(batch, barrier))

    async def _run_batch(self, batch: _Batch, barrier: asyncio.Task[bytes] | None) -> None:
        n = len(batch.args)
        results: list[Event | EventRefused | SlothError] = [
            SlothError("request cancelled (the daemon is stopping)")
        ] * n
        try:
            if barrier is not None:
                await asyncio.wait((barrier,))
            results = list(await self.ctx.engine.dispatch_batch(batch.args))
        except SlothError as exc:  # the engine is stopping: every line gets the reason
            results = [exc] * n
        except Exception as exc:  # a bug must cost these replies, not the connection
            log.exception("%s: a batch of %d events failed", self.peer, n)
            results = [SlothError(f"internal error: {type(exc).__name__}: {exc}")] * n
        finally:  # always, or the replies behind these would wait forever
            batch.done.set_result(
                [_event_reply(r, ref) for r, ref in zip(results, batch.refs, strict=True)]
            )

    async def _run(
        self, handler: Handler, req: dict[str, Any], after: tuple[asyncio.Future[Any], ...] = ()
    ) -> bytes:
        if after:
            await asyncio.wait(after)
        try:
            reply = {"ok": True, **await handler(self.ctx.engine, req)}
        except SlothError as exc:
            reply = error_reply(str(exc), error_type_of(exc))
        except Exception as exc:  # a bug must cost one reply, not the connection
            log.exception("%s: request %s failed", self.peer, req.get("op"))
            reply = error_reply(f"internal error: {type(exc).__name__}: {exc}", "error")
        if "ref" in req:
            reply["ref"] = req["ref"]
        return encode(reply)

    # -- writing ------------------------------------------------------------------

    def _put(self, item: Any) -> None:
        self._out.append(item)
        self._wake.set()
        if isinstance(item, bytes):
            self._charge(len(item))
        elif isinstance(item, _Then):
            self._charge(len(item.data))
        elif isinstance(item, asyncio.Task):
            item.add_done_callback(self._charge_task)

    # -- what the client owes us reading: bytes, bounded ---------------------------------

    def _charge_task(self, task: asyncio.Task[bytes]) -> None:
        self._charge(len(_task_reply(task)))

    def _charge_batch(self, done: asyncio.Future[list[bytes]]) -> None:
        self._charge(sum(len(r) for r in done.result()))

    def _charge(self, size: int) -> None:
        """`size` more bytes are ready for the client. One reply may be bigger than the
        limit (a large page goes out whole to a client that reads it); what piles up
        behind it may not."""
        self._owed += size
        if self._broken:
            return
        limit = self.ctx.limits.max_pending
        total = self._owed + self.writer.transport.get_write_buffer_size()
        if total > limit and total > size:
            self._drop(
                f"dropped: {total} bytes of replies and notices were waiting to be read; "
                f"the limit is {limit} (read faster, or raise [server] max_pending_mb)"
            )

    def _drop(self, reason: str) -> None:
        """Too far behind: say why if the line can still go, free what is owed, hang up."""
        if self._dropped is not None:
            return
        self._dropped = reason
        log.warning("%s: %s", self.peer, reason)
        transport = self.writer.transport
        if not transport.is_closing():
            transport.write(encode(error_reply(reason, "too_slow")))
        self._broken = True  # the write loop still pops (and frees) the replies owed
        self._owed -= sum(len(n) for n in self._notes)
        self._notes.clear()
        self._hang_up = reason
        if self._read_task is not None:
            self._read_task.cancel()
        if self._pump is not None:
            self._pump.cancel()
        transport.close()  # after the buffered bytes, the last line among them
        asyncio.get_running_loop().call_later(DROP_GRACE, transport.abort)

    async def _write_loop(self) -> None:
        """Replies in request order; all that are ready go out in one write (one syscall)."""
        out = self._out
        while True:
            while not out:
                self._wake.clear()
                await self._wake.wait()
            pending = _waitable(out[0])
            if pending is not None and not pending.done():
                await asyncio.wait((pending,))
                continue
            parts: list[bytes] = []
            then = None
            end = False
            while out and then is None and len(parts) < MAX_BATCH:
                head = out[0]
                if head is _END:
                    end = True
                    break
                if isinstance(head, _Slot):
                    if not head.batch.done.done():
                        break
                    data = head.batch.done.result()[head.index]
                elif isinstance(head, asyncio.Task):
                    if not head.done():
                        break
                    data = _task_reply(head)
                elif isinstance(head, _Then):
                    data, then = head.data, head.then
                else:
                    data = head
                out.popleft()
                parts.append(data)
            if parts:
                self._window.give(len(parts))
                self._owed -= sum(len(p) for p in parts)
            if parts and not self._broken:
                try:
                    self.writer.write(b"".join(parts))
                    self._last_active = asyncio.get_running_loop().time()
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
            self._pump = asyncio.create_task(self._pump_loop(sub, flt, wanted, maxsize))

        reply = {"ok": True, "subscribed": sorted(wanted)}
        if "ref" in req:
            reply["ref"] = req["ref"]
        return _Then(encode(reply), start)

    async def _pump_loop(
        self, sub: Subscription, flt: Filter | None, kinds: frozenset[str], maxsize: int
    ) -> None:
        """Take notices off the engine's queue as they come and keep them encoded here, so
        what a slow subscriber is owed is counted in bytes (`_charge`) as well as in
        notices (`maxsize`: past it, notices are dropped and the count is reported)."""
        sender = asyncio.create_task(self._send_notices())
        missed = 0
        try:
            async for notice in sub:
                if self._broken or sender.done():
                    return  # the client is gone, or dropped
                kind = notice.kind
                if kind == "dropped":  # the engine's queue overflowed before we took them
                    missed += int(notice.payload)
                    continue
                if kind not in kinds:
                    continue
                if flt and kind in ("event", "event_status") and not flt.matches(notice.payload):
                    continue
                last = kind == "shutdown"
                if len(self._notes) >= maxsize and not last:
                    missed += 1
                    continue
                if missed:
                    self._queue_notice(Notice("dropped", missed))
                    missed = 0
                self._queue_notice(notice)
                if last:
                    break
            self._notes_done = True
            self._notes_wake.set()
            await sender
        finally:
            sender.cancel()
            sub.close()

    def _queue_notice(self, notice: Notice) -> None:
        data = encode(notice_to_wire(notice))
        self._notes.append(data)
        self._notes_wake.set()
        self._charge(len(data))

    async def _send_notices(self) -> None:
        notes = self._notes
        loop = asyncio.get_running_loop()
        while True:
            if not notes:
                if self._notes_done or self._broken:
                    return
                self._notes_wake.clear()
                await self._notes_wake.wait()
                continue
            # A bounded piece at a time: what waits stays here, where `_drop` can free it,
            # and the reason it writes is not stuck behind megabytes in the transport.
            parts = [notes.popleft()]
            size = len(parts[0])
            while notes and size < NOTICE_WRITE:
                parts.append(notes.popleft())
                size += len(parts[-1])
            data = b"".join(parts)
            self._owed -= size
            if self._broken:
                return
            try:
                self.writer.write(data)
                self._last_active = loop.time()
                await self.writer.drain()
            except (ConnectionError, OSError):
                self._broken = True
                return
