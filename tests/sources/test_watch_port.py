"""kind = "port" on a real listening socket: opened, closed, and which method looks."""

from __future__ import annotations

import socket

import psutil
import pytest
from watchkit import Api, Clock

from sloth_tui.sources import watch_port
from sloth_tui.sources.watch_base import WatchError
from sloth_tui.sources.watch_config import PortWatch
from sloth_tui.sources.watch_port import PortWatcher


def bound() -> socket.socket:
    """A socket that holds a free port without listening on it yet."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    return sock


@pytest.mark.parametrize(("method", "how"), [("psutil", "psutil's"), ("connect", "connect to")])
async def test_opened_then_closed(method: str, how: str) -> None:
    sock = bound()
    port = sock.getsockname()[1]
    clock, api = Clock(), Api()
    w = PortWatcher(PortWatch("web", port=port, method=method), sleep=clock.sleep)
    await w.start(api)  # type: ignore[arg-type]
    try:
        await clock.settled()
        assert api.sent == [] and "not listening" in w.health().detail
        assert how in w.health().detail
        sock.listen()
        await clock.step()
        assert api.sent == [
            ("port.opened", {"port": port, "watcher_id": "web", "method": method}, "watcher:web")
        ]
        await clock.step()
        assert len(api.sent) == 1
        sock.close()
        await clock.step()
        assert api.types() == ["port.opened", "port.closed"]
        assert api.of("port.closed")[0]["port"] == port
    finally:
        sock.close()
        await w.stop()


async def test_auto_prefers_the_table_and_says_so() -> None:
    w = PortWatcher(PortWatch("a", port=9))
    await w.prepare()
    assert w.method == "psutil"
    assert "by psutil's connection table" in w.health().detail


async def test_auto_falls_back_to_connect_when_the_table_is_refused(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Where the table needs privileges (macOS without root) psutil raises AccessDenied.
    def refused(kind: str = "inet") -> list[object]:
        raise psutil.AccessDenied()

    monkeypatch.setattr(watch_port.psutil, "net_connections", refused)
    w = PortWatcher(PortWatch("a", port=9))
    await w.prepare()
    assert w.method == "connect"
    assert "connect to 127.0.0.1 (the connection table needs privileges here)" in (
        w.health().detail
    )
    strict = PortWatcher(PortWatch("s", port=9, method="psutil"))
    with pytest.raises(WatchError, match="cannot read the connection table"):
        await strict.start(Api())  # type: ignore[arg-type]
    assert strict.health().state == "failed"
