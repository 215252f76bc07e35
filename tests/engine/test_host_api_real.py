"""Every host-API call on the real engine: Engine.open on a temp home, a hook added for
real, an event dispatched, the stored execution checked. No fake host here: the calls
go through ThreadHost onto the engine's event loop, the store and a real HTTP server.
"""

from __future__ import annotations

import asyncio
import json
import socket
from collections.abc import AsyncIterator, Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from gatekit import Gate

from sloth_tui.config import Settings
from sloth_tui.engine import threadhost
from sloth_tui.engine.engine import Engine
from sloth_tui.engine.store import Store
from sloth_tui.model.records import Execution

LuaFile = Callable[..., Path]


@pytest.fixture
async def real(settings: Settings) -> AsyncIterator[Engine]:
    engine = await Engine.open(settings)
    yield engine
    await engine.close()


async def run_hook(
    engine: Engine,
    lua_file: LuaFile,
    code: str,
    data: dict[str, Any] | None = None,
    *,
    name: str = "h",
    type: str = "myapp.ping",
) -> Execution:
    """Add the hook (once per name), dispatch one event, return its stored execution."""
    if name not in {h.name for h in await engine.list_hooks()}:
        await engine.add_hook(name, [type], lua_file(code))
    _event, runs = await engine.dispatch_and_run(type, data or {})
    (execution,) = [r for r in runs if r.hook == name]
    return execution


def calls_of(execution: Execution, fn: str) -> list[dict[str, Any]]:
    return [c for c in execution.calls if c["fn"] == fn]


# -- state ----------------------------------------------------------------------------

STATE_HOOK = """
function on_event()
  local op = event.data.op
  if op == "set" then
    state.set("k", {n = 1, tags = {"a", "b"}})
    state.set("s", "text")
    return true
  elseif op == "get" then
    local v = state.get("k")
    return {v.n, v.tags[2], state.get("s"), state.get("missing") == nil}
  elseif op == "delete" then
    state.delete("k")
    state.set("s", nil)
    return {state.get("k") == nil, state.get("s") == nil}
  end
end
"""


async def test_state_set_persists_across_runs_and_reopen(
    settings: Settings, lua_file: LuaFile
) -> None:
    engine = await Engine.open(settings)
    try:
        ex = await run_hook(engine, lua_file, STATE_HOOK, {"op": "set"})
        assert ex.status == "success", ex.error
        assert [(c["key"], c["value"]) for c in calls_of(ex, "state.set")] == [
            ("k", {"n": 1, "tags": ["a", "b"]}),
            ("s", "text"),
        ]
        assert not any(c.get("error") for c in ex.calls)
        # A later run of the same hook, same engine, reads what the first one wrote.
        ex = await run_hook(engine, lua_file, STATE_HOOK, {"op": "get"})
        assert ex.status == "success", ex.error
        assert ex.result == [1, "b", "text", True]
        assert [c["value"] for c in calls_of(ex, "state.get")] == [
            {"n": 1, "tags": ["a", "b"]},
            "text",
            None,
        ]
    finally:
        await engine.close()

    # Durable: a store opened afresh sees it, and so does the hook in a new engine.
    store = await Store.open(settings.db_path, readonly=True)
    try:
        assert await store.state_get("h", "k") == {"n": 1, "tags": ["a", "b"]}
        assert await store.state_get("h", "s") == "text"
    finally:
        await store.close()
    engine = await Engine.open(settings)
    try:
        ex = await run_hook(engine, lua_file, STATE_HOOK, {"op": "get"})
        assert ex.status == "success", ex.error
        assert ex.result == [1, "b", "text", True]
    finally:
        await engine.close()


async def test_state_delete_and_set_nil_persist(settings: Settings, lua_file: LuaFile) -> None:
    engine = await Engine.open(settings)
    try:
        assert (await run_hook(engine, lua_file, STATE_HOOK, {"op": "set"})).status == "success"
        ex = await run_hook(engine, lua_file, STATE_HOOK, {"op": "delete"})
        assert ex.status == "success", ex.error
        assert ex.result == [True, True]
        # set(key, nil) is recorded as the delete it is.
        assert [c["key"] for c in calls_of(ex, "state.delete")] == ["k", "s"]
        assert not any(c.get("error") for c in ex.calls)
    finally:
        await engine.close()
    store = await Store.open(settings.db_path, readonly=True)
    try:
        assert await store.state_get("h", "k") is None
        assert await store.state_get("h", "s") is None
    finally:
        await store.close()


async def test_state_is_per_hook(real: Engine, lua_file: LuaFile) -> None:
    writer = 'function on_event() state.set("shared", "mine") end'
    reader = 'function on_event() return state.get("shared") == nil end'
    await real.add_hook("writer", ["myapp.ping"], lua_file(writer))
    await real.add_hook("reader", ["myapp.pong"], lua_file(reader))
    _, (w,) = await real.dispatch_and_run("myapp.ping", {})
    _, (r,) = await real.dispatch_and_run("myapp.pong", {})
    assert (w.status, r.status, r.result) == ("success", "success", True)
    assert await real.store.state_get("writer", "shared") == "mine"
    assert await real.store.state_get("reader", "shared") is None


async def test_state_incr_is_atomic_across_concurrent_runs(
    settings: Settings, lua_file: LuaFile
) -> None:
    code = 'function on_event() state.incr("n") return state.incr("total", 2.5) end'
    engine = await Engine.open(replace(settings, concurrency=4))
    try:
        await engine.add_hook("count", ["myapp.tick"], lua_file(code))
        events = await asyncio.gather(*(engine.dispatch("myapp.tick", {}) for _ in range(24)))
        assert await engine.wait_idle(60)
        runs = [ex for e in events for ex in await engine.executions_of(e.id)]
        assert [r.status for r in runs] == ["success"] * 24
        # Each run saw a different total: no two read-modify-writes overlapped.
        assert sorted(r.result for r in runs) == [2.5 * i for i in range(1, 25)]
        incr = calls_of(runs[0], "state.incr")
        assert [(c["key"], c["by"]) for c in incr] == [("n", 1), ("total", 2.5)]
    finally:
        await engine.close()
    store = await Store.open(settings.db_path, readonly=True)
    try:
        assert await store.state_get("count", "n") == 24
        assert await store.state_get("count", "total") == 60.0
    finally:
        await store.close()


# -- json -------------------------------------------------------------------------------


async def test_json_encode_decode(real: Engine, lua_file: LuaFile) -> None:
    code = """
function on_event()
  local text = json.encode({service = event.data.service, n = 2, list = {1, 2}, empty = {}})
  local back = json.decode(text)
  local bad, err = json.decode("{nope")
  local weird, werr = json.encode({f = function() end})
  log.info(text)
  return {back.service, back.n, back.list[2], bad == nil, err, weird == nil, werr ~= nil}
end
"""
    ex = await run_hook(real, lua_file, code, {"service": "api"})
    assert ex.status == "success", ex.error
    assert ex.result[:4] == ["api", 2, 2, True]
    assert ex.result[4].startswith("json.decode: ")
    assert ex.result[5:] == [True, True]
    assert json.loads(ex.logs[0].message) == {
        "service": "api",
        "n": 2,
        "list": [1, 2],
        "empty": {},
    }


# -- http against a real server on 127.0.0.1 ----------------------------------------------


async def test_http_verbs_reach_a_real_server(real: Engine, lua_file: LuaFile, gate: Gate) -> None:
    url = gate.root
    code = f"""
function on_event()
  local g = http.get("{url}/g", {{headers = {{Authorization = "Bearer t"}}}})
  local p = http.post("{url}/p", {{service = event.data.service}})
  local u = http.put("{url}/u", "raw text")
  local d = http.delete("{url}/status/404")
  return {{g.status, g.json.method, p.json.body, u.json.body, d.status, d.ok}}
end
"""
    ex = await run_hook(real, lua_file, code, {"service": "api"})
    assert ex.status == "success", ex.error
    assert ex.result == [200, "GET", '{"service":"api"}', "raw text", 404, False]
    assert [(m, p) for m, p, _h, _b in gate.received] == [
        ("GET", "/g"),
        ("POST", "/p"),
        ("PUT", "/u"),
        ("DELETE", "/status/404"),
    ]
    assert gate.received[0][2]["Authorization"] == "Bearer t"
    assert gate.received[1][2]["Content-Type"] == "application/json"
    recorded = [(c["fn"], c["method"], c["url"], c["status"], c["error"]) for c in ex.calls]
    assert recorded == [
        ("http.get", "GET", f"{url}/g", 200, None),
        ("http.post", "POST", f"{url}/p", 200, None),
        ("http.put", "PUT", f"{url}/u", 200, None),
        ("http.delete", "DELETE", f"{url}/status/404", 404, None),
    ]
    assert ex.calls[1]["body"] == {"service": "api"} and ex.calls[2]["body"] == "raw text"
    assert all(c["dry_run"] is False for c in ex.calls)


async def test_http_failure_is_nil_err_and_recorded(real: Engine, lua_file: LuaFile) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # nothing listens once the socket is closed
    code = f"""
function on_event()
  local r, err = http.post("http://127.0.0.1:{port}/x", {{a = 1}})
  return {{r == nil, err}}
end
"""
    ex = await run_hook(real, lua_file, code)
    assert ex.status == "success", ex.error
    assert ex.result[0] is True and "connection refused" in ex.result[1]
    (call,) = calls_of(ex, "http.post")
    assert call["status"] is None and call["error"] == "connection refused"


# -- event.dispatch / dispatch_custom ------------------------------------------------------


async def test_event_dispatch_stores_child_and_runs_its_hooks(
    real: Engine, lua_file: LuaFile
) -> None:
    parent_code = """
function on_event()
  local data = {deploy_id = event.data.deploy_id, reason = "auto"}
  local ok, id = event.dispatch("deploy.rollback", data)
  local bad, err = event.dispatch("Not A Type", {})
  return {ok, id, bad == nil, err}
end
"""
    child_code = "function on_event() log.info('child of ' .. event.parent_id) return true end"
    await real.add_hook("parent", ["deploy.failed"], lua_file(parent_code))
    await real.add_hook("child", ["deploy.rollback"], lua_file(child_code))
    event, (ex,) = await real.dispatch_and_run("deploy.failed", {"deploy_id": "d-1"})
    assert ex.status == "success", ex.error
    ok, child_id, refused, err = ex.result
    assert ok is True and refused is True and err
    (child,) = await real.child_events(event.id)
    assert child.id == child_id
    assert (child.type, child.parent_id, child.depth) == ("deploy.rollback", event.id, 1)
    assert child.source == "hook:parent"
    assert child.data == {"deploy_id": "d-1", "reason": "auto"}
    dispatched = calls_of(ex, "event.dispatch")
    assert [(c["type"], c["id"], c["error"] is None) for c in dispatched] == [
        ("deploy.rollback", child_id, True),
        ("Not A Type", None, False),
    ]
    # The child's own hooks ran on it, in the same engine.
    assert await real.wait_idle()
    (child_run,) = await real.executions_of(child.id)
    assert child_run.status == "success"
    assert child_run.logs[0].message == f"child of {event.id}"
    assert (await real.get_event(child.id)).status == "completed"


async def test_event_dispatch_custom(real: Engine, lua_file: LuaFile) -> None:
    code = """
function on_event()
  local ok, id = event.dispatch_custom("backup_done", "all good", {files = 3})
  return id
end
"""
    event = await real.dispatch("myapp.ping", {})
    await real.add_hook("h", ["myapp.pong"], lua_file(code))
    parent, (ex,) = await real.dispatch_and_run("myapp.pong", {})
    assert ex.status == "success", ex.error
    (child,) = await real.child_events(parent.id)
    assert child.id == ex.result and child.id > event.id
    assert (child.type, child.category, child.parent_id, child.depth) == (
        "custom",
        "custom",
        parent.id,
        1,
    )
    assert child.data == {"name": "backup_done", "message": "all good", "payload": {"files": 3}}
    (call,) = calls_of(ex, "event.dispatch_custom")
    assert call["id"] == child.id and call["type"] == "custom"


# -- log and print -----------------------------------------------------------------------


async def test_log_levels_and_print(settings: Settings, lua_file: LuaFile) -> None:
    code = """
function on_event()
  log.debug("d", 1)
  log.info("i " .. event.data.service)
  log.warn("w")
  log.error("e", true, nil)
  print("p", 2, {} ~= nil)
  return true
end
"""
    engine = await Engine.open(settings)
    try:
        ex = await run_hook(engine, lua_file, code, {"service": "api"})
        event_id = ex.event_id
    finally:
        await engine.close()
    expected = [
        ("debug", "d 1"),
        ("info", "i api"),
        ("warn", "w"),
        ("error", "e true nil"),
        ("info", "p\t2\ttrue"),  # print: tab-separated, captured as info
    ]
    assert ex.status == "success", ex.error
    assert [(line.level, line.message) for line in ex.logs] == expected
    # The logs are part of the stored record: a reader opened later sees them.
    reader = await Engine.open(settings, readonly=True)
    try:
        (stored,) = await reader.executions_of(event_id)
    finally:
        await reader.close()
    assert [(line.level, line.message) for line in stored.logs] == expected
    assert stored.status == "success"


# -- host calls and the engine's own waits ---------------------------------------------------


async def test_host_call_while_the_engine_stops_is_answered(
    settings: Settings, lua_file: LuaFile, gate: Gate, monkeypatch: pytest.MonkeyPatch
) -> None:
    """close() gives up on draining and stops the pool while a hook still runs; the hook
    then calls state.incr, which only the loop can answer. The loop must not be blocked
    joining the hook's thread meanwhile (that was a deadlock, until CALL_TIMEOUT)."""
    monkeypatch.setattr(threadhost, "CALL_TIMEOUT", 3.0)  # a deadlock fails fast
    url = gate.root
    code = f"""
function on_event()
  http.get("{gate.url}")
  local ok, value = pcall(state.incr, "n")
  http.post("{url}/report", {{ok = ok, value = tostring(value)}})
end
"""
    engine = await Engine.open(settings)
    await engine.add_hook("h", ["myapp.ping"], lua_file(code))
    await engine.dispatch("myapp.ping", {})
    assert await asyncio.to_thread(gate.entered.wait, 10)  # the hook is running
    assert engine._dispatcher is not None
    dispatcher = engine._dispatcher
    settle = dispatcher.settle

    async def settle_after_opening_the_gate(timeout: float) -> bool:
        # The engine now waits for the hook's run to end: let the hook go on.
        gate.gate.set()
        return await settle(timeout)

    monkeypatch.setattr(dispatcher, "settle", settle_after_opening_the_gate)
    await engine.close(drain_timeout=0)
    method, path, _headers, body = gate.received[-1]
    assert (method, path) == ("POST", "/report")
    assert json.loads(body) == {"ok": True, "value": "1"}
    store = await Store.open(settings.db_path, readonly=True)
    try:
        assert await store.state_get("h", "n") == 1
    finally:
        await store.close()


async def test_read_only_engine_dry_run_reads_real_state(
    settings: Settings, lua_file: LuaFile
) -> None:
    code = """
function on_event()
  state.set("seen", (state.get("seen") or 0) + 1)
  return state.get("seen")
end
"""
    engine = await Engine.open(settings)
    try:
        assert (await run_hook(engine, lua_file, code)).result == 1
        # A read-only engine beside the owner: its dry run reads the stored state, and
        # its writes stay in the run's overlay.
        reader = await Engine.open(settings, readonly=True)
        try:
            ex = await reader.test_hook("h")
        finally:
            await reader.close()
        assert (ex.status, ex.dry_run, ex.result) == ("success", True, 2)
        assert await engine.store.state_get("h", "seen") == 1
    finally:
        await engine.close()


async def test_host_call_from_the_loop_thread_is_refused(real: Engine) -> None:
    """A host call made on the loop's own thread would wait for itself: refused at once."""
    assert real._runtime is not None
    with pytest.raises(RuntimeError, match="event loop thread"):
        real._runtime.host.state_get("h", "k")


async def test_a_host_calls_own_timeout_keeps_its_message(real: Engine) -> None:
    """A call that times out by itself (the fleet KV gives up after 5 s) is that error.
    Since 3.11 it is the same class as the host's own wait timing out, and it was
    reported as 'the engine did not answer within 30 s'."""
    assert real._runtime is not None
    host = real._runtime.host

    async def kv_that_gives_up() -> None:
        raise TimeoutError("the fleet KV did not answer within 5 s")

    with pytest.raises(TimeoutError, match=r"^the fleet KV did not answer within 5 s$"):
        await asyncio.to_thread(host._call, kv_that_gives_up)


async def test_a_host_call_the_loop_never_answers_times_out_and_is_cancelled(
    real: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(threadhost, "CALL_TIMEOUT", 0.2)
    assert real._runtime is not None
    host = real._runtime.host
    cancelled = asyncio.Event()

    async def never_answers() -> None:
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            cancelled.set()
            raise

    with pytest.raises(TimeoutError, match=r"^the engine did not answer within 0\.2 s$"):
        await asyncio.to_thread(host._call, never_answers)
    await asyncio.wait_for(cancelled.wait(), 30)  # the call it gave up on does not linger
