"""engine/stale_fd.py: a connection that inherits the event loop's registration of a
closed socket is still read.

The CI failure it repairs (session 23): after nats-server was killed mid-publish, the
NATS client's socket went with a writer still registered; the next producer's
connection got the same fd number, its transport's reader registration failed on the
stale entry (ENOENT, "Exception in callback _SelectorTransport._add_reader"), and the
daemon never read it: 0 of 20 acks. Made here on purpose with real sockets: a writer
registered on a socket that is then closed, and a new socket given its fd number."""

from __future__ import annotations

import asyncio
import logging
import socket
from typing import Any

import pytest

from sloth_tui.config import Settings
from sloth_tui.engine import stale_fd
from sloth_tui.engine.engine import Engine


class Received(asyncio.Protocol):
    def __init__(self) -> None:
        self.data = asyncio.get_running_loop().create_future()

    def data_received(self, data: bytes) -> None:
        if not self.data.done():
            self.data.set_result(data)


async def _connection_on_a_stale_fd() -> tuple[Received, socket.socket]:
    """A transport on a socket whose fd number a closed socket left registered."""
    loop = asyncio.get_running_loop()
    gone, peer = socket.socketpair()
    stale = gone.fileno()
    loop.add_writer(stale, lambda: None)  # a write pending...
    gone.close()  # ...when the socket went, its registration left behind
    peer.close()
    mine, theirs = socket.socketpair()
    if stale not in (mine.fileno(), theirs.fileno()):
        mine.close()
        theirs.close()
        pytest.skip("the freed fd number went elsewhere")  # never seen: lowest free first
    if theirs.fileno() == stale:
        mine, theirs = theirs, mine
    _transport, protocol = await loop.create_connection(Received, sock=mine)
    return protocol, theirs


async def test_a_connection_on_a_stale_fd_is_read(
    settings: Settings, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="sloth_tui")
    engine = await Engine.open(settings)  # an engine that runs installs the repair
    try:
        protocol, client = await _connection_on_a_stale_fd()
        with client:
            client.sendall(b"hello")
            assert await asyncio.wait_for(protocol.data, 10) == b"hello"
        said = [r.getMessage() for r in caplog.records if "inherited" in r.getMessage()]
        assert len(said) == 1 and "registered again" in said[0], said
    finally:
        await engine.close()


async def test_other_exceptions_go_to_the_handler_there_was() -> None:
    loop = asyncio.get_running_loop()
    seen: list[dict[str, Any]] = []
    before = loop.get_exception_handler()
    loop.set_exception_handler(lambda _loop, context: seen.append(context))
    try:
        stale_fd.install(loop)
        stale_fd.install(loop)  # once per loop: a second engine adds nothing
        handler = loop.get_exception_handler()
        loop.call_exception_handler({"message": "m", "exception": FileNotFoundError(2, "x")})
        loop.call_exception_handler({"message": "other", "exception": ValueError("v")})
        assert [c["message"] for c in seen] == ["m", "other"]
        stale_fd.install(loop)
        assert loop.get_exception_handler() is handler
    finally:
        loop.set_exception_handler(before)
