"""fleet/writelines_guard.py: writelines() after a lost connection (CPython gh-136234).

On Python 3.12.1 and 3.13.0 without the guard, the first test fails (the closed socket's
writer is still registered: remove_writer answers True) and so does the second
(AttributeError). Python 3.11's writelines() goes through write(): nothing to guard, and
the tests hold there as they are. Real TCP connections on loopback throughout."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import pytest

from sloth_tui.fleet import writelines_guard
from sloth_tui.fleet.link import FleetLink


@asynccontextmanager
async def _connection() -> AsyncIterator[tuple[asyncio.StreamWriter, asyncio.Queue[bytes]]]:
    """A client's writer to a local server, and what the server reads (b"" at its end)."""
    received: asyncio.Queue[bytes] = asyncio.Queue()

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while chunk := await reader.read(1 << 16):
                received.put_nowait(chunk)
        except ConnectionError:
            pass
        received.put_nowait(b"")
        writer.close()

    server = await asyncio.start_server(serve, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        _reader, writer = await asyncio.open_connection("127.0.0.1", port)
        try:
            yield writer, received
        finally:
            writer.close()
    finally:
        server.close()
        await server.wait_closed()


async def test_writelines_after_the_connection_is_lost_leaves_no_registration() -> None:
    writelines_guard.install()
    loop = asyncio.get_running_loop()
    async with _connection() as (writer, _received):
        fd = writer.get_extra_info("socket").fileno()
        writer.transport.abort()  # lost, as on a reset read: the close runs next iteration
        writer.writelines([b"PUB a 1\r\n", b"x\r\n"])  # a flusher that runs before it
        await writer.wait_closed()
        assert not loop.remove_writer(fd), "the closed socket is still registered"


async def test_writelines_after_the_close_is_dropped_not_an_error() -> None:
    writelines_guard.install()
    async with _connection() as (writer, _received):
        writer.transport.abort()
        await writer.wait_closed()
        writer.writelines([b"late"])  # AttributeError on 3.12.1 without the guard
        writer.write(b"late")  # what write() does with it: nothing


async def test_writelines_still_writes_everything_in_order() -> None:
    writelines_guard.install()
    chunks = [bytes([65 + i % 26]) * (1 << 16) for i in range(64)]  # 4 MiB: the socket fills
    async with _connection() as (writer, received):
        writer.writelines(chunks)
        await writer.drain()
        writer.close()
        await writer.wait_closed()
        got = bytearray()
        while chunk := await asyncio.wait_for(received.get(), 30):
            got += chunk
    assert bytes(got) == b"".join(chunks)


def test_install_is_once_and_only_where_writelines_is_the_transports_own() -> None:
    from asyncio import selector_events

    own = "writelines" in vars(selector_events._SelectorSocketTransport)
    assert writelines_guard.install() is own
    first = selector_events._SelectorSocketTransport.writelines
    assert writelines_guard.install() is own
    assert selector_events._SelectorSocketTransport.writelines is first  # not wrapped twice
    assert own is (sys.version_info >= (3, 12))


async def test_the_fleet_link_installs_it_before_connecting(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """FleetLink guards the process before nats-py's first connection (the flusher is
    nats-py's, and it writes with writelines())."""
    installed: list[bool] = []
    monkeypatch.setattr(writelines_guard, "install", lambda: installed.append(True) or True)
    from sloth_tui.fleet.settings import FleetSettings

    link = FleetLink(FleetSettings(servers=("nats://127.0.0.1:1",), name="t"))
    await link.start()
    try:
        async with asyncio.timeout(10):
            while not installed:
                await asyncio.sleep(0.01)
    finally:
        await link.stop()
    assert installed
