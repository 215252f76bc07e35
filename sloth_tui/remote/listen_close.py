"""Closing asyncio listeners without stranding a connection accepted this very turn.

asyncio accepts in the listener's callback and builds the connection's transport in a
task one loop turn later. A server closed in between fails that build: an
AssertionError asyncio reports only in debug mode. The accepted socket is then left to
the garbage collector, its client waiting on a connection nobody serves, and on
3.13.0 the transport's finalizer raises in Server._detach.

So: stop the listeners' callbacks first (which cancels one already queued for this
turn), let the builds already scheduled run, and only then close. Connections built in
that turn reach the server's protocol factory as usual: the caller decides what they
get (the socket server hangs up after reading nothing; the HTTP listener answers 503).
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable


async def close_listeners(servers: Iterable[asyncio.Server]) -> None:
    servers = list(servers)
    loop = asyncio.get_running_loop()
    for server in servers:
        for sock in server.sockets:  # () once closed: a second call is harmless
            loop.remove_reader(sock.fileno())
    await asyncio.sleep(0)  # the builds were queued before this wake-up: they run first
    for server in servers:
        server.close()
