"""The operations added with the op table, over a real Unix socket (remote/ops.py).

check_syntax and declared_event_types run in the daemon, so an attached editor asks it;
dispatch_batch goes as pipelined `dispatch` ops; the engine's identity is properties.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from sourcekit import request

from sloth_tui.config import Settings
from sloth_tui.engine.api import EventLine
from sloth_tui.engine.engine import Engine
from sloth_tui.lua.runtime import check_syntax
from sloth_tui.model.errors import EventRefused
from sloth_tui.model.records import Event
from sloth_tui.remote.client import RemoteEngine
from sloth_tui.remote.server import SocketServer

TABLE_HOOK = 'return { event_types = {"cpu.high_usage", "deploy.*"}, execute = function() end }'


@pytest.fixture
async def remote(server: SocketServer, settings: Settings) -> AsyncIterator[RemoteEngine]:
    eng = await RemoteEngine.open(settings)
    yield eng
    await eng.close()


async def test_check_syntax_asks_the_daemon(remote: RemoteEngine, engine: Engine) -> None:
    bad = "function on_event()\n  return = 1\nend\n"
    problem = await remote.check_syntax(bad, "editor.lua")
    assert problem is not None and problem == check_syntax(bad, "editor.lua")
    assert problem[0] == 2 and problem[1].startswith("editor.lua:2:")
    assert await remote.check_syntax("function on_event() return true end") is None
    assert await remote.check_syntax(bad) == await engine.check_syntax(bad)


async def test_check_syntax_fields_are_checked(server: SocketServer, settings: Settings) -> None:
    replies = await request(
        settings.socket_path,
        {"op": "check_syntax"},
        {"op": "check_syntax", "code": 5},
        {"op": "check_syntax", "code": "x = 1", "chunkname": ["a"]},
        {"op": "check_syntax", "code": "x = = 1"},
    )
    assert [r.get("error") for r in replies[:3]] == [
        "op check_syntax: missing 'code'",
        "op check_syntax: 'code' must be str",
        "op check_syntax: 'chunkname' must be str",
    ]
    assert replies[3]["ok"] and replies[3]["problem"]["line"] == 1
    assert replies[3]["problem"]["message"].startswith("hook:1:")


async def test_declared_event_types_reads_the_path_in_the_daemon(
    remote: RemoteEngine,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    lua_file: Any,
) -> None:
    lua_file(TABLE_HOOK, "table.lua")
    lua_file("function on_event() end", "global.lua")
    elsewhere = tmp_path / "cwd"
    elsewhere.mkdir()
    monkeypatch.chdir(tmp_path)  # relative here: the client sends the absolute path
    assert await remote.declared_event_types("table.lua") == ["cpu.high_usage", "deploy.*"]
    assert await remote.declared_event_types("global.lua") == []
    monkeypatch.chdir(elsewhere)  # now relative to nothing there: the daemon finds no file
    assert await remote.declared_event_types("table.lua") == []
    assert await remote.declared_event_types(str(tmp_path / "table.lua")) == [
        "cpu.high_usage",
        "deploy.*",
    ]


async def test_declared_event_types_needs_a_path(server: SocketServer, settings: Settings) -> None:
    (missing, wrong) = await request(
        settings.socket_path,
        {"op": "declared_event_types"},
        {"op": "declared_event_types", "path": 1},
    )
    assert missing["error"] == "op declared_event_types: missing 'path'"
    assert wrong["error"] == "op declared_event_types: 'path' must be str"


async def test_dispatch_batch_over_the_socket_checks_each_item_alone(
    remote: RemoteEngine, engine: Engine
) -> None:
    items: list[EventLine] = [
        ("task.started", {"task_name": "a"}, "cli", False),
        ("Not A Type!", {}, "cli", None),  # the engine refuses the type
        ("task.started", {"task_name": "b"}, "system", False),  # not a client's source
        ("task.started", {"task_name": "c"}, "socket:ci", False),
    ]
    results = await remote.dispatch_batch(items)
    assert [type(r) for r in results] == [Event, EventRefused, EventRefused, Event]
    assert "source 'system' is not allowed" in str(results[2])
    first, last = results[0], results[3]
    assert isinstance(first, Event) and isinstance(last, Event)
    assert (first.data, last.source) == ({"task_name": "a"}, "socket:ci")
    stored = await engine.get_event(first.id)
    assert (stored.type, stored.data, stored.source, stored.ts) == (
        first.type,
        first.data,
        first.source,
        first.ts,
    )
    # The same items in the engine itself: refused and accepted alike (bar the source rule).
    local = await engine.dispatch_batch(items[:2])
    assert [type(r) for r in local] == [Event, EventRefused]
    assert str(local[1]) == str(results[1])


async def test_dispatch_batch_of_many_is_pipelined_in_order(
    remote: RemoteEngine, engine: Engine
) -> None:
    """More lines than the daemon reads ahead of its replies (its window is 1024)."""
    n = 1500
    items: list[EventLine] = [
        ("task.started", {"task_name": f"t{i}"}, "cli", False) for i in range(n)
    ]
    results = await remote.dispatch_batch(items)
    assert all(isinstance(r, Event) for r in results)
    events = [r for r in results if isinstance(r, Event)]
    assert [e.data["task_name"] for e in events] == [f"t{i}" for i in range(n)]
    assert [e.id for e in events] == sorted(e.id for e in events)
    assert await remote.count_events(None) >= n


async def test_identity_is_properties_and_close_takes_no_reason(
    remote: RemoteEngine, settings: Settings
) -> None:
    assert remote.remote is True and remote.readonly is False
    assert remote.settings is settings
    assert remote.info["pid"] == os.getpid() and remote.started == remote.info["started"]
    with pytest.raises(AttributeError):
        remote.remote = False  # type: ignore[misc]
    sub = remote.subscribe()
    await remote.close()
    notice = await asyncio.wait_for(sub.get(), 5)
    assert (notice.kind, notice.payload) == ("shutdown", "detached")
