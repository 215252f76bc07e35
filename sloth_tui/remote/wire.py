"""Client side of one socket connection: connect (Unix, or TCP with the token), ask, read.

RemoteEngine (remote/client.py) pools these; `pipeline` is how its dispatch_batch
sends many lines without a round trip each. BlockingConnection is the same client on a
blocking socket, for a one-shot command run without an event loop (commands/common.py
`run(..., oneshot=True)`): its coroutines never suspend, so they can be driven by hand
and the command need not import asyncio at all (issue 19, cli_ratio).
"""

from __future__ import annotations

import contextlib
import json
import socket
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sloth_tui.remote.protocol import DaemonUnavailable, encode, error_from_reply

if TYPE_CHECKING:
    import asyncio

# Replies can be large (a page of 100k events); this caps one line, it allocates nothing.
REPLY_LIMIT = 512 * 1024 * 1024
PIPELINE_CHUNK = 256  # requests written at once by pipeline()


def parse_reply(line: bytes) -> dict[str, Any]:
    """One reply line as both connections read it: a whole line holding a JSON object."""
    if not line.endswith(b"\n"):
        raise ConnectionResetError("the daemon closed the connection")
    value = json.loads(line)
    if not isinstance(value, dict):
        raise ValueError("the daemon sent something that is not a JSON object")
    return value


def _unavailable(address: Address, exc: OSError) -> DaemonUnavailable:
    reason = getattr(exc, "strerror", None) or type(exc).__name__
    return DaemonUnavailable(f"no sloth-tui daemon answers on {address}: {reason}")


@dataclass(frozen=True, slots=True)
class Address:
    """Where the daemon listens: a Unix socket path, or loopback TCP plus its token."""

    path: Path | None = None
    host: str | None = None
    port: int | None = None
    token: str | None = None

    def __str__(self) -> str:
        return str(self.path) if self.path is not None else f"tcp://{self.host}:{self.port}"


class WireConnection:
    """Requests are strictly one at a time here; RemoteEngine pools connections instead."""

    def __init__(
        self, address: Address, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        self.address = address
        self.reader = reader
        self.writer = writer

    @classmethod
    async def open(cls, address: Address, timeout: float = 5.0) -> WireConnection:
        import asyncio

        try:
            if address.path is not None:
                opening = asyncio.open_unix_connection(str(address.path), limit=REPLY_LIMIT)
            else:
                opening = asyncio.open_connection(address.host, address.port, limit=REPLY_LIMIT)
            reader, writer = await asyncio.wait_for(opening, timeout)
        except (OSError, TimeoutError) as exc:
            raise _unavailable(address, exc) from None
        conn = cls(address, reader, writer)
        await _authenticate(conn)
        return conn

    @property
    def usable(self) -> bool:
        """False once the daemon hung up (seen as EOF even while idle)."""
        return not self.writer.is_closing() and not self.reader.at_eof()

    async def send(self, obj: dict[str, Any]) -> None:
        self.writer.write(encode(obj))
        await self.writer.drain()

    async def read(self) -> dict[str, Any]:
        return parse_reply(await self.reader.readline())

    async def request(self, obj: dict[str, Any]) -> dict[str, Any]:
        await self.send(obj)
        return await self.read()

    async def pipeline(self, requests: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """Send every request without waiting between them; the replies, in order.

        Reading goes on while writing: the daemon answers at most a window of requests
        ahead of what its client reads, so a writer that only wrote would stall both.
        """
        import asyncio

        async def write() -> None:
            for start in range(0, len(requests), PIPELINE_CHUNK):
                chunk = requests[start : start + PIPELINE_CHUNK]
                self.writer.write(b"".join(encode(r) for r in chunk))
                await self.writer.drain()

        writing = asyncio.create_task(write())
        try:
            replies = [await self.read() for _ in requests]
        finally:
            if not writing.done():
                writing.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await writing
        return replies

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self.writer.close()


class BlockingConnection:
    """WireConnection's requests on a blocking socket: the same lines, replies and errors.

    Its `async` methods do their I/O in place and never suspend, so a coroutine that uses
    only this (RemoteEngine opened with blocking=True) runs to the end at its first
    `send(None)`: no event loop, no asyncio import. For one request after another only;
    `pipeline` sends them one at a time.
    """

    def __init__(self, address: Address, sock: socket.socket) -> None:
        self.address = address
        self._sock = sock
        self._reader = sock.makefile("rb")

    @classmethod
    async def open(cls, address: Address, timeout: float = 5.0) -> BlockingConnection:
        try:
            if address.path is not None:
                sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
                target: Any = str(address.path)
            else:
                sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
                target = (address.host, address.port)
            try:
                sock.settimeout(timeout)  # connecting, as WireConnection.open waits
                sock.connect(target)
                sock.settimeout(None)  # a reply takes what it takes, as it does there
            except BaseException:
                sock.close()
                raise
        except OSError as exc:  # TimeoutError included
            raise _unavailable(address, exc) from None
        conn = cls(address, sock)
        await _authenticate(conn)
        return conn

    @property
    def usable(self) -> bool:
        """False once the daemon hung up (EOF waiting, or the socket closed)."""
        if self._sock.fileno() < 0:
            return False
        try:
            waiting = self._sock.recv(1, socket.MSG_PEEK | socket.MSG_DONTWAIT)
        except BlockingIOError:
            return True  # nothing to read: still open
        except OSError:
            return False
        return bool(waiting)  # b"": EOF

    async def send(self, obj: dict[str, Any]) -> None:
        self._sock.sendall(encode(obj))

    async def read(self) -> dict[str, Any]:
        line = self._reader.readline(REPLY_LIMIT + 1)
        if len(line) > REPLY_LIMIT:  # asyncio's reader refuses such a line with ValueError
            raise ValueError(f"a reply line is longer than {REPLY_LIMIT} bytes")
        return parse_reply(line)

    async def request(self, obj: dict[str, Any]) -> dict[str, Any]:
        await self.send(obj)
        return await self.read()

    async def pipeline(self, requests: list[dict[str, Any]]) -> list[dict[str, Any]]:
        return [await self.request(r) for r in requests]

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self._reader.close()
        with contextlib.suppress(Exception):
            self._sock.close()


async def _authenticate(conn: WireConnection | BlockingConnection) -> None:
    """A TCP address carries its token: the first request, before any other."""
    if conn.address.token is None:
        return
    reply = await conn.request({"op": "auth", "token": conn.address.token})
    if not reply.get("ok"):
        conn.close()
        raise error_from_reply(reply)
