"""Escapes that must fail, each leaving the runtime able to serve the next run."""

from __future__ import annotations

import pytest

ESCAPES = {
    "os.execute": 'os.execute("echo hi")',
    "os.exit": "os.exit(1)",
    "os.getenv": 'return os.getenv("HOME")',
    "os.remove": 'os.remove("/tmp/x")',
    "os.rename": 'os.rename("/tmp/x", "/tmp/y")',
    "io.open": 'io.open("/etc/passwd")',
    "require": 'require "os"',
    "dofile": 'dofile("/etc/passwd")',
    "loadfile": 'loadfile("/etc/passwd")',
    "string.dump": "load(string.dump(function() end))",
    "method dump": '("x").dump(print)',
    "debug.sethook": "debug.sethook()",
    "debug.getregistry": "debug.getregistry()",
    "python.eval": 'python.eval("1")',
    "python.builtins": "python.builtins.open('/etc/passwd')",
    "collectgarbage": "collectgarbage()",
    "package": "package.loadlib('x', 'y')",
}


@pytest.mark.parametrize("code", ESCAPES.values(), ids=ESCAPES.keys())
def test_escape_is_an_error(runtime, make_hook, deploy_event, code):
    exe = runtime.run(
        make_hook(f"function on_event()\n  {code}\nend", file="esc.lua"), deploy_event
    )
    assert exe.status == "error"
    assert exe.error.startswith("esc.lua:2: attempt to ")
    after = runtime.run(make_hook("function on_event() return 'ok' end"), deploy_event)
    assert after.result == "ok"


def test_bytecode_load_is_refused(runtime, make_hook, deploy_event):
    body = 'return {load("\\27Lua\\84\\0\\25\\147\\13\\10\\26\\10")}'
    exe = runtime.run(make_hook(f"function on_event() {body} end"), deploy_event)
    assert exe.status == "success"
    assert "binary chunk" in exe.result["2"]


def test_load_mode_b_is_still_text_only(runtime, make_hook, deploy_event):
    body = 'local f = load("return 5", "x", "b") return f()'
    assert runtime.run(make_hook(f"function on_event() {body} end"), deploy_event).result == 5


def test_load_defaults_to_the_run_environment(runtime, make_hook, deploy_event):
    body = "marker = 3 return load('return marker')()"
    assert runtime.run(make_hook(f"function on_event() {body} end"), deploy_event).result == 3


def test_string_metatable_cannot_be_tampered(runtime, make_hook, deploy_event):
    attempts = """
local mt = getmetatable("")
local r = {}
r[1] = pcall(function() mt.__index = {upper = function() return "pwned" end} end)
r[2] = pcall(function() mt.__index.upper = function() return "pwned" end end)
r[3] = pcall(rawset, mt, "__index", {})
r[4] = pcall(setmetatable, mt, {})
r[5] = pcall(function() string.upper = function() return "pwned" end end)
return r
"""
    exe = runtime.run(make_hook(f"function on_event() {attempts} end"), deploy_event)
    assert exe.result == [False, False, False, False, True]  # own string table: allowed, per run
    check = runtime.run(
        make_hook('function on_event() return {("a"):upper(), string.upper("b")} end'), deploy_event
    )
    assert check.result == ["A", "B"]


def test_globals_do_not_leak_between_runs(runtime, make_hook, deploy_event):
    setter = make_hook(
        "function on_event() leaked = 'yes'; string.upper = nil; log = nil; _G.x = 1 end"
    )
    assert runtime.run(setter, deploy_event).status == "success"
    reader = make_hook(
        "function on_event() return {leaked == nil, x == nil, string.upper('a'), log ~= nil} end"
    )
    assert runtime.run(reader, deploy_event).result == [True, True, "A", True]
    # the same file, run again, starts clean too
    again = make_hook(
        "function on_event() local before = counter;"
        " counter = (counter or 0) + 1; return before end"
    )
    assert runtime.run(again, deploy_event).result is None
    assert runtime.run(again, deploy_event).result is None


def test_gc_metamethods_are_refused(runtime, make_hook, deploy_event):
    exe = runtime.run(
        make_hook("function on_event() setmetatable({}, {__gc = function() end}) end"), deploy_event
    )
    assert exe.status == "error"
    assert "__gc" in exe.error


def test_no_python_object_is_reachable(runtime, make_hook, deploy_event):
    walk = """
local seen, found = {}, {}
local function visit(v, path)
  local t = type(v)
  if t == "userdata" or t == "thread" then found[#found + 1] = path end
  if t ~= "table" or seen[v] then return end
  seen[v] = true
  for k, x in pairs(v) do visit(x, path .. "." .. tostring(k)) end
  local mt = getmetatable(v)
  if mt then visit(mt, path .. ".<mt>") end
end
visit(_G, "_G")
visit(getmetatable(""), "<string mt>")
visit(json.decode('{"a": [1, {"b": 2}]}'), "decoded")
return found
"""
    exe = runtime.run(make_hook(f"function on_event() {walk} end"), deploy_event)
    assert exe.status == "success"
    assert exe.result == {}


def test_python_attributes_are_denied(runtime, make_hook, deploy_event):
    # Even a value that crossed the bridge as data has no attribute path back.
    exe = runtime.run(
        make_hook("function on_event() return event.data.__class__ end"), deploy_event
    )
    assert exe.status == "success"
    assert exe.result is None


def test_math_randomseed_is_harmless(runtime, make_hook, deploy_event):
    exe = runtime.run(
        make_hook("function on_event() math.randomseed(1) return math.random(1, 6) end"),
        deploy_event,
    )
    assert exe.status == "success"
    assert 1 <= exe.result <= 6


def test_top_level_yield_is_an_error(runtime, make_hook, deploy_event):
    exe = runtime.run(make_hook("function on_event() coroutine.yield(1) end"), deploy_event)
    assert exe.status == "error"
    assert "yield" in exe.error


def test_python_exceptions_never_reach_hook_code(runtime, make_hook, deploy_event, host):
    def broken(*args, **kwargs):
        raise RuntimeError("host bug")

    host.state_get = broken
    host.dispatch = broken
    code = """function on_event()
  local ok, err = pcall(state.get, "k")
  local d, derr = event.dispatch("x.y", {})
  return {type(err), type(derr)}
end"""
    exe = runtime.run(make_hook(code), deploy_event)
    assert exe.result == ["string", "string"]
