"""The socket server in process, over a real Unix socket (and loopback TCP)."""

from __future__ import annotations

import asyncio
import json
import os
import socket
import stat
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from sourcekit import async_wait_for, connect_as_it_stops, db_rows, request

from sloth_tui.config import Settings
from sloth_tui.engine.engine import Engine
from sloth_tui.model.errors import EventRefused
from sloth_tui.remote.connection import WINDOW, Window
from sloth_tui.remote.protocol import MAX_LINE
from sloth_tui.remote.server import REFUSAL_WINDOW, ServerError, SocketServer, TcpAddress

EVENT = {
    "type": "deploy.failed",
    "data": {"deploy_id": "d1", "service": "api", "error": "boom", "rollback_needed": False},
}


def line(obj: Any) -> bytes:
    return json.dumps(obj).encode() + b"\n"


async def test_socket_is_private(server: SocketServer) -> None:
    mode = server.socket_path.stat().st_mode
    assert stat.S_ISSOCK(mode) and stat.S_IMODE(mode) == 0o600


async def test_an_ack_means_the_event_is_durable(server: SocketServer, settings: Settings) -> None:
    [reply] = await request(server.socket_path, line(EVENT))
    assert reply == {"ok": True, "id": reply["id"]}
    # A second connection to the file, as another process would see it.
    rows = db_rows(settings.home, "SELECT type, source FROM events WHERE id = ?", (reply["id"],))
    assert rows == [("deploy.failed", "socket")]


async def test_warnings_and_ref_come_back(server: SocketServer) -> None:
    replies = await request(
        server.socket_path,
        line({"type": "deploy.failed", "data": {"service": "api"}, "ref": "r-1"}),
        line(
            {
                "type": "custom",
                "data": {"name": "n", "message": "m", "payload": {}},
                "source": "socket:ci",
            }
        ),
    )
    assert replies[0]["ok"] and replies[0]["ref"] == "r-1"
    assert "missing field deploy_id" in replies[0]["warnings"]
    assert replies[1] == {"ok": True, "id": replies[0]["id"] + 1}


async def test_bad_lines_get_errors_and_the_connection_lives_on(
    server: SocketServer, engine: Engine
) -> None:
    bad = [
        b"not json\n",
        b"[1,2,3]\n",
        b"\xff\xfe\xfd\n",
        b"x" * (MAX_LINE + 1) + b"\n",
        line({"type": "Deploy Failed"}),
        line({"type": "deploy.failed", "data": [1]}),
        line({"type": "deploy.failed", "dat": {}}),
        line({"data": {}}),
        line({"type": "deploy.failed", "source": "system"}),
        line({"type": "deploy.failed", "source": "hook:evil"}),
        line({"type": "deploy.failed", "strict": "yes"}),
        line({"type": "deploy.failed", "data": {"service": "api"}, "strict": True}),
        line({"op": "nope"}),
        line({"op": 3}),
        line({"op": "get_event", "id": "seven"}),
        line({"op": "get_event", "id": True}),
        line({"op": "get_event"}),
        line({"op": "get_event", "id": 999_999}),
        line({"op": "query_events", "limit": 0}),
        line({"op": "query_events", "filter": "status:bogus"}),
        line({"op": "update_hook", "name": "x", "changes": {"run_count": 5}}),
        line({"op": "subscribe", "kinds": ["gossip"]}),
        line({"op": "test_hook", "hook": {"name": "x"}}),
        line({"op": "test_hook", "hook": "x", "event": {"id": 1}}),
        line({"op": "cleanup", "older_than": "a week"}),
        line({"op": "dispatch", "type": "task.started", "wait": "yes"}),
        line({"op": "add_hook", "name": "h", "events": [1], "file": "/x.lua"}),
        line({"op": "rerun", "id": 1, "hooks": "all"}),
        line({"op": "rerun", "id": 1, "hooks": [1]}),
        line({"op": "hook_outcomes", "ids": [1, "2"]}),
    ]
    replies = await request(server.socket_path, *bad, line(EVENT))
    assert len(replies) == len(bad) + 1
    for reply in replies[:-1]:
        assert reply["ok"] is False and reply["error"] and "\n" not in reply["error"]
    assert replies[-1]["ok"] is True
    errors = [r["error"] for r in replies[:-1]]
    assert "not JSON" in errors[0] and "not list" in errors[1] and "UTF-8" in errors[2]
    assert "limit is 1 MiB" in errors[3] and "invalid event type" in errors[4]
    assert "unknown field 'dat'" in errors[6] and 'needs a "type"' in errors[7]
    assert "not allowed" in errors[8] and "strict mode" in errors[11]
    assert "unknown op 'nope'" in errors[12]
    assert replies[17]["error_type"] == "not_found"
    assert "cannot change 'run_count'" in errors[20]
    assert "bad hook object" in errors[22] and "bad event object" in errors[23]
    assert "'older_than' must be int or float" in errors[24]
    assert "'wait' must be bool" in errors[25] and "list of strings" in errors[26]
    assert "'hooks' must be list" in errors[27] and "list of strings" in errors[28]
    assert "at most 10000 ints" in errors[29]
    # Only the one good event (and the startup event) was stored.
    assert await engine.count_events() == 2


async def test_a_line_of_exactly_the_limit_is_read(server: SocketServer) -> None:
    padding = "p" * (MAX_LINE - len(line({"type": "custom", "data": {"x": ""}})) + 1)
    big = line({"type": "custom", "data": {"x": padding}})
    assert len(big) == MAX_LINE + 1
    [reply] = await request(server.socket_path, big)
    # The engine's own data limit (256 KiB) refuses it, but it was framed and read whole.
    assert reply["ok"] is False and "the limit is 262144" in reply["error"]


async def test_pipelined_events_are_acked_in_order(server: SocketServer) -> None:
    lines = [line({"type": "task.started", "data": {"task_name": f"t{i}"}}) for i in range(3000)]
    replies = await request(server.socket_path, b"".join(lines))
    ids = [r["id"] for r in replies]
    assert all(r["ok"] for r in replies) and ids == sorted(ids) and len(set(ids)) == 3000


async def test_a_client_past_the_window_waits_and_loses_nothing(server: SocketServer) -> None:
    """More lines in flight than the window holds, with replies big enough (each echoes
    a 4 KiB ref) that they back up in the socket while the client is not reading yet:
    the server stops reading at the window, goes on as replies leave, and every line is
    answered, in order."""
    count = 3 * WINDOW
    lines = [line({**EVENT, "ref": f"{i:06d}" + "r" * 4096}) for i in range(count)]
    # The default limit: the reader stops taking bytes from the socket at 128 KiB.
    reader, writer = await asyncio.open_unix_connection(str(server.socket_path))
    sender = asyncio.create_task(_send_all(writer, lines))
    await async_wait_for(lambda: server_connection_waits(server))
    replies = [json.loads(await reader.readline()) for _ in range(count)]
    await sender
    writer.close()
    assert all(r["ok"] for r in replies)
    assert [r["ref"][:6] for r in replies] == [f"{i:06d}" for i in range(count)]
    assert len({r["id"] for r in replies}) == count


async def _send_all(writer: asyncio.StreamWriter, lines: list[bytes]) -> None:
    writer.writelines(lines)
    await writer.drain()


def server_connection_waits(server: SocketServer) -> bool:
    """Some connection of `server` has no room left in its window."""
    return any(conn._window.free == 0 for conn in server._conns)


def test_the_window_gives_room_back_to_a_waiting_reader() -> None:
    async def scenario() -> None:
        window = Window(2)
        assert window.take() and window.take() and not window.take()
        waiter = asyncio.create_task(window.wait_and_take())
        await asyncio.sleep(0)
        assert not waiter.done()
        window.give(1)
        await asyncio.wait_for(waiter, 5)
        assert window.free == 0
        window.give(2)
        assert window.free == 2

    asyncio.run(scenario())


async def test_ops_answer_with_records(server: SocketServer, engine: Engine, lua_file: Any) -> None:
    hook_file = lua_file("function on_event() log.info('hi') return true end")
    replies = await request(
        server.socket_path,
        {"op": "ping"},
        {"op": "add_hook", "name": "h", "events": ["deploy.*"], "file": str(hook_file)},
        {"op": "dispatch", "type": "deploy.failed", "data": {"service": "api"}, "wait": True},
        {"op": "count_events", "filter": "type:deploy.*"},
        {"op": "query_events", "filter": [{"kind": "type", "value": "deploy.*"}], "limit": 5},
        {"op": "hook_stats"},
        {"op": "stats"},
        {"op": "counts"},
        {"op": "reload_watchers"},
    )
    ping, added, fired, count, query, stats, engine_stats, counts, missing = replies
    assert ping["engine"]["pid"] == os.getpid() and ping["engine"]["protocol"] == 1
    assert added["hook"]["name"] == "h"
    assert fired["executions"][0]["status"] == "success"
    assert fired["executions"][0]["logs"][0]["message"] == "hi"
    assert count == {"ok": True, "count": 1}
    assert [e["type"] for e in query["events"]] == ["deploy.failed"]
    assert stats["stats"]["h"]["runs"] == 1
    assert engine_stats["stats"]["events_total"] >= 2
    assert counts["categories"]["deploy"] == 1
    assert missing["ok"] is False and "unknown op" in missing["error"]  # daemon-only op


async def test_subscribe_streams_filtered_notices(server: SocketServer, engine: Engine) -> None:
    reader, writer = await asyncio.open_unix_connection(str(server.socket_path))
    writer.write(
        line({"op": "subscribe", "filter": "type:deploy.* service=api", "kinds": ["event"]})
    )
    writer.write(line({"op": "subscribe"}))
    await writer.drain()
    first = json.loads(await reader.readline())
    assert first["ok"] and "event" in first["subscribed"]
    again = json.loads(await reader.readline())
    assert again["ok"] is False and "already subscribed" in again["error"]
    await engine.dispatch("deploy.failed", {"service": "web"})
    await engine.dispatch("task.started", {"service": "api"})
    await engine.dispatch("deploy.completed", {"service": "api"})
    notice = json.loads(await asyncio.wait_for(reader.readline(), 5))
    assert notice["notice"] == "event"
    assert notice["payload"]["type"] == "deploy.completed"
    writer.close()


async def test_misbehaving_clients_do_not_disturb_others(
    server: SocketServer, settings: Settings
) -> None:
    path = str(server.socket_path)
    # 1. A client that sends and never reads its replies.
    _r1, mute = await asyncio.open_unix_connection(path)
    [mute_conn] = await async_wait_for(lambda: list(server._conns), what="its connection")
    flood = line({"type": "task.started", "data": {"task_name": "mute"}}) * 20_000
    mute.write(flood)
    # 2. A client that sends garbage.
    _r2, garbage = await asyncio.open_unix_connection(path)
    garbage.write(os.urandom(200_000) + b"\n" + b"{{{{\n" * 1000)
    # 3. A client that vanishes mid-line.
    _r3, vanisher = await asyncio.open_unix_connection(path)
    vanisher.write(b'{"type": "task.failed", "data": {"task_name": "half')
    await vanisher.drain()
    vanisher.transport.abort()
    await asyncio.sleep(0.2)  # negative: their head start, to disturb the client below

    def mute_stuck() -> bool:  # its replies fill the socket buffers: the server cannot write
        return mute_conn in server._conns and mute_conn.writer.transport.get_write_buffer_size() > 0

    await async_wait_for(mute_stuck, timeout=30, what="the mute client's replies backing up")
    # A well-behaved client still gets its acks (each `request` gives up after 10 s) ...
    for i in range(20):
        [reply] = await request(
            server.socket_path, line({"type": "task.completed", "data": {"task_name": f"ok{i}"}})
        )
        assert reply["ok"]
    assert mute_stuck()  # ... while the mute one is still stuck: not served after it
    half = db_rows(settings.home, "SELECT COUNT(*) FROM events WHERE type = 'task.failed'")
    assert half == [(0,)]
    for w in (mute, garbage):
        w.transport.abort()


async def test_stop_intake_answers_what_it_owes(server: SocketServer, engine: Engine) -> None:
    reader, writer = await asyncio.open_unix_connection(str(server.socket_path))
    writer.write(line(EVENT) * 500)
    await writer.drain()
    # Stopped mid-stream: once some of the lines are stored (the lifecycle event is one).
    await async_wait_for(lambda: engine.stats().events_total > 1, what="the first events")
    await server.stop_intake(timeout=5)
    data = await asyncio.wait_for(reader.read(), 5)
    replies = [json.loads(x) for x in data.splitlines()]
    assert replies and all(r["ok"] for r in replies)
    assert await engine.count_events() == 1 + len(replies)  # acked == stored, none lost
    writer.close()


async def test_stale_socket_is_replaced_but_a_file_is_not(engine: Engine, tmp_path: Path) -> None:
    stale = tmp_path / "stale.sock"
    sock = socket.socket(socket.AF_UNIX)
    sock.bind(str(stale))
    sock.close()  # a socket file nobody listens on: what kill -9 leaves
    srv = SocketServer(engine, stale)
    await srv.start()
    assert (await request(stale, {"op": "ping"}))[0]["ok"]
    with pytest.raises(ServerError, match="already answers"):
        await SocketServer(engine, stale).start()
    await srv.stop_intake()
    await srv.close()
    assert not stale.exists()
    regular = tmp_path / "file.sock"
    regular.write_text("precious")
    with pytest.raises(ServerError, match="is not a socket"):
        await SocketServer(engine, regular).start()
    assert regular.read_text() == "precious"
    with pytest.raises(ServerError, match="Unix sockets allow at most"):
        await SocketServer(engine, tmp_path / ("x" * 120)).start()


async def _tcp(port: int, *lines: bytes) -> list[dict[str, Any]]:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(b"".join(lines))
    await writer.drain()
    writer.write_eof()
    data = await asyncio.wait_for(reader.read(), 5)
    writer.close()
    return [json.loads(x) for x in data.splitlines()]


async def test_tcp_needs_the_token(engine: Engine, tmp_path: Path) -> None:
    token = "t0ken-t0ken-t0ken-t0ken"
    srv = SocketServer(engine, tmp_path / "t.sock", tcp=TcpAddress("127.0.0.1", 0), token=token)
    await srv.start()
    assert srv.tcp_port
    try:
        ok = await _tcp(srv.tcp_port, line({"op": "auth", "token": token}), line(EVENT))
        assert ok[0] == {"ok": True} and ok[1]["ok"]
        wrong = await _tcp(srv.tcp_port, line({"op": "auth", "token": "guess"}), line(EVENT))
        assert len(wrong) == 1 and wrong[0]["error_type"] == "unauthorized"
        assert "wrong token" in wrong[0]["error"]
        skipped = await _tcp(srv.tcp_port, line(EVENT))
        assert skipped[0]["ok"] is False and "first line must be" in skipped[0]["error"]
        for _ in range(3):  # a client guessing in a loop: refused each time ...
            again = await _tcp(srv.tcp_port, line({"op": "auth", "token": "guess"}))
            assert again[0]["error_type"] == "unauthorized"
        # A refusal is recorded before its reply goes out: all of them are queued by now.
        await engine.store.flush()
        refused = [e for e in await engine.query_events() if e.type == "security.unauthorized"]
        assert len(refused) == 1  # ... but recorded once per peer per window
        assert refused[0].data["ip_address"] == "127.0.0.1" and not refused[0].warnings
        assert await engine.count_events() == 3  # startup, one accepted event, one refusal
        srv._refusals.clock = lambda: time.monotonic() + REFUSAL_WINDOW  # the window passes
        await _tcp(srv.tcp_port, line({"op": "auth", "token": "guess"}))
        await engine.store.flush()
        latest = (await engine.query_events(None, limit=1))[0]
        assert latest.type == "security.unauthorized"
        assert latest.data["refused_since_last"] == 4
    finally:
        await srv.stop_intake()
        await srv.close()
    with pytest.raises(ServerError, match="needs --token-file"):
        SocketServer(engine, tmp_path / "u.sock", tcp=TcpAddress("127.0.0.1", 0))


async def test_daemon_wide_ops_can_be_added(
    settings: Settings, caplog: pytest.LogCaptureFixture
) -> None:
    async def hello(engine: Engine, req: dict[str, Any]) -> dict[str, Any]:
        return {"hello": req.get("who")}

    async def buggy(engine: Engine, req: dict[str, Any]) -> dict[str, Any]:
        raise RuntimeError("a bug")

    engine = await Engine.open(replace(settings))
    srv = SocketServer(engine, settings.socket_path, extra_ops={"hello": hello, "buggy": buggy})
    await srv.start()
    try:
        hello_reply, bug, after = await request(
            settings.socket_path, {"op": "hello", "who": "you"}, {"op": "buggy"}, {"op": "ping"}
        )
        assert hello_reply == {"ok": True, "hello": "you"}
        # A bug costs one reply, not the connection, and is logged with its traceback.
        assert bug["ok"] is False and bug["error"] == "internal error: RuntimeError: a bug"
        assert after["ok"] and "request buggy failed" in caplog.text
    finally:
        await srv.stop_intake()
        await engine.close()
        await srv.close()


async def test_shutdown_drops_a_client_that_never_reads(
    server: SocketServer, caplog: pytest.LogCaptureFixture
) -> None:
    _reader, writer = await asyncio.open_unix_connection(str(server.socket_path))
    writer.write(line({"type": "task.started", "data": {"task_name": "x" * 500}}) * 20_000)

    def backed_up() -> bool:  # its replies fill the socket buffers: the server cannot write
        return any(c.writer.transport.get_write_buffer_size() > 0 for c in server._conns)

    await async_wait_for(backed_up, timeout=30, what="replies backing up")
    # The client never reads: only dropping it can end the wait (a hang guard, no more).
    await asyncio.wait_for(server.stop_intake(timeout=0.5), 30)
    assert "not reading its replies; dropping it" in caplog.text
    assert server.connection_count == 0
    writer.transport.abort()


async def test_ops_and_events_on_one_connection_keep_their_order(
    server: SocketServer, engine: Engine, lua_file: Any
) -> None:
    hook = lua_file("function on_event() return true end")
    ev = {"type": "task.started", "data": {"task_name": "t"}}
    replies = await request(
        server.socket_path,
        line(ev) * 50,
        line({"op": "count_events", "filter": "type:task.*"}),  # sees the 50 before it
        line({"op": "add_hook", "name": "h", "events": ["task.*"], "file": str(hook)}),
        line(ev) * 3,  # after add_hook: each runs the hook
        line({"op": "wait_idle", "timeout": 10}),
        line({"op": "executions", "hook": "h"}),
    )
    assert replies[50] == {"ok": True, "count": 50}
    assert replies[51]["hook"]["name"] == "h"
    ran = {e["event_id"] for e in replies[-1]["executions"]}
    assert ran == {r["id"] for r in replies[52:55]}


async def test_dispatch_batch_checks_each_event_alone(engine: Engine, lua_file: Any) -> None:
    await engine.add_hook("h", ["deploy.*"], lua_file("function on_event() return true end"))
    results = await engine.dispatch_batch(
        [
            ("deploy.failed", {"service": "a"}, "socket", None),
            ("Not A Type", {}, "socket", None),
            ("deploy.failed", {"service": "b"}, "socket:ci", True),  # strict: incomplete data
            ("task.started", {"task_name": "t"}, "cli", False),
        ]
    )
    first, bad, strict, last = results
    assert isinstance(bad, EventRefused) and "invalid event type" in str(bad)
    assert isinstance(strict, EventRefused) and "strict mode" in str(strict)
    assert first.id + 1 == last.id and first.status == "pending" and last.source == "cli"  # type: ignore[union-attr]
    assert await engine.wait_idle(10)
    stored = await engine.get_event(first.id)  # type: ignore[union-attr]
    assert stored.status == "completed" and len(await engine.executions_of(first.id)) == 1  # type: ignore[union-attr]
    await engine.close()
    with pytest.raises(EventRefused, match="not accepting events"):
        await engine.dispatch_batch([("task.started", {}, "socket", None)])


async def test_a_failing_batch_costs_its_replies_not_the_connection(
    server: SocketServer,
    engine: Engine,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    async def broken(items: list[Any]) -> list[Any]:
        raise RuntimeError("disk on fire")

    monkeypatch.setattr(engine, "dispatch_batch", broken)
    bug, again, ping = await request(server.socket_path, line(EVENT) * 2, {"op": "ping"})
    assert bug["ok"] is False and bug["error"] == "internal error: RuntimeError: disk on fire"
    assert again == bug and ping["ok"] and "a batch of 2 events failed" in caplog.text
    monkeypatch.undo()
    await engine.close()
    [stopped] = await request(server.socket_path, line(EVENT))
    assert stopped["error_type"] == "refused" and "not accepting events" in stopped["error"]


def test_a_loop_that_ends_with_a_client_connected_closes_its_socket(settings: Settings) -> None:
    """A loop that ends while a client is still connected cancels every task, the
    connection's among them: its socket is closed on the way out all the same, not left
    to the garbage collector (the old code left it open on Python 3.11 and 3.12.1; 3.13's
    asyncio closes the socket of a cancelled connection itself)."""
    left: list[Any] = []

    async def main() -> socket.socket:
        engine = await Engine.open(settings)
        server = SocketServer(engine, settings.socket_path)
        await server.start()
        loop = asyncio.get_running_loop()
        client = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        client.setblocking(False)
        await loop.sock_connect(client, str(settings.socket_path))
        await loop.sock_sendall(client, line({"op": "ping"}))
        assert b'"ok":true' in await loop.sock_recv(client, 65536)
        (conn,) = server._conns
        left.append(conn.writer.transport)
        for listener in server._servers:  # no new clients; this one stays connected
            listener.close()
        await engine.close()
        return client  # the loop ends here, with the client's connection open

    client = asyncio.run(main())
    try:
        (transport,) = left
        assert transport.is_closing()
        assert transport.get_extra_info("socket").fileno() == -1, "its socket is still open"
    finally:
        client.close()


async def test_a_client_accepted_as_intake_stops_is_hung_up_on_not_stranded(
    server: SocketServer,
) -> None:
    """asyncio accepts a connection in one callback and builds its transport a turn
    later; a server closed in between failed the build and left the accepted socket to
    the garbage collector, its client waiting (on 3.13.0 the finalizer raised in
    Server._detach: CI's warning in the handover test). remote/listen_close.py."""
    client, errors = await connect_as_it_stops(
        str(server.socket_path), lambda: server.stop_intake(timeout=2)
    )
    with client:
        assert [c.get("message") for c in errors] == []
        # Hung up on: EOF, with no request read (intake had stopped when it was built).
        loop = asyncio.get_running_loop()
        assert await asyncio.wait_for(loop.sock_recv(client, 100), 10) == b""
