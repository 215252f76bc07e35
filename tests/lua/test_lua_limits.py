"""Deadline, instruction budget and memory cap: each trips, is recorded, and the
runtime serves the next run. Short limits keep the suite fast."""

from __future__ import annotations

import time

import pytest
from hang_guard import ends

from sloth_tui.lua.runtime import Limits

TIMEOUT = 0.3
NO_BUDGET = 10**13  # so the deadline, not the instruction budget, trips first

LOOPS = {
    "plain": "while true do end",
    "pcall": "while true do pcall(function() while true do end end) end",
    "pcall swallowing": "for i = 1, math.huge do pcall(error, i) end",
    "xpcall with looping handler": (
        "xpcall(function() while true do end end, function() while true do end end) "
        "while true do end"
    ),
    "coroutine.wrap": "coroutine.wrap(function() while true do end end)()",
    "coroutine.resume": (
        "local co = coroutine.create(function() while true do end end) "
        "while true do coroutine.resume(co) end"
    ),
    "nested coroutines": (
        "coroutine.wrap(function() coroutine.wrap(function() while true do end end)() end)()"
    ),
    "many short coroutines": (
        "while true do coroutine.resume(coroutine.create(function() for i = 1, 50 do end end)) end"
    ),
    "load reader": "while true do load(function() while true do end end) end",
    "string.gsub callback": (
        'string.gsub(string.rep("a", 100), "a", function() while true do end end)'
    ),
    "__index loop": (
        "local t = setmetatable({}, {__index = function() while true do end end}) return t.x"
    ),
}


def served(runtime, make_hook, event) -> bool:
    return runtime.run(make_hook("function on_event() return 1 end"), event).result == 1


@pytest.mark.parametrize("code", LOOPS.values(), ids=LOOPS.keys())
def test_deadline_stops_the_loop(make_runtime, make_hook, deploy_event, code):
    runtime = make_runtime(instructions=NO_BUDGET)
    hook = make_hook(f"function on_event()\n  {code}\nend", timeout=TIMEOUT, file="loop.lua")
    start = time.monotonic()
    exe = ends(lambda: runtime.run(hook, deploy_event))  # the loops never end by themselves
    assert time.monotonic() - start >= TIMEOUT  # and not before the deadline
    assert exe.status == "timeout"
    assert exe.limit == "timeout"
    assert "timed out after 0.3 s" in exe.error
    assert served(runtime, make_hook, deploy_event)


def test_timeout_records_the_line(make_runtime, make_hook, deploy_event):
    runtime = make_runtime(instructions=NO_BUDGET)
    hook = make_hook(
        "function on_event()\n  local x = 0\n  while true do x = x + 1 end\nend",
        timeout=0.2,
        file="spin.lua",
    )
    exe = runtime.run(hook, deploy_event)
    assert exe.error.startswith("spin.lua:3: timed out")
    assert exe.error_line == 3


def test_logs_before_the_timeout_are_kept(make_runtime, make_hook, deploy_event):
    runtime = make_runtime(instructions=NO_BUDGET)
    exe = runtime.run(
        make_hook("function on_event() log.info('start') while true do end end", timeout=0.2),
        deploy_event,
    )
    assert exe.status == "timeout"
    assert [line.message for line in exe.logs] == ["start"]


def test_instruction_budget(make_runtime, make_hook, deploy_event):
    runtime = make_runtime(instructions=1_000_000)
    exe = runtime.run(make_hook("function on_event() while true do end end"), deploy_event)
    assert exe.status == "error"
    assert exe.limit == "instructions"
    assert "instruction limit exceeded (1,000,000" in exe.error
    assert served(runtime, make_hook, deploy_event)


def test_instruction_budget_inside_pcall_and_coroutine(make_runtime, make_hook, deploy_event):
    runtime = make_runtime(instructions=1_000_000)
    code = (
        "function on_event() pcall(coroutine.wrap(function() while true do end end))"
        " return 'escaped' end"
    )
    exe = runtime.run(make_hook(code), deploy_event)
    assert exe.limit == "instructions"


def test_limits_per_run_override(runtime, make_hook, deploy_event):
    exe = runtime.run(
        make_hook("function on_event() while true do end end"),
        deploy_event,
        limits=Limits(instructions=200_000),
    )
    assert exe.limit == "instructions"


MEMORY_BOMBS = {
    "string.rep": 'local s = string.rep("x", 1 << 30)',
    "string doubling": 'local s = "x" while true do s = s .. s end',
    "table growth": "local t = {} for i = 1, math.huge do t[i] = i end",
    "table of strings": 'local t = {} for i = 1, math.huge do t[i] = ("x"):rep(100) .. i end',
    "caught by pcall": (
        'local t = {} while true do pcall(function() t[#t + 1] = ("y"):rep(1000) .. #t end) end'
    ),
    "string.rep in pcall": 'local ok = pcall(string.rep, "x", 1 << 30) return ok',
}


@pytest.mark.parametrize("code", MEMORY_BOMBS.values(), ids=MEMORY_BOMBS.keys())
def test_memory_cap(make_runtime, make_hook, deploy_event, code):
    runtime = make_runtime(memory=16 * 1024 * 1024, instructions=NO_BUDGET)
    exe = runtime.run(make_hook(f"function on_event() {code} end", timeout=5), deploy_event)
    assert exe.status == "error"
    assert exe.limit == "memory"
    # Placed at the line last sampled by the count hook, when one was (a loop ran).
    assert exe.error.endswith("memory limit exceeded (16 MiB of Lua heap)")
    assert exe.error_line in (None, 1)
    assert served(runtime, make_hook, deploy_event)
    # and the next run may use memory again
    big = runtime.run(
        make_hook('function on_event() return #string.rep("z", 4 * 1024 * 1024) end'), deploy_event
    )
    assert big.result == 4 * 1024 * 1024


def test_memory_error_names_the_line_it_ran(make_runtime, make_hook, deploy_event):
    runtime = make_runtime(memory=16 * 1024 * 1024, instructions=NO_BUDGET)
    code = (
        "function on_event()\n"
        "  local t = {}\n"
        "  for i = 1, math.huge do\n"
        '    t[i] = ("x"):rep(100) .. i\n'
        "  end\n"
        "end\n"
    )
    exe = runtime.run(make_hook(code, file="hog.lua", timeout=5), deploy_event)
    assert exe.limit == "memory" and exe.error_line in (3, 4)
    assert exe.error == f"hog.lua:{exe.error_line}: memory limit exceeded (16 MiB of Lua heap)"


def test_deep_recursion(runtime, make_hook, deploy_event):
    code = "function on_event()\n  local function f(n) return 1 + f(n + 1) end\n  return f(1)\nend"
    exe = runtime.run(make_hook(code, file="deep.lua"), deploy_event)
    assert exe.status == "error"
    assert "stack overflow" in exe.error
    assert exe.error_line == 2
    assert served(runtime, make_hook, deploy_event)


def test_deep_recursion_through_pcall(runtime, make_hook, deploy_event):
    code = "function on_event() local function f() return pcall(f) end return f() end"
    exe = runtime.run(make_hook(code), deploy_event)
    assert exe.status in ("success", "error")  # Lua reports the C stack overflow; no crash
    assert served(runtime, make_hook, deploy_event)


ESCAPES_AFTER_TRIP = {
    "close runs __close of a coroutine killed by the limit": """
local co = coroutine.create(function()
  local guard <close> = setmetatable({}, {__close = function() while true do end end})
  while true do end
end)
local outer <close> = setmetatable({}, {__close = function() coroutine.close(co) end})
coroutine.resume(co)
""",
    "__close loop in the hook itself": """
local guard <close> = setmetatable({}, {__close = function() while true do end end})
while true do end
""",
    "host calls after the trip": """
local outer <close> = setmetatable({}, {__close = function()
  log.info("after") state.set("k", 1) event.dispatch("x.y", {})
end})
while true do end
""",
}


@pytest.mark.parametrize("code", ESCAPES_AFTER_TRIP.values(), ids=ESCAPES_AFTER_TRIP.keys())
def test_nothing_runs_unchecked_after_a_trip(make_runtime, make_hook, deploy_event, host, code):
    runtime = make_runtime(instructions=NO_BUDGET)
    hook = make_hook(f"function on_event()\n{code}\nend", timeout=0.2)
    # A __close handler run unchecked after the trip would loop forever.
    exe = ends(lambda: runtime.run(hook, deploy_event))
    assert exe.status == "timeout"
    assert exe.logs == [] and exe.calls == []
    assert host.state == {} and host.events == []
    assert served(runtime, make_hook, deploy_event)


C_LOOPS = {
    "string.rep of nothing": 'return #string.rep("", 1 << 62)',
    "method rep of nothing": 'return #(""):rep(1 << 62)',
    "table.move over a huge range": "table.move({}, 1, 1 << 62, 2) return 0",
}


@pytest.mark.parametrize("code", C_LOOPS.values(), ids=C_LOOPS.keys())
def test_c_loops_that_the_count_hook_cannot_see(runtime, make_hook, deploy_event, code):
    # In C, each loops 2^62 times, out of any deadline's reach: the sandbox answers first.
    hook = make_hook(f"function on_event() {code} end", timeout=1)
    exe = ends(lambda: runtime.run(hook, deploy_event))
    assert exe.result == 0 or "range too large" in exe.error


def test_rep_and_move_still_work(runtime, make_hook, deploy_event):
    code = (
        "local t = table.move({1, 2, 3}, 1, 3, 2)"
        ' return {("ab"):rep(3, ","), string.rep("", 3), t[4]}'
    )
    exe = runtime.run(make_hook(f"function on_event() {code} end"), deploy_event)
    assert exe.result == ["ab,ab,ab", "", 3]


def test_huge_error_messages_and_results_are_clipped(runtime, make_hook, deploy_event):
    exe = runtime.run(
        make_hook('function on_event() error(string.rep("e", 1000000)) end'), deploy_event
    )
    assert exe.status == "error"
    assert len(exe.error) < 9000 and exe.error.endswith("[truncated]")
    exe = runtime.run(
        make_hook('function on_event() return string.rep("r", 1000000) end'), deploy_event
    )
    assert len(exe.result) < 70_000
    exe = runtime.run(
        make_hook(
            "function on_event() local t = {}"
            ' for i = 1, 50000 do t[i] = "item" .. i end return t end'
        ),
        deploy_event,
    )
    assert isinstance(exe.result, str) and exe.result.endswith("[truncated]")
