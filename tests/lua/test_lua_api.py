"""The host API: event, log/print, json, state, os/string/table/math/utf8."""

from __future__ import annotations

from sloth_tui.model.records import Event


def run(runtime, make_hook, event, body, **kw):
    return runtime.run(make_hook(f"function on_event()\n{body}\nend\n"), event, **kw)


def test_event_fields(runtime, make_hook, deploy_event):
    deploy_event.ts = 1_700_000_000.75
    body = (
        "return {event.type, event.id, event.timestamp, event.source,"
        " event.data.deploy_id, event.category}"
    )
    exe = run(runtime, make_hook, deploy_event, body)
    assert exe.result == ["deploy.failed", 1, 1_700_000_000, "cli", "deploy-12345", "deploy"]


def test_event_agent_and_task_shortcuts(runtime, make_hook):
    event = Event(
        id=5,
        type="agent.connected",
        category="agent",
        data={"agent": {"name": "a1", "address": "10.0.0.1"}, "task": {"name": "t"}},
    )
    exe = run(runtime, make_hook, event, "return {event.agent.name, event.task.name}")
    assert exe.result == ["a1", "t"]


def test_no_shortcut_when_not_a_table(runtime, make_hook):
    event = Event(id=5, type="task.started", category="task", data={"agent": "a1"})
    exe = run(
        runtime, make_hook, event, "return {agent = event.agent == nil, task = event.task == nil}"
    )
    assert exe.result == {"agent": True, "task": True}


def test_log_levels_and_print(runtime, make_hook, deploy_event):
    body = """
log.debug("d") log.info("i", 2) log.warn("w") log.error("e")
print("p", 1, nil, true)
"""
    exe = run(runtime, make_hook, deploy_event, body)
    assert [(line.level, line.message) for line in exe.logs] == [
        ("debug", "d"),
        ("info", "i 2"),
        ("warn", "w"),
        ("error", "e"),
        ("info", "p\t1\tnil\ttrue"),
    ]
    assert all(line.ts > 0 for line in exe.logs)


def test_log_is_capped(runtime, make_hook, deploy_event):
    body = 'for i = 1, 1500 do log.info(i) end log.info(string.rep("y", 20000))'
    exe = run(runtime, make_hook, deploy_event, body)
    assert len(exe.logs) == 1001
    assert "501 more log lines dropped" in exe.logs[-1].message
    exe = run(runtime, make_hook, deploy_event, 'log.info(string.rep("y", 20000))')
    assert len(exe.logs[0].message) < 9000


def test_invalid_utf8_is_repaired(runtime, make_hook, deploy_event):
    exe = run(runtime, make_hook, deploy_event, 'log.info("bad \\xff byte") return "\\xfe"')
    assert exe.logs[0].message == "bad \ufffd byte"
    assert exe.result == "\ufffd"


def test_json_encode(runtime, make_hook, deploy_event):
    body = 'return json.encode({b = {1, 2, {c = "x\\n\\"q\\""}}, a = 1.5, e = {}, t = true})'
    exe = run(runtime, make_hook, deploy_event, body)
    assert exe.result == '{"a":1.5,"b":[1,2,{"c":"x\\n\\"q\\""}],"e":{},"t":true}'


def test_json_encode_failures_are_nil_err(runtime, make_hook, deploy_event):
    body = """
local t = {} t.self = t
local a, e1 = json.encode({f = print})
local b, e2 = json.encode(t)
local c, e3 = json.encode(0/0)
return {a == nil, e1, b == nil, e2, c == nil, e3}
"""
    exe = run(runtime, make_hook, deploy_event, body)
    assert exe.result[0] and exe.result[2] and exe.result[4]
    assert "function" in exe.result[1]
    assert "contains itself" in exe.result[3]
    assert "nan" in exe.result[5].lower()


def test_json_decode(runtime, make_hook, deploy_event):
    body = """
local v = json.decode('{"a": [1, 2, 3], "b": {"c": null, "d": "é"}, "n": 12345678901234567890}')
local bad, err = json.decode("{nope")
return {#v.a, v.a[3], v.b.c == nil, v.b.d, math.type(v.n), bad == nil, err ~= nil}
"""
    exe = run(runtime, make_hook, deploy_event, body)
    assert exe.result == [3, 3, True, "é", "float", True, True]


def test_json_round_trip(runtime, make_hook, deploy_event):
    body = "return json.decode(json.encode(event.data))"
    exe = run(runtime, make_hook, deploy_event, body)
    assert exe.result == deploy_event.data


def test_state_persists_per_hook(runtime, make_hook, deploy_event, host):
    code = """function on_event()
  if state.get("seen:" .. event.data.deploy_id) then return false, "already handled" end
  state.set("seen:" .. event.data.deploy_id, {at = 1})
  return state.incr("runs")
end"""
    hook = make_hook(code, name="idem")
    first = runtime.run(hook, deploy_event)
    assert first.status == "success"
    assert first.result == 1
    assert host.state[("idem", "seen:deploy-12345")] == {"at": 1}
    second = runtime.run(hook, deploy_event)
    assert second.status == "failed"
    assert second.error == "already handled"
    other = make_hook("function on_event() return state.get('runs') end", name="other")
    assert runtime.run(other, deploy_event).result is None  # per hook


def test_state_api(runtime, make_hook, deploy_event, host):
    body = """
state.set("k", "v")
local a = state.get("k")
state.delete("k")
local b = state.get("k")
local n1 = state.incr("n", 5)
local n2 = state.incr("n")
state.set("gone", 1) state.set("gone", nil)
return {a, b == nil, n1, n2, math.type(n2), state.get("gone") == nil}
"""
    exe = run(runtime, make_hook, deploy_event, body)
    assert exe.result == ["v", True, 5, 6, "integer", True]
    assert [c["fn"] for c in exe.calls] == [
        "state.set",
        "state.get",
        "state.delete",
        "state.get",
        "state.incr",
        "state.incr",
        "state.set",
        "state.delete",
        "state.get",
    ]
    assert exe.calls[0] == {"fn": "state.set", "key": "k", "value": "v"}


def test_state_errors_are_lua_errors_at_the_hook_line(runtime, make_hook, deploy_event):
    exe = runtime.run(
        make_hook("function on_event()\n  state.set(1, 2)\nend", file="s.lua"), deploy_event
    )
    assert exe.status == "error"
    assert exe.error == "s.lua:2: state.set: key must be a string, got number"
    exe = runtime.run(make_hook("function on_event()\n  state.set('k', print)\nend"), deploy_event)
    assert "cannot encode a function" in exe.error


def test_state_host_failure_is_reported(runtime, make_hook, deploy_event, host):
    def broken(hook, key):
        raise RuntimeError("store closed")

    host.state_get = broken
    exe = run(runtime, make_hook, deploy_event, "return state.get('k')")
    assert exe.status == "error"
    assert "state.get: store closed" in exe.error


def test_event_dispatch(runtime, make_hook, deploy_event, host):
    body = 'return {event.dispatch("deploy.rollback", {deploy_id = event.data.deploy_id})}'
    hook = make_hook(f"function on_event()\n{body}\nend", name="roller")
    exe = runtime.run(hook, deploy_event)
    assert exe.result == [True, 101]
    (child,) = host.events
    assert child.type == "deploy.rollback"
    assert child.data == {"deploy_id": "deploy-12345"}
    assert child.parent_id == 1 and child.depth == 1
    assert child.source == "hook:roller"
    assert exe.calls == [
        {
            "fn": "event.dispatch",
            "type": "deploy.rollback",
            "data": {"deploy_id": "deploy-12345"},
            "id": 101,
            "error": None,
            "dry_run": False,
        }
    ]


def test_event_dispatch_refused_returns_nil_err(runtime, make_hook, host):
    deep = Event(id=9, type="deploy.failed", category="deploy", data={}, depth=8)
    exe = run(runtime, make_hook, deep, 'return {event.dispatch("deploy.rollback", {})}')
    assert exe.status == "success"
    assert exe.result == {"2": "event chain too deep: depth 9 > limit 8"}
    assert exe.calls[0]["error"] == "event chain too deep: depth 9 > limit 8"
    assert exe.calls[0]["id"] is None
    assert host.events == []


def test_event_dispatch_bad_data(runtime, make_hook, deploy_event, host):
    exe = run(runtime, make_hook, deploy_event, 'return {event.dispatch("x.y", {1, 2})}')
    assert "named fields" in exe.result["2"]
    exe = run(runtime, make_hook, deploy_event, "event.dispatch(42, {})")
    assert exe.status == "error"
    assert "type must be a string" in exe.error
    assert host.events == []


def test_event_dispatch_host_crash_is_nil_err(runtime, make_hook, deploy_event, host):
    def boom(*a, **kw):
        raise TimeoutError()

    host.dispatch = boom
    exe = run(runtime, make_hook, deploy_event, 'return {event.dispatch("x.y", {})}')
    assert exe.status == "success"
    assert exe.result["2"].startswith("dispatch failed")


def test_event_dispatch_custom(runtime, make_hook, deploy_event, host):
    body = """
event.dispatch_custom("deployment_complete", "App deployed successfully to production")
event.dispatch_custom("with_payload", "m", {k = "v"})
"""
    exe = run(runtime, make_hook, deploy_event, body)
    assert exe.status == "success"
    assert [(e.type, e.data) for e in host.events] == [
        (
            "custom",
            {
                "name": "deployment_complete",
                "message": "App deployed successfully to production",
                "payload": {},
            },
        ),
        ("custom", {"name": "with_payload", "message": "m", "payload": {"k": "v"}}),
    ]
    assert exe.calls[0]["fn"] == "event.dispatch_custom"


def test_standard_libraries(runtime, make_hook, deploy_event):
    body = """
return {
  type(os.time()), os.date("%Y", 0), type(os.clock()),
  string.upper("a"), ("b"):rep(2), table.concat({1, 2}, ","), math.max(1, 3),
  utf8.char(233), select("#", table.unpack({1, 2, 3})), tostring(nil), tonumber("0x10"),
}
"""
    exe = run(runtime, make_hook, deploy_event, body)
    assert exe.result == ["number", "1970", "number", "A", "bb", "1,2", 3, "é", 3, "nil", 16]


def test_allowed_base_functions_work(runtime, make_hook, deploy_event):
    body = """
local t = setmetatable({}, {__index = function(_, k) return k .. "!" end})
local ok, err = pcall(error, "caught")
local co = coroutine.create(function(a) local b = coroutine.yield(a + 1) return b * 2 end)
local _, first = coroutine.resume(co, 1)
local _, second = coroutine.resume(co, 10)
local gen = coroutine.wrap(function() coroutine.yield("w") end)
local f = load("return 1 + ...")
return {t.x, ok, err, first, second, gen(), f(1), rawget(t, "x") == nil, next({}) == nil}
"""
    exe = run(runtime, make_hook, deploy_event, body)
    assert exe.result == ["x!", False, "caught", 2, 20, "w", 2, True, True]
