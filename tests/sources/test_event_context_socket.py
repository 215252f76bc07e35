"""Sloth Runner's context (stack, agent, run_id) over a real Unix socket (issue 14.3):
plain event lines, the dispatch op, RemoteEngine, and a hook's stack set remotely."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest
from sourcekit import request

from sloth_tui.config import Settings
from sloth_tui.engine.api import EventLine
from sloth_tui.engine.engine import Engine
from sloth_tui.model.errors import EventRefused
from sloth_tui.model.records import Event
from sloth_tui.remote.client import RemoteEngine
from sloth_tui.remote.server import SocketServer


@pytest.fixture
async def remote(server: SocketServer, settings: Settings) -> AsyncIterator[RemoteEngine]:
    eng = await RemoteEngine.open(settings)
    yield eng
    await eng.close()


async def test_plain_lines_and_the_dispatch_op_carry_the_context(
    server: SocketServer, settings: Settings, engine: Engine
) -> None:
    replies = await request(
        settings.socket_path,
        {"type": "task.started", "data": {}, "stack": "prod", "agent": "web-1", "run_id": "r1"},
        {"type": "task.started", "data": {}},
        {"op": "dispatch", "type": "task.started", "data": {}, "stack": "dev", "run_id": "r2"},
        {"type": "task.started", "data": {}, "stack": ["not", "text"]},
        {"type": "task.started", "data": {}, "stack": "a\nb"},
        {"type": "task.started", "data": {}, "stak": "typo"},
    )
    assert [r["ok"] for r in replies] == [True, True, True, False, False, False]
    assert "stack must be text" in replies[3]["error"]
    assert "one line" in replies[4]["error"]
    assert "unknown field 'stak'" in replies[5]["error"]
    first = await engine.get_event(replies[0]["id"])
    assert (first.stack, first.agent, first.run_id) == ("prod", "web-1", "r1")
    plain = await engine.get_event(replies[1]["id"])
    assert (plain.stack, plain.agent, plain.run_id) == (None, None, None)
    op = await engine.get_event(replies[2]["event"]["id"])
    assert (op.stack, op.agent, op.run_id) == ("dev", None, "r2")
    assert replies[2]["event"]["stack"] == "dev"


async def test_remote_engine_dispatches_and_reads_the_context(
    remote: RemoteEngine, engine: Engine
) -> None:
    event = await remote.dispatch("task.started", {}, stack="prod", agent="a", run_id="r")
    assert (event.stack, event.agent, event.run_id) == ("prod", "a", "r")
    items: list[EventLine] = [
        ("task.started", {}, "cli", None, "qa", "b", None),
        ("task.started", {}, "cli", None),  # the short form still works
        ("task.started", {}, "cli", None, "x\x00", None, None),
    ]
    results = await remote.dispatch_batch(items)
    assert [type(r) for r in results] == [Event, Event, EventRefused]
    first, second = results[0], results[1]
    assert isinstance(first, Event) and isinstance(second, Event)
    assert (first.stack, first.agent, second.stack) == ("qa", "b", None)
    assert (await engine.get_event(first.id)).stack == "qa"


async def test_a_hooks_stack_is_set_and_cleared_over_the_socket(
    remote: RemoteEngine, engine: Engine, lua_file: Callable[[str, str], Path]
) -> None:
    path = lua_file("function on_event() return true end\n", "")
    hook = await remote.add_hook("p", ["task.*"], path, stack="prod")
    assert hook.stack == "prod" and (await engine.get_hook("p")).stack == "prod"
    _, runs = await remote.dispatch_and_run("task.started", {}, stack="dev")
    assert runs == []
    _, runs = await remote.dispatch_and_run("task.started", {}, stack="prod")
    assert [r.hook for r in runs] == ["p"]
    assert (await remote.update_hook("p", stack=None)).stack is None
    _, runs = await remote.dispatch_and_run("task.started", {})
    assert [r.hook for r in runs] == ["p"]
