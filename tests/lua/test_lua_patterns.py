"""string.find/match/gmatch/gsub in hooks: a costly pattern runs in patterns.lua's Lua
port, which the limits can stop; the port answers exactly as Lua's C matcher does."""

from __future__ import annotations

from importlib import resources
from typing import Any

import lupa.lua54 as lupa
import pytest
from hang_guard import ends

from sloth_tui.lua.limits import Limits
from sloth_tui.model.records import Event

# Random patterns and subjects, compared call by call with C, errors included. The
# pieces cover every pattern item: classes, sets, anchors, the four repetitions,
# captures, position captures, back references, %b, %f, and malformed patterns.
DIFFERENTIAL = r"""
local patterns, seed, rounds = ...
local port = patterns.port
math.randomseed(seed)
local ITEMS = {
  "a", "b", "x", ".", "%a", "%d", "%s", "%w", "%A", "%p", "%%", "%.", "%(", "[ab]", "[^a]",
  "[a-c]", "[%d.]", "[]]", "[^]a]", "%bab", "%b()", "%f[%w]", "%f[%W]", "%1", "1", " ",
}
local QUANT = { "", "", "", "*", "+", "-", "?" }
local BROKEN = { "%", "[a", "(a", "a)", "%b", "%f", "%fa", "%2", "(()", "[%", "%g(" }
local function piece(depth)
  local r = math.random()
  if depth < 2 and r < 0.15 then
    return "(" .. piece(depth + 1) .. piece(depth + 1) .. ")"
  elseif r < 0.2 then
    return "()"
  end
  local item = ITEMS[math.random(#ITEMS)]
  if #item <= 2 and item:sub(1, 1) ~= "(" and item ~= "%1" and not item:find("^%%[bf]") then
    item = item .. QUANT[math.random(#QUANT)]
  end
  return item
end
local function pattern()
  if math.random() < 0.05 then
    return BROKEN[math.random(#BROKEN)]
  end
  local out = {}
  if math.random() < 0.2 then out[#out + 1] = "^" end
  for _ = 1, math.random(0, 4) do out[#out + 1] = piece(0) end
  if math.random() < 0.2 then out[#out + 1] = "$" end
  return table.concat(out)
end
local CHARS = { "a", "b", "x", "1", " ", ".", "(", ")", "]" }
local function subject()
  local out = {}
  for _ = 1, math.random(0, 12) do out[#out + 1] = CHARS[math.random(#CHARS)] end
  return table.concat(out)
end
local function pack(ok, ...)
  local t = { ok = ok, n = select("#", ...), ... }
  if not ok then
    t[1] = tostring(t[1]):gsub("^[^:]*:%d+: ", "")
  end
  return t
end
local function same(a, b)
  if a.ok ~= b.ok or a.n ~= b.n then return false end
  for i = 1, a.n do
    if a[i] ~= b[i] then return false end
  end
  return true
end
local function show(t)
  local out = {}
  for i = 1, t.n do out[i] = tostring(t[i]) end
  return (t.ok and "ok " or "error ") .. table.concat(out, ", ")
end
local function all(iter_ok, iter)
  if not iter_ok then return pack(false, iter) end
  local out = {}
  local ok, err = pcall(function()
    for a, b in iter do out[#out + 1] = tostring(a) .. "|" .. tostring(b) end
  end)
  if not ok then return pack(false, err) end
  return pack(true, table.concat(out, ";"))
end
local REPL = {
  "<%0>", "%1-%1", "%%", "[%2]", "%", "%x",
  { a = "A", ab = false, ["1"] = 7, x = {} },
  function(a, b) if a == "b" then return nil end return (b or "") .. "!" end,
}
local mismatches = {}
for i = 1, rounds do
  local s, p = subject(), pattern()
  local init = math.random() < 0.3 and math.random(-14, 14) or nil
  local checks = {
    { "find", pack(pcall(string.find, s, p, init)), pack(pcall(port.find, s, p, init)) },
    { "match", pack(pcall(string.match, s, p, init)), pack(pcall(port.match, s, p, init)) },
    { "gmatch", all(pcall(string.gmatch, s, p, init)), all(pcall(port.gmatch, s, p, init)) },
  }
  local repl = REPL[math.random(#REPL)]
  local n = math.random() < 0.3 and math.random(0, 3) or nil
  checks[#checks + 1] = {
    "gsub", pack(pcall(string.gsub, s, p, repl, n)), pack(pcall(port.gsub, s, p, repl, n))
  }
  for _, c in ipairs(checks) do
    if not same(c[2], c[3]) then
      mismatches[#mismatches + 1] = string.format(
        "%s(%q, %q, %s): C %s / port %s", c[1], s, p, tostring(init), show(c[2]), show(c[3])
      )
    end
  end
end
return table.concat(mismatches, "\n", 1, math.min(#mismatches, 20)), #mismatches
"""


def load_patterns() -> Any:
    lua = lupa.LuaRuntime()
    source = resources.files("sloth_tui.lua").joinpath("patterns.lua").read_text("utf-8")
    natives = lua.execute("return string.find, string.match, string.gmatch, string.gsub")
    return lua, lua.execute(source, *natives)


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_the_port_answers_as_c_does(seed: int) -> None:
    lua, patterns = load_patterns()
    report, count = lua.execute(DIFFERENTIAL, patterns, seed, 3000)
    assert count == 0, report


def test_cost_sends_only_costly_calls_to_the_port() -> None:
    _lua, patterns = load_patterns()
    limit = patterns.COST_MAX
    assert patterns.cost(100_000, "error") <= limit  # no repetition: linear
    assert patterns.cost(1000, "%s+") <= limit
    assert patterns.cost(10_000, "%s+") > limit
    assert patterns.cost(400, ".-.-b") > limit
    # Escaped and bracketed quantifier characters are not repetitions ...
    assert patterns.cost(100_000, "%-%*[+*-]") == patterns.cost(100_000, "abc")
    # ... but a balance or a back reference scans the subject like one.
    assert patterns.cost(100_000, "%b()") > limit
    assert patterns.cost(100_000, "(a)%1") > limit
    assert patterns.cost(100_000, "%b-+") == patterns.cost(100_000, "%b()")


CATASTROPHIC = "function on_event()\n  local s = string.rep('a', 2000)\n  return {PROBE}\nend\n"
PROBES = {
    "find": "string.find(s, '.-.-.-b')",
    "method find": "s:find('.-.-.-b')",
    "match": "string.match(s, '(.-)(.-)(.-)b')",
    "gmatch": "(function() for x in s:gmatch('.-.-.-b') do return x end end)()",
    "gsub": "(string.gsub(s, '.-.-.-b', ''))",
    "balance": "string.find(string.rep('(', 2000000), '%b()')",
}


@pytest.mark.parametrize("probe", PROBES.values(), ids=PROBES.keys())
def test_a_catastrophic_pattern_is_stopped_by_the_limits(
    runtime, make_hook, deploy_event: Event, probe: str
) -> None:
    # In C, each of these runs for a quarter of an hour (the balance) to hours on this
    # subject, where the count hook never fires: only a match the limits can stop ends
    # inside the hang guard, at its 1 s deadline.
    hook = make_hook(CATASTROPHIC.replace("{PROBE}", probe), timeout=1)
    exe = ends(lambda: runtime.run(hook, deploy_event, limits=Limits(instructions=10**12)))
    assert exe.status == "timeout" and exe.limit == "timeout"


def test_everyday_patterns_still_work_in_hooks(runtime, make_hook, deploy_event: Event) -> None:
    code = """
function on_event()
  local log = string.rep("INFO ok\\n", 3000) .. "ERROR disk full on /var\\n"
  local words = {}
  for w in ("a b  c"):gmatch("%S+") do words[#words + 1] = w end
  return {
    err = log:match("ERROR ([^\\n]+)"),
    squeezed = (("x   y"):gsub("%s+", " ")),
    lines = select(2, log:gsub("\\n", "\\n")),
    trimmed = (log:gsub("%s+$", "")):sub(-8),
    words = table.concat(words, ","),
    at = {("key=value"):find("=(%w+)")},
  }
end
"""
    exe = runtime.run(make_hook(code), deploy_event)
    assert exe.status == "success", exe.error
    assert exe.result == {
        "err": "disk full on /var",
        "squeezed": "x y",
        "lines": 3001,
        "trimmed": "ull on /var"[-8:],
        "words": "a,b,c",
        "at": [4, 9, "value"],
    }
