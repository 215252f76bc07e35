"""Every line gets its answer: limits on every field, numbers SQLite can hold, strict JSON.

A real server on a real socket; after each bad line the same connection still answers.
"""

from __future__ import annotations

import json
from typing import Any

from sourcekit import request

from sloth_tui.remote.server import SocketServer

PING = {"op": "ping"}


def nested(depth: int) -> Any:
    value: Any = "x"
    for _ in range(depth):
        value = [value]
    return value


async def ask(server: SocketServer, *lines: bytes | dict[str, Any]) -> list[dict[str, Any]]:
    replies = await request(server.socket_path, *lines, PING)
    assert replies[-1]["ok"] is True, "the connection stopped answering"
    return replies[:-1]


async def test_a_deeply_nested_ref_is_refused_and_the_connection_lives(
    server: SocketServer,
) -> None:
    """~970 deep: stored, but its reply could not be encoded, and nothing more came back."""
    # Written by hand: Python's own json.dumps cannot go that deep either.
    line = (
        b'{"type": "custom", "data": {"name": "n", "message": "m"}, "ref": '
        + b"[" * 970
        + b'"x"'
        + b"]" * 970
        + b"}\n"
    )
    (reply,) = await ask(server, line)
    assert reply["ok"] is False and reply["error_type"] == "bad_request"
    # Python's parser may itself give up this deep (it depends on the stack in use).
    assert "nests" in reply["error"]
    (reply,) = await ask(
        server,
        b'{"type": "custom", "data": {"name": "n", "message": "m"}, "ref": '
        + b"[" * 500
        + b"1"
        + b"]" * 500
        + b"}\n",
    )
    assert reply["ok"] is False and "'ref' nests 500 levels deep" in reply["error"]
    assert await server.engine.count_events() == 1  # only the startup: nothing stored


async def test_a_ref_within_the_limits_is_echoed(server: SocketServer) -> None:
    ref = {"trace": nested(20), "n": 1}
    (reply,) = await ask(
        server, {"type": "custom", "data": {"name": "n", "message": "m"}, "ref": ref}
    )
    assert reply["ok"] is True and reply["ref"] == ref


async def test_a_huge_field_is_refused(server: SocketServer) -> None:
    line = {"op": "count_events", "filter": ["x" * 300_000]}
    (reply,) = await ask(server, line)
    assert reply["ok"] is False and "'filter' is" in reply["error"]


async def test_ids_beyond_sqlites_integers_are_refused(server: SocketServer) -> None:
    replies = await ask(
        server,
        {"op": "get_event", "id": 2**63},
        {"op": "get_event", "id": -(2**63) - 1},
        {"op": "query_events", "before_id": 10**30},
    )
    for reply in replies:
        assert reply["ok"] is False and reply["error_type"] == "bad_request", reply
        assert "out of range" in reply["error"] and "internal" not in reply["error"]


async def test_nan_and_infinity_are_not_json(server: SocketServer) -> None:
    lines = [
        b'{"type": "custom", "data": {"name": "n", "message": "m", "payload": {"v": NaN}}}\n',
        b'{"op": "wait_idle", "timeout": Infinity}\n',
        b'{"op": "query_events", "limit": -Infinity}\n',
    ]
    replies = await ask(server, *lines)
    for reply in replies:
        assert reply["ok"] is False and "is not a JSON number" in reply["error"], reply
    assert json.dumps(replies)  # and the replies themselves are plain JSON
