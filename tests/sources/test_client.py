"""RemoteEngine against a real server: same answers, same types, same errors as Engine."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path
from typing import Any

import pytest
from sourcekit import async_wait_for

from sloth_tui.config import Settings
from sloth_tui.engine.bus import Subscription
from sloth_tui.engine.engine import Engine
from sloth_tui.model.errors import EventRefused, HookError, NotFound, SlothError
from sloth_tui.model.filters import Term, parse_filter
from sloth_tui.model.records import Event, Execution, Hook
from sloth_tui.model.stats import EngineStats, HookStats
from sloth_tui.remote.client import RemoteEngine, choose_engine
from sloth_tui.remote.protocol import DaemonUnavailable
from sloth_tui.remote.server import SocketServer
from sloth_tui.remote.wire import Address

CHILD_HOOK = """
function on_event()
  log.info("deploy " .. event.data.service)
  event.dispatch("health.degraded", {service = event.data.service, metrics = {}, threshold = 1})
  return true
end
"""


@pytest.fixture
async def remote(server: SocketServer, settings: Settings) -> Any:
    eng = await RemoteEngine.open(settings)
    yield eng
    await eng.close()


async def test_same_answers_as_the_engine(
    remote: RemoteEngine,
    engine: Engine,
    lua_file: Any,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    hook_path = lua_file(CHILD_HOOK, "child.lua")
    monkeypatch.chdir(tmp_path)  # a relative path is resolved here, not in the daemon's cwd
    hook = await remote.add_hook("child", ["deploy.*"], "child.lua", description="d", timeout=5)
    assert isinstance(hook, Hook) and hook.file == str(hook_path) and hook.timeout == 5
    assert await remote.list_hooks() == await engine.list_hooks()
    assert await remote.get_hook("child") == await engine.get_hook("child")

    event, runs = await remote.dispatch_and_run("deploy.failed", {"service": "api"}, source="cli")
    assert isinstance(event, Event) and event.source == "cli"
    assert [type(r) for r in runs] == [Execution] and runs[0].status == "success"
    await engine.wait_idle()
    assert await remote.executions_of(event.id) == await engine.executions_of(event.id)
    children = await remote.child_events(event.id)
    assert [c.type for c in children] == ["health.degraded"]
    assert children == await engine.child_events(event.id)
    assert await remote.get_event(event.id) == await engine.get_event(event.id)

    flt = parse_filter("!src:system").with_terms(Term("category", "deploy"))
    assert await remote.query_events(flt) == await engine.query_events(flt)
    assert await remote.query_events(None, after_id=0, limit=2) == await engine.query_events(
        None, after_id=0, limit=2
    )
    assert await remote.count_events(flt) == await engine.count_events(flt) == 1
    assert await remote.executions(hook="child") == await engine.executions(hook="child")
    assert await remote.counts() == await engine.counts()
    stats = await remote.hook_stats()
    assert isinstance(stats["child"], HookStats) and stats["child"].runs == 1

    plain = await remote.dispatch("task.started", {"task_name": "t"}, strict=False)
    assert plain.type == "task.started" and plain.id > event.id
    assert await remote.wait_idle(5) is True


async def test_hook_commands_round_trip(
    remote: RemoteEngine, engine: Engine, lua_file: Any
) -> None:
    path = lua_file("function on_event() log.warn('x' .. event.type) return false end")
    await remote.add_hook("h", ["task.*"], path)
    with pytest.raises(HookError, match="already exists"):
        await remote.add_hook("h", ["task.*"], path)
    updated = await remote.update_hook("h", events=["task.failed"], description="only failures")
    assert updated.events == ["task.failed"] and updated.description == "only failures"
    disabled = await remote.set_hook_enabled("h", False)
    assert disabled.enabled is False and (await engine.get_hook("h")).enabled is False
    dry = await remote.test_hook("h")
    assert isinstance(dry, Execution) and dry.dry_run and dry.status == "failed"
    edited = await remote.test_hook(
        await remote.get_hook("h"),
        "task.failed",
        {"task_name": "n"},
        code="function on_event() return 1 end",
    )
    assert edited.status == "success"
    given = Event(0, "task.failed", "task", {"task_name": "z"}, source="test")
    assert (await remote.test_hook("h", event=given)).logs[0].message == "xtask.failed"
    await remote.delete_hook("h")
    with pytest.raises(NotFound):
        await remote.get_hook("h")


async def test_rerun_over_the_socket(remote: RemoteEngine, engine: Engine, lua_file: Any) -> None:
    await remote.add_hook("h", ["task.failed"], lua_file("function on_event() return 1 end"))
    event, first = await remote.dispatch_and_run("task.failed", {"task_name": "t"})
    again, runs = await remote.rerun(event.id)
    assert again.id == event.id and [type(r) for r in runs] == [Execution]
    assert [r.hook for r in runs] == ["h"] and runs[0].started > first[0].started
    assert len(await engine.executions_of(event.id)) == 2
    assert [r.hook for r in (await remote.rerun(event.id, ["h"]))[1]] == ["h"]
    with pytest.raises(NotFound, match="no hook named 'nope'"):
        await remote.rerun(event.id, ["nope"])
    with pytest.raises(HookError, match=r"no enabled hook matches task\.started"):
        await remote.rerun((await remote.dispatch("task.started", {})).id)


async def test_hook_outcomes_over_the_socket(
    remote: RemoteEngine, engine: Engine, lua_file: Any
) -> None:
    await engine.add_hook("h", ["task.*"], lua_file("function on_event() end"))
    await engine.add_hook("f", ["task.failed"], lua_file("function on_event() return false end"))
    event, _ = await engine.dispatch_and_run("task.failed", {})
    await engine.test_hook("h", event=event)  # a dry run is not an outcome
    outcomes = await remote.hook_outcomes([event.id, 424242])
    assert outcomes == await engine.hook_outcomes([event.id, 424242])
    assert sorted(outcomes[event.id]) == [("f", "failed"), ("h", "success")]
    assert outcomes[424242] == []


async def test_errors_are_the_engines_errors(remote: RemoteEngine) -> None:
    with pytest.raises(NotFound, match="no event with id 424242"):
        await remote.get_event(424242)
    with pytest.raises(EventRefused, match="invalid event type"):
        await remote.dispatch("NOT A TYPE", {})
    with pytest.raises(EventRefused, match="strict mode"):
        await remote.dispatch("deploy.failed", {}, strict=True)
    with pytest.raises(HookError, match="hook file not found"):
        await remote.add_hook("x", ["*"], "/nonexistent/hook.lua")
    with pytest.raises(NotFound):
        await remote.delete_event(424242)
    parent = await remote.dispatch("task.started", {"task_name": "p"})
    with pytest.raises(EventRefused, match="dispatched by hooks"):
        await remote.dispatch("task.failed", {}, parent=parent)


async def test_delete_and_cleanup(remote: RemoteEngine, engine: Engine) -> None:
    event = await remote.dispatch("task.started", {"task_name": "a"})
    await remote.delete_event(event.id)
    with pytest.raises(NotFound):
        await engine.get_event(event.id)
    await remote.dispatch("task.started", {"task_name": "b"})
    assert await remote.cleanup(0) >= 1
    assert await engine.count_events() == 0


async def test_subscribe_yields_rebuilt_notices_and_stats(
    remote: RemoteEngine, engine: Engine
) -> None:
    sub = remote.subscribe()
    assert isinstance(sub, Subscription)
    assert await remote.wait_subscribed()
    await engine.dispatch("deploy.completed", {"service": "api"}, source="cli")
    notice = await asyncio.wait_for(sub.get(), 5)
    assert notice.kind == "event" and isinstance(notice.payload, Event)
    assert notice.payload.type == "deploy.completed"
    stats = await asyncio.wait_for(_next_kind(sub, "stats"), 5)
    assert isinstance(stats, EngineStats) and stats.events_total >= 2
    assert isinstance(remote.stats(), EngineStats)
    sub.close()


async def _next_kind(sub: Subscription, kind: str) -> Any:
    while True:
        notice = await sub.get()
        if notice.kind == kind:
            return notice.payload


async def test_it_reconnects_after_the_daemon_comes_back(
    engine: Engine, settings: Settings
) -> None:
    srv = SocketServer(engine, settings.socket_path)
    await srv.start()
    remote = await RemoteEngine.open(settings)
    sub = remote.subscribe()
    assert await remote.wait_subscribed()
    assert remote.connected and "daemon pid" in remote.label
    await srv.stop_intake()
    await srv.close(timeout=0.5)
    assert await asyncio.wait_for(_next_kind(sub, "disconnected"), 5)
    assert not remote.connected
    with pytest.raises(DaemonUnavailable, match="no sloth-tui daemon answers"):
        await remote.count_events()
    srv = SocketServer(engine, settings.socket_path)
    await srv.start()
    info = await asyncio.wait_for(_next_kind(sub, "connected"), 10)
    assert info["pid"] == os.getpid() and remote.connected
    assert await remote.count_events() >= 1  # the stale pooled connection was replaced
    await engine.dispatch("task.started", {"task_name": "after"})
    event = await asyncio.wait_for(_next_kind(sub, "event"), 5)
    assert event.data["task_name"] == "after"
    await remote.close()
    assert (await asyncio.wait_for(_next_kind(sub, "shutdown"), 5)) == "detached"
    with pytest.raises(DaemonUnavailable, match="closed"):
        await remote.count_events()
    await srv.stop_intake()
    await srv.close(timeout=0.5)


async def test_a_cancelled_request_does_not_poison_the_pool(
    remote: RemoteEngine, engine: Engine, lua_file: Any
) -> None:
    slow = lua_file(
        "function on_event() local t = os.clock() while os.clock() - t < 0.3 do end return true end"
    )
    await remote.add_hook("slow", ["task.*"], slow)
    taken = engine.stats().events_total
    task = asyncio.create_task(remote.dispatch_and_run("task.started", {"task_name": "s"}))
    # In flight: the daemon has the event, its slow hook runs (0.3 s) when the cancel comes.
    await async_wait_for(lambda: engine.stats().events_total > taken, what="the event taken in")
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    # The next answer must be its own, not the cancelled request's late reply.
    assert (await remote.get_hook("slow")).name == "slow"
    assert await remote.count_events(parse_filter("type:nothing.*")) == 0


async def test_open_fails_clearly_without_a_daemon(settings: Settings) -> None:
    expected = f"no sloth-tui daemon answers on {settings.socket_path}"
    with pytest.raises(DaemonUnavailable, match=expected):
        await RemoteEngine.open(settings)


async def test_choose_engine(server: SocketServer, settings: Settings, tmp_path: Path) -> None:
    # choose_engine blocks (it runs before any loop in the CLI): give it a thread here.
    def choose(attach: str | None, embedded: bool, token_file: str | None = None) -> Any:
        return choose_engine(settings, attach, embedded, token_file)

    here = Address(path=settings.socket_path)
    assert await asyncio.to_thread(choose, None, False) == here
    assert await asyncio.to_thread(choose, None, True) is None
    assert await asyncio.to_thread(choose, str(settings.socket_path), False) == here
    with pytest.raises(DaemonUnavailable, match="no sloth-tui daemon answers on"):
        await asyncio.to_thread(choose, str(tmp_path / "nothing.sock"), False)
    with pytest.raises(SlothError, match="exclude each other"):
        await asyncio.to_thread(choose, "x.sock", True)
    token = tmp_path / "token"
    token.write_text("0123456789abcdef-token\n")
    assert choose("tcp://127.0.0.1:7071", False, str(token)) == Address(
        host="127.0.0.1", port=7071, token="0123456789abcdef-token"
    )
    with pytest.raises(SlothError, match=r"needs --token-file FILE \(or SLOTH_TUI_TOKEN_FILE\)"):
        choose("tcp://127.0.0.1:7071", False)
    with pytest.raises(SlothError, match="only loopback addresses"):
        choose("tcp://10.0.0.5:7071", False, str(token))
    with pytest.raises(SlothError, match=r"--attach '127.0.0.1': expected HOST:PORT"):
        choose("tcp://127.0.0.1", False, str(token))
    with pytest.raises(SlothError, match="only used with --attach tcp://HOST:PORT"):
        await asyncio.to_thread(choose, None, False, str(token))
    with pytest.raises(SlothError, match="cannot read the token file"):
        choose("tcp://127.0.0.1:7071", False, str(tmp_path / "missing"))


def test_choose_engine_without_a_daemon_is_embedded(settings: Settings) -> None:
    assert choose_engine(settings, None, False) is None


async def test_a_remote_over_tcp_with_token(
    engine: Engine, tmp_path: Path, settings: Settings
) -> None:
    from sloth_tui.remote.server import TcpAddress

    token = "0123456789abcdef-token"
    srv = SocketServer(engine, tmp_path / "t.sock", tcp=TcpAddress("127.0.0.1", 0), token=token)
    await srv.start()
    try:
        assert srv.tcp_port is not None
        at = Address(host="127.0.0.1", port=srv.tcp_port, token=token)
        remote = await RemoteEngine.open(settings, at)
        assert (await remote.dispatch("task.started", {"task_name": "tcp"})).id > 0
        await remote.close()
        with pytest.raises(SlothError, match="wrong token"):
            await RemoteEngine.open(settings, Address(host="127.0.0.1", port=at.port, token="nope"))
    finally:
        await srv.stop_intake()
        await srv.close()
