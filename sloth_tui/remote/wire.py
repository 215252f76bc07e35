"""Client side of one socket connection: connect (Unix, or TCP with the token), ask, read.

RemoteEngine (remote/client.py) pools these; `pipeline` is how its dispatch_batch
sends many lines without a round trip each.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sloth_tui.remote.protocol import DaemonUnavailable, encode, error_from_reply

# Replies can be large (a page of 100k events); this caps one line, it allocates nothing.
REPLY_LIMIT = 512 * 1024 * 1024
PIPELINE_CHUNK = 256  # requests written at once by pipeline()


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
        try:
            if address.path is not None:
                opening = asyncio.open_unix_connection(str(address.path), limit=REPLY_LIMIT)
            else:
                opening = asyncio.open_connection(address.host, address.port, limit=REPLY_LIMIT)
            reader, writer = await asyncio.wait_for(opening, timeout)
        except (OSError, TimeoutError) as exc:
            reason = getattr(exc, "strerror", None) or type(exc).__name__
            raise DaemonUnavailable(f"no sloth-tui daemon answers on {address}: {reason}") from None
        conn = cls(address, reader, writer)
        if address.token is not None:
            reply = await conn.request({"op": "auth", "token": address.token})
            if not reply.get("ok"):
                conn.close()
                raise error_from_reply(reply)
        return conn

    @property
    def usable(self) -> bool:
        """False once the daemon hung up (seen as EOF even while idle)."""
        return not self.writer.is_closing() and not self.reader.at_eof()

    async def send(self, obj: dict[str, Any]) -> None:
        self.writer.write(encode(obj))
        await self.writer.drain()

    async def read(self) -> dict[str, Any]:
        line = await self.reader.readline()
        if not line.endswith(b"\n"):
            raise ConnectionResetError("the daemon closed the connection")
        value = json.loads(line)
        if not isinstance(value, dict):
            raise ValueError("the daemon sent something that is not a JSON object")
        return value

    async def request(self, obj: dict[str, Any]) -> dict[str, Any]:
        await self.send(obj)
        return await self.read()

    async def pipeline(self, requests: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """Send every request without waiting between them; the replies, in order.

        Reading goes on while writing: the daemon answers at most a window of requests
        ahead of what its client reads, so a writer that only wrote would stall both.
        """

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
