"""kind = "port": port.opened when a local TCP port starts listening and port.closed when
it stops, upstream's event names and fields (port, watcher_id), plus the method used.

Two ways to know: psutil's table of connections (a LISTEN socket on the port, any local
address; some systems allow it to root only), or a connect to 127.0.0.1:PORT (works
anywhere, but the service sees a short connection at each look). `method = "auto"`
tries the table at start and keeps to the connect when the table is refused.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket

import psutil

from sloth_tui.sources.watch_base import Found, PolledWatcher, Sleep, WatchError
from sloth_tui.sources.watch_config import PortWatch

CONNECT_TIMEOUT = 1.0


def listening_in_table(port: int) -> bool:
    """Blocking: is a TCP socket listening on `port`? psutil.AccessDenied when refused."""
    return any(
        c.status == psutil.CONN_LISTEN and c.laddr and c.laddr.port == port
        for c in psutil.net_connections(kind="tcp")
    )


def accepts_connect(port: int, timeout: float = CONNECT_TIMEOUT) -> bool:
    """Blocking: does 127.0.0.1:PORT accept a connection?"""
    with (
        contextlib.suppress(OSError),
        socket.create_connection(("127.0.0.1", port), timeout=timeout),
    ):
        return True
    return False


class PortWatcher(PolledWatcher):
    kind = "port"
    produces = ("port.opened", "port.closed")

    def __init__(self, spec: PortWatch, *, sleep: Sleep = asyncio.sleep) -> None:
        super().__init__(spec.name, spec.interval, sleep=sleep)
        self.spec = spec
        self.method = "connect" if spec.method == "connect" else "psutil"
        self.why = ""  # why auto settled for the connect
        self.listening: bool | None = None

    async def prepare(self) -> None:
        if self.spec.method == "connect":
            return
        try:
            await asyncio.to_thread(listening_in_table, self.spec.port)
        except (psutil.AccessDenied, PermissionError) as exc:
            if self.spec.method == "psutil":
                raise WatchError(f"cannot read the connection table: {exc}") from None
            self.method = "connect"
            self.why = " (the connection table needs privileges here)"

    def _look(self) -> bool:
        if self.method == "psutil":
            return listening_in_table(self.spec.port)
        return accepts_connect(self.spec.port)

    async def check(self) -> Found:
        before, self.listening = self.listening, await asyncio.to_thread(self._look)
        if before is None or before == self.listening:
            return []
        data = {"port": self.spec.port, "watcher_id": self.watcher, "method": self.method}
        return [("port.opened" if self.listening else "port.closed", data)]

    def describe(self) -> str:
        how = "psutil's connection table" if self.method == "psutil" else "connect to 127.0.0.1"
        state = {None: "not looked yet", True: "listening", False: "not listening"}
        return (
            f"tcp port {self.spec.port} by {how}{self.why}, every {self.spec.interval:g}s, "
            f"{state[self.listening]}"
        )
