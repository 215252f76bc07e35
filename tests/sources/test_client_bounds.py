"""What one socket client may cost the daemon (issue 11, item 5), over real sockets.

Memory is the daemon's RSS (a `serve` subprocess, measured with psutil) where the bound is
about memory; the timeouts run against an in-process server with small limits, so each
test takes seconds.
"""

from __future__ import annotations

import asyncio
import json
import socket
import sys
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import psutil
import pytest
from sourcekit import DaemonProcess, ask, async_wait_for, wait_for, write_config

from sloth_tui.config import ConfigError, ServerSettings, Settings, load_settings
from sloth_tui.engine.engine import Engine
from sloth_tui.remote.client import RemoteEngine
from sloth_tui.remote.notices import NoticeStream
from sloth_tui.remote.protocol import LineSplitter
from sloth_tui.remote.server import SocketServer, TcpAddress
from sloth_tui.remote.wire import Address

MiB = 1024 * 1024
TOKEN = "t" * 32


def line(obj: Any) -> bytes:
    return json.dumps(obj).encode() + b"\n"


def rss(proc: psutil.Process) -> int:
    return int(proc.memory_info().rss)


def read_all(sock: socket.socket, timeout: float = 10.0) -> bytes:
    """Everything the daemon sends until it hangs up (bounded by `timeout`)."""
    sock.settimeout(timeout)
    data = b""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            chunk = sock.recv(1 << 20)
        except ConnectionResetError:
            break
        if not chunk:
            break
        data += chunk
    return data


def small_socket(path: Path) -> socket.socket:
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.connect(str(path))
    return sock


# -- config ---------------------------------------------------------------------------


def test_server_limits_come_from_config_and_are_checked(home: Path) -> None:
    write_config(home, "[server]\nidle_timeout = 0\nmax_pending_mb = 0.5\nbacklog = 64\n")
    server = load_settings(home).server
    assert (server.idle_timeout, server.max_pending_mb, server.backlog) == (0, 0.5, 64)
    for bad in ("backlog = 0", "line_timeout = nan", "auth_timeout = -1", "max_pending_mb = 0"):
        write_config(home, f"[server]\n{bad}\n")
        with pytest.raises(ConfigError, match=r"\[server\]: .* is out of range"):
            load_settings(home)


# -- memory: subscribers and unread replies, in bytes (serve subprocess) ---------------


@pytest.fixture
def bounded_daemon(daemons: Callable[[Path | None], DaemonProcess], home: Path) -> DaemonProcess:
    write_config(home, "[server]\nmax_pending_mb = 1\n[monitor]\nenabled = false\n")
    return daemons(home).start("--no-watchers")


def test_a_subscriber_that_never_reads_is_dropped_in_bytes(bounded_daemon: DaemonProcess) -> None:
    """maxsize 1,000,000 notices, never read: the daemon used to keep every one of them."""
    daemon = bounded_daemon
    proc = psutil.Process(daemon.proc.pid)  # type: ignore[union-attr]
    sub = small_socket(daemon.socket)
    sub.sendall(line({"op": "subscribe", "kinds": ["event"], "maxsize": 1_000_000}))
    before = rss(proc)
    payload = {"name": "n", "message": "m", "payload": {"blob": "x" * 16_000}}
    for _ in range(6):  # 3,000 events of 16 kB: 48 MB of notices owed to the subscriber
        replies = ask(daemon.socket, *[line({"type": "custom", "data": payload})] * 500)
        assert all(r["ok"] for r in replies)
    grown = (rss(proc) - before) / MiB
    assert grown < 30, f"the daemon grew {grown:.0f} MiB for one subscriber that never reads"
    wait_for(lambda: "dropped" in daemon.output(), what="the daemon to log the drop")
    lines = read_all(sub).splitlines()
    sub.close()
    last = json.loads(lines[-1])
    assert last["ok"] is False and last["error_type"] == "too_slow", last
    assert "bytes" in last["error"] and "\n" not in last["error"]
    assert ask(daemon.socket, {"op": "ping"})[0]["ok"]


def test_clients_that_never_read_their_replies_are_dropped(bounded_daemon: DaemonProcess) -> None:
    daemon = bounded_daemon
    proc = psutil.Process(daemon.proc.pid)  # type: ignore[union-attr]
    payload = {"name": "n", "message": "m", "payload": {"blob": "y" * 10_000}}
    ask(daemon.socket, *[line({"type": "custom", "data": payload})] * 20)
    before = rss(proc)
    query = line({"op": "query_events", "limit": 20}) * 200  # 200 replies of 200 kB each
    clients = [small_socket(daemon.socket) for _ in range(3)]
    for sock in clients:
        sock.sendall(query)
    # Dropped clients free what they were owed; kept ones would hold 40 MB each.
    wait_for(
        lambda: daemon.output().count("dropped") >= 3 or rss(proc) - before > 100 * MiB,
        what="the clients to be dropped",
    )
    grown = (rss(proc) - before) / MiB
    assert grown < 40, f"the daemon grew {grown:.0f} MiB for 3 clients that never read"
    for sock in clients:
        last = json.loads(read_all(sock).splitlines()[-1])
        assert last["ok"] is False and last["error_type"] == "too_slow", last
        sock.close()
    assert "Traceback" not in daemon.output()


def test_a_single_big_reply_is_not_a_reason_to_drop(bounded_daemon: DaemonProcess) -> None:
    """The bound is on what piles up: one reply bigger than the limit still goes out whole."""
    daemon = bounded_daemon
    payload = {"name": "n", "message": "m", "payload": {"blob": "z" * 100_000}}
    ask(daemon.socket, *[line({"type": "custom", "data": payload})] * 30)  # 3 MB > 1 MiB limit
    [reply] = ask(daemon.socket, {"op": "query_events", "limit": 30})
    assert reply["ok"] and len(reply["events"]) == 30


# -- partial lines: size, cost and time ------------------------------------------------


def bytes_looked_at(work: Callable[[], object]) -> int:
    """The bytes the C methods of bytes and bytearray (find, split, strip...) were called
    on while `work` ran: a scan's cost, counted rather than timed."""
    looked = 0

    def profile(_frame: object, event: str, arg: Any) -> None:
        nonlocal looked
        if event == "c_call" and isinstance(getattr(arg, "__self__", None), bytes | bytearray):
            looked += len(arg.__self__)

    sys.setprofile(profile)
    try:
        work()
    finally:
        sys.setprofile(None)
    return looked


def test_a_dripped_line_costs_linear_work() -> None:
    """1 MiB in 256-byte pieces: the buffer used to be copied and rescanned on every piece
    (a split of all of it, each time: 2 GB looked at for 1 MiB)."""
    splitter = LineSplitter()
    piece = b"x" * 256
    pieces = MiB // 256 + 100  # past the limit too: skipped, not buffered

    def drip() -> None:
        for _ in range(pieces):
            assert splitter.feed(piece) == []

    looked = bytes_looked_at(drip)
    assert 0 < looked <= 2 * pieces * len(piece), f"{looked:,} bytes scanned for one 1 MiB line"
    out = splitter.feed(b"\n" + line({"op": "ping"}) + b'{"op":')
    assert [type(x).__name__ for x in out] == ["TooLong", "bytes"]
    assert splitter.feed(b'"ping"}\n') == [b'{"op":"ping"}']


def test_splitter_keeps_lines_whole_across_pieces() -> None:
    data = b"".join(line({"n": i, "pad": "p" * (i * 37 % 500)}) for i in range(300))
    for size in (1, 7, 64, 4096):
        splitter = LineSplitter()
        got: list[Any] = []
        for i in range(0, len(data), size):
            got += splitter.feed(data[i : i + size])
        assert [json.loads(x)["n"] for x in got] == list(range(300)), size
        assert not splitter.partial


# -- timeouts and backlog (in process, small limits) -------------------------------------


@pytest.fixture
async def limited(
    settings: Settings, request: pytest.FixtureRequest
) -> AsyncIterator[SocketServer]:
    limits = ServerSettings(
        auth_timeout=0.5, idle_timeout=0.8, line_timeout=0.5, max_pending_mb=1, backlog=1024
    )
    limits = replace(limits, **getattr(request, "param", {}))
    engine = await Engine.open(replace(settings, server=limits), lifecycle=True)
    srv = SocketServer(
        engine, engine.settings.socket_path, tcp=TcpAddress("127.0.0.1", 0), token=TOKEN
    )
    await srv.start()
    yield srv
    await srv.stop_intake(timeout=2)
    await engine.close()
    await srv.close(timeout=0.2)


async def hung_up(reader: asyncio.StreamReader, timeout: float = 5.0) -> list[dict[str, Any]]:
    """The lines sent before the daemon hung up; fails if it does not hang up in time."""
    data = await asyncio.wait_for(reader.read(), timeout)
    return [json.loads(x) for x in data.splitlines()]


async def test_an_unfinished_line_times_out(limited: SocketServer) -> None:
    reader, writer = await asyncio.open_unix_connection(str(limited.socket_path))
    writer.write(line({"op": "ping"}) + b'{"op": "pi')
    replies = await hung_up(reader)
    assert replies[0]["ok"] and replies[-1]["ok"] is False
    assert replies[-1]["error_type"] == "timeout" and "unfinished" in replies[-1]["error"]
    writer.close()


async def test_a_line_dripped_forever_times_out(limited: SocketServer) -> None:
    """Bytes keep coming, the line never ends: the deadline is for the line, not for silence."""
    reader, writer = await asyncio.open_unix_connection(str(limited.socket_path))

    async def drip() -> None:
        with pytest.raises(ConnectionError):
            while True:
                writer.write(b"x" * 1000)
                await writer.drain()
                await asyncio.sleep(0.02)

    dripping = asyncio.create_task(drip())
    replies = await hung_up(reader)
    assert replies[-1]["error_type"] == "timeout"
    await asyncio.wait_for(dripping, 5)
    writer.close()


async def test_an_unauthenticated_tcp_client_times_out(limited: SocketServer) -> None:
    assert limited.tcp_port is not None
    reader, writer = await asyncio.open_connection("127.0.0.1", limited.tcp_port)
    [reply] = await hung_up(reader)
    assert reply["error_type"] == "unauthorized" and "within" in reply["error"]
    writer.close()


async def test_an_idle_client_times_out_but_a_listening_subscriber_does_not(
    limited: SocketServer,
) -> None:
    path = str(limited.socket_path)
    sub_reader, sub_writer = await asyncio.open_unix_connection(path)
    sub_writer.write(line({"op": "subscribe", "kinds": ["event"]}))
    assert json.loads(await sub_reader.readline())["ok"]
    idle_reader, idle_writer = await asyncio.open_unix_connection(path)
    idle_writer.write(line({"op": "ping"}))
    assert json.loads(await idle_reader.readline())["ok"]
    start = time.monotonic()
    assert await hung_up(idle_reader) == []  # silently: a pooled client must not misread it
    assert time.monotonic() - start > 0.5  # the ping reset the clock
    # The subscriber has only listened (to nothing: no event came) for twice the timeout.
    await async_wait_for(lambda: time.monotonic() - start > 1.8, what="two idle timeouts")
    assert not sub_reader.at_eof()
    sub_writer.write(line({"op": "ping"}))
    assert json.loads(await asyncio.wait_for(sub_reader.readline(), 5))["ok"]
    for w in (sub_writer, idle_writer):
        w.close()


@pytest.mark.parametrize("limited", [{"idle_timeout": 0}], indirect=True)
async def test_idle_timeout_zero_means_never(limited: SocketServer) -> None:
    reader, writer = await asyncio.open_unix_connection(str(limited.socket_path))
    start = time.monotonic()
    await async_wait_for(lambda: time.monotonic() - start > 1.2, what="past the other timeouts")
    writer.write(line({"op": "ping"}))
    assert json.loads(await asyncio.wait_for(reader.readline(), 5))["ok"]
    writer.close()


async def test_the_listen_backlog_takes_a_burst(limited: SocketServer) -> None:
    """600 connects while the loop is not accepting: asyncio's default backlog (100) refuses
    all but about 100 of them with EAGAIN."""
    socks = []
    try:
        for _ in range(600):  # the loop does not run during this: nothing is accepted
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            sock.setblocking(False)
            socks.append(sock)
            sock.connect(str(limited.socket_path))  # BlockingIOError: the backlog is full
    finally:
        for sock in socks:
            sock.close()


# -- the clients' side: what a hang-up looks like to RemoteEngine and its notice stream ----


async def test_a_pooled_connection_closed_for_idleness_is_replaced(limited: SocketServer) -> None:
    """The idle hang-up is silent, so a pooled connection is seen closed, not misread."""
    remote = await RemoteEngine.open(limited.engine.settings)
    try:
        assert await remote.count_events() >= 1
        await async_wait_for(lambda: limited.connection_count == 0, what="the idle hang-up")
        event = await remote.dispatch("custom", {"name": "n", "message": "m", "payload": {}})
        assert event.id > 0  # not retried (dispatch never is): the stale one was not used
    finally:
        await remote.close()


async def test_a_dropped_subscriber_hears_why_and_reconnects(tmp_path: Path) -> None:
    """A daemon that drops this stream's subscription (its last line is the reason)."""
    path = tmp_path / "d.sock"
    subscribed = 0

    async def daemon(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        nonlocal subscribed
        while line_ := await reader.readline():
            op = json.loads(line_)["op"]
            writer.write(line({"ok": True, "engine": {"pid": 1}} if op == "ping" else {"ok": True}))
            if op == "subscribe":
                subscribed += 1
                if subscribed == 1:
                    writer.write(line({"ok": False, "error": DROPPED, "error_type": "too_slow"}))
                    writer.close()
                    return
        writer.close()

    server = await asyncio.start_unix_server(daemon, str(path))
    stream = NoticeStream(Address(path=path), {"pid": 1})
    sub = stream.bus.subscribe()
    try:
        stream.start()
        first = await asyncio.wait_for(sub.get(), 5)
        assert (first.kind, DROPPED in str(first.payload)) == ("disconnected", True), first
        assert (await asyncio.wait_for(sub.get(), 5)).kind == "connected"
        assert subscribed == 2
    finally:
        await stream.close("test over")
        server.close()


DROPPED = "dropped: 40000 bytes of replies and notices were waiting to be read; the limit is 1"


async def test_a_hung_up_client_gets_an_end_of_file_before_the_close(
    limited: SocketServer,
) -> None:
    """The daemon ends its side first (EOF after the reason line) and reads on for a moment
    before closing: a socket closed with unread bytes in it resets its peer, and a client
    reading to EOF while it still sends would lose the reason line it had received. So the
    client sees EOF while its own writes still go through."""
    reader, writer = await asyncio.open_unix_connection(str(limited.socket_path))
    writer.write(b'{"op": "pi')
    replies = await hung_up(reader)
    assert replies[-1]["error_type"] == "timeout"
    writer.write(b"x" * 1000)  # the daemon is still reading (and discarding)
    await writer.drain()
    writer.close()
