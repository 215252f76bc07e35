"""A NATS connection lost while nats-py's flusher has a publish to write leaves no
registration of its closed socket with the event loop (fleet/writelines_guard.py).

The failure it prevents (CI, session 23, Python 3.12.1): the flusher's writelines() ran
between the lost connection and its close, registered a writer, and the close left it
behind; the daemon's next accepted connection got that fd number and was never read.
Real nats-server; the one seam is nats-py's transport, aborted here as a reset read
would: the flusher, kicked by the publish just before, runs before the close."""

from __future__ import annotations

import asyncio

from natskit import NatsServer

from sloth_tui.fleet.link import FleetLink
from sloth_tui.fleet.settings import FleetSettings


async def test_a_publish_flushed_as_the_connection_is_lost_leaves_no_registration(
    nats_server: NatsServer,
) -> None:
    link = FleetLink(FleetSettings(servers=(nats_server.url,), name="lost"))
    await link.start()
    try:
        assert await link.wait_connected(15)
        nc = link.nc
        assert nc is not None
        writer = nc._transport._io_writer  # type: ignore[attr-defined]  # nats-py's stream
        fd = writer.get_extra_info("socket").fileno()
        await nc.publish("lost.x", b"in flight")  # the flusher is woken: it runs next
        writer.transport.abort()  # lost, as on a reset read; the close runs next, after it
        await asyncio.sleep(0)  # one turn of the loop: the flusher, then the close
        assert writer.transport.is_closing()
        assert not asyncio.get_running_loop().remove_writer(fd), "closed, still registered"
    finally:
        await link.stop()
