"""The socket server: a Unix socket (mode 0600) and optionally loopback TCP with a token.

Shutdown is two-phase so nothing acknowledged is lost and subscribers see the
end: `stop_intake()` stops taking requests and waits for the replies owed,
then the engine closes (running hooks end within their deadlines, queued ones
stay for the next start, system.shutdown recorded), then `close()` lets
subscribers receive the last notices and hangs up. `abort()` is the second
signal's path. The order around the engine is kept by sources/wiring.py
(SourceSet.stop), where the server is one source among the producers.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import logging
import os
import socket
import stat
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sloth_tui import __version__
from sloth_tui.model.errors import EventRefused, SlothError
from sloth_tui.remote.connection import ClientLimits, ConnContext, Connection
from sloth_tui.remote.listen_close import close_listeners
from sloth_tui.remote.ops import Handler
from sloth_tui.remote.protocol import MAX_LINE, PROTOCOL_VERSION, encode
from sloth_tui.user_path import user_path

if TYPE_CHECKING:
    from sloth_tui.engine.api import EngineAPI

log = logging.getLogger("sloth_tui.serve")

MAX_UNIX_PATH = 107  # sun_path holds 108 bytes with the terminating NUL
REFUSAL_WINDOW = 10.0  # seconds: at most one security.unauthorized event per peer per window


class ServerError(SlothError):
    pass


class RefusalLimiter:
    """At most one recorded refusal per peer address per window: a client guessing tokens
    in a loop must not fill the store (or the log). Refusals in between are counted and
    reported by the next one recorded."""

    def __init__(
        self, window: float = REFUSAL_WINDOW, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.window = window
        self.clock = clock
        self._peers: dict[str, tuple[float, int]] = {}  # ip -> (last recorded, held back since)

    def admit(self, ip: str) -> int | None:
        """None: do not record this refusal; else how many were held back before it."""
        now = self.clock()
        last = self._peers.get(ip)
        if last is not None and now - last[0] < self.window:
            self._peers[ip] = (last[0], last[1] + 1)
            return None
        if len(self._peers) >= 4096:  # many peers: forget them rather than grow
            self._peers.clear()
        self._peers[ip] = (now, 0)
        return last[1] if last is not None else 0


@dataclass(frozen=True, slots=True)
class TcpAddress:
    host: str
    port: int

    @classmethod
    def parse(cls, text: str, option: str = "--tcp") -> TcpAddress:
        """`127.0.0.1:7071`, `[::1]:7071` or `localhost:7071`; loopback only."""
        host, sep, port = text.rpartition(":")
        host = host.strip("[]")
        if not sep or not host or not port.isdigit() or not 0 <= int(port) <= 65535:
            raise ServerError(f"{option} {text!r}: expected HOST:PORT such as 127.0.0.1:7071")
        if host != "localhost":
            try:
                loopback = ipaddress.ip_address(host).is_loopback
            except ValueError:
                loopback = False
            if not loopback:
                raise ServerError(
                    f"{option} {text!r}: only loopback addresses (127.0.0.1, ::1, localhost) are "
                    "allowed; use an SSH tunnel to reach the daemon from elsewhere"
                )
        return cls(host, int(port))


async def _answers(path: Path, timeout: float = 1.0) -> bool:
    """Does something answer a ping on `path`? (Async: it may be this very process.)"""
    try:
        reader, writer = await asyncio.wait_for(asyncio.open_unix_connection(str(path)), timeout)
    except (OSError, TimeoutError):
        return False
    try:
        writer.write(encode({"op": "ping"}))
        reply = await asyncio.wait_for(reader.readline(), timeout)
        return reply.startswith(b'{"ok":true')
    except (OSError, TimeoutError):
        return False
    finally:
        writer.close()


def read_token(path: str | Path) -> str:
    try:
        token = user_path(path).read_text(encoding="utf-8").strip()
    except (OSError, UnicodeDecodeError) as exc:
        raise ServerError(f"cannot read the token file {path}: {exc}") from None
    if len(token) < 16:
        raise ServerError(f"the token in {path} is shorter than 16 characters")
    return token


class SocketServer:
    def __init__(
        self,
        engine: EngineAPI,
        socket_path: Path,
        *,
        tcp: TcpAddress | None = None,
        token: str | None = None,
        extra_ops: dict[str, Handler] | None = None,
        role: str = "serve",
    ) -> None:
        if tcp is not None and not token:
            raise ServerError("--tcp needs --token-file: TCP clients must present a token")
        self.engine = engine
        self.socket_path = socket_path
        self.role = role  # "serve", or "dashboard" for a dashboard's embedded engine
        self.tcp = tcp
        self.tcp_port: int | None = None
        # What one client may cost, and the burst of connects the kernel holds for us.
        self.limits = ClientLimits.of(engine.settings.server)
        self.backlog = engine.settings.server.backlog
        ops = dict(extra_ops or {})
        self._ctx = ConnContext(engine, self._ping, ops, None, self._unauthorized, self.limits)
        self._tcp_ctx = ConnContext(engine, self._ping, ops, token, self._unauthorized, self.limits)
        self._servers: list[asyncio.Server] = []
        self._conns: dict[Connection, asyncio.Task[None]] = {}
        self._socket_ino = -1
        self._refusals = RefusalLimiter()
        self._intake_stopped = False

    @classmethod
    def serving(
        cls,
        api: EngineAPI,
        socket_path: Path,
        *,
        tcp: TcpAddress | None = None,
        token: str | None = None,
        extra_ops: dict[str, Handler] | None = None,
        role: str = "serve",
    ) -> SocketServer:
        """A server for the engine a source is started with."""
        return cls(api, socket_path, tcp=tcp, token=token, extra_ops=extra_ops, role=role)

    # -- lifecycle ------------------------------------------------------------------

    async def start(self) -> None:
        self._servers.append(await self._start_unix())
        if self.tcp is not None:
            server = await asyncio.start_server(
                self._on_tcp,
                self.tcp.host,
                self.tcp.port,
                limit=MAX_LINE + 1,
                backlog=self.backlog,
            )
            self._servers.append(server)
            self.tcp_port = server.sockets[0].getsockname()[1]
            log.info("listening on tcp %s:%d (token required)", self.tcp.host, self.tcp_port)

    async def _start_unix(self) -> asyncio.Server:
        path = self.socket_path
        if len(os.fsencode(path)) > MAX_UNIX_PATH:
            raise ServerError(
                f"socket path {path} is {len(os.fsencode(path))} bytes; Unix sockets allow at "
                f"most {MAX_UNIX_PATH} (use --socket with a shorter path)"
            )
        path.parent.mkdir(parents=True, exist_ok=True)
        if path.exists() or path.is_symlink():
            if not stat.S_ISSOCK(path.lstat().st_mode):
                raise ServerError(f"{path} exists and is not a socket; move it or use --socket")
            if await _answers(path):
                raise ServerError(f"another sloth-tui daemon already answers on {path}")
            path.unlink()  # stale: left by a daemon that was killed
        old = os.umask(0o177)  # born 0600: no window where others could connect
        try:
            server = await asyncio.start_unix_server(
                self._on_unix, path=str(path), limit=MAX_LINE + 1, backlog=self.backlog
            )
        finally:
            os.umask(old)
        os.chmod(path, 0o600)
        self._socket_ino = path.lstat().st_ino
        log.info("listening on %s", path)
        return server

    async def stop_intake(self, timeout: float = 10.0) -> None:
        """Stop accepting and reading; wait (bounded) for the replies already owed."""
        self._intake_stopped = True
        await close_listeners(self._servers)  # a connection accepted now is hung up on
        for conn in list(self._conns):
            conn.stop_reading()
        pending = [t for c, t in self._conns.items() if not c.subscribed]
        if pending:
            _done, late = await asyncio.wait(pending, timeout=timeout)
            for conn, task in list(self._conns.items()):
                if task in late:
                    log.warning("%s: not reading its replies; dropping it", conn.peer)
                    conn.abort()
            if late:
                await asyncio.wait(late, timeout=1.0)

    async def close(self, timeout: float = 2.0) -> None:
        """After the engine closed: subscribers got `shutdown`; hang up on everyone."""
        tasks = list(self._conns.values())
        if tasks:
            _done, late = await asyncio.wait(tasks, timeout=timeout)
            for conn, task in list(self._conns.items()):
                if task in late:
                    conn.abort()
            await asyncio.wait(tasks, timeout=timeout)
        for server in self._servers:
            with contextlib.suppress(Exception):
                await server.wait_closed()
        with contextlib.suppress(FileNotFoundError):
            if self.socket_path.lstat().st_ino == self._socket_ino:  # ours, not a successor's
                self.socket_path.unlink()

    def abort(self) -> None:
        """A second signal during a stop: hang up on everyone and remove the socket file,
        without waiting for any reply."""
        for listener in self._servers:
            listener.close()
        for conn in list(self._conns):
            conn.abort()
        with contextlib.suppress(FileNotFoundError):
            if self.socket_path.lstat().st_ino == self._socket_ino:
                self.socket_path.unlink()

    # -- connections ------------------------------------------------------------------

    async def _on_unix(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await self._serve(Connection(self._ctx, reader, writer, "unix"))

    async def _on_tcp(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        peer = writer.get_extra_info("peername") or ("?", 0)
        sock = writer.get_extra_info("socket")
        if sock is not None:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        await self._serve(Connection(self._tcp_ctx, reader, writer, f"{peer[0]}:{peer[1]}"))

    async def _serve(self, conn: Connection) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._conns[conn] = task
        log.debug("%s: connected", conn.peer)
        if self._intake_stopped:  # accepted as intake stopped: hung up on, nothing read
            conn.stop_reading()
        try:
            await conn.run()
        finally:
            del self._conns[conn]
            log.debug("%s: disconnected", conn.peer)

    @property
    def connection_count(self) -> int:
        return len(self._conns)

    def _ping(self) -> dict[str, Any]:
        return {
            "version": __version__,
            "protocol": PROTOCOL_VERSION,
            "pid": os.getpid(),
            "role": self.role,
            "home": str(self.engine.settings.home),
            "socket": str(self.socket_path),
            "hooks_dir": str(self.engine.settings.hooks_dir),
            "started": self.engine.started,
            "uptime": round(time.time() - self.engine.started, 3),
            "stats": self.engine.stats().to_dict(),
        }

    async def _unauthorized(self, peer: str, reason: str) -> None:
        """A wrong or missing token: refused, and recorded where operators will see it
        (once per peer per REFUSAL_WINDOW; the next record counts those held back)."""
        ip = peer.rpartition(":")[0] or peer
        held_back = self._refusals.admit(ip)
        if held_back is None:
            log.debug("%s: refused (%s), not recorded: repeated within the window", peer, reason)
            return
        log.warning("%s: refused (%s)", peer, reason)
        assert self.tcp is not None
        data: dict[str, Any] = {
            "user": "unknown",
            "resource": f"tcp://{self.tcp.host}:{self.tcp_port}",
            "action": "connect",
            "ip_address": ip,
            "reason": reason,
        }
        if held_back:
            data["refused_since_last"] = held_back
        with contextlib.suppress(EventRefused):
            await self.engine.dispatch("security.unauthorized", data, source="socket")
