-- sandbox.lua: the allowlist environment and the runner, loaded once per
-- LuaRuntime after encode, guard, the host modules and patterns. It builds a fresh
-- environment for every run and runs the hook on a coroutine carrying the count hook. Hooks
-- never see this chunk's globals; at the end the dangerous globals are removed
-- from the real _G as well.
--
-- Arguments: enc (encode.lua), guard (guard.lua), modules (the host modules in
-- registry order: {name = global, exports = what its wrapper returned}, see
-- modules/base.py), patterns (patterns.lua), now (time.monotonic).

local enc, guard, modules, patterns, py_now = ...
local setupvalue = debug.setupvalue
local co_create, co_resume, co_status = coroutine.create, coroutine.resume, coroutine.status
local xpcall, error, type, tostring, tonumber, next, rawget, select =
  xpcall, error, type, tostring, tonumber, next, rawget, select
local getmetatable, load = getmetatable, load
local tconcat, sfmt = table.concat, string.format
local clean, encode, clip, TEXT_MAX = enc.clean, enc.encode, enc.clip, enc.TEXT_MAX
local LIMIT, MEMORY_MSG, EMPTY, readonly = guard.LIMIT, guard.MEMORY_MSG, guard.EMPTY, guard.readonly
local hook_line, g_tripped = guard.hook_line, guard.tripped
local RESULT_MAX = 64 * 1024 -- bytes of a hook's return value kept in the record

-- The allowlist -----------------------------------------------------------------
local function copy(t, skip)
  local out = {}
  for k, v in next, t do
    if not (skip and skip[k]) then
      out[k] = v
    end
  end
  return out
end
local SAFE_STRING = copy(string, { dump = true })
local SAFE_TABLE = copy(table)
local SAFE_MATH = copy(math)
SAFE_MATH.randomseed = function() end -- the generator is shared by later runs; 5.4 seeds it randomly

-- C loops the count hook cannot interrupt. rep("", 2^62) copies nothing 2^62
-- times (a non-empty result is bounded by the memory cap: allocated first);
-- move() walks its whole range even over an empty table.
local str_rep, tbl_move = string.rep, table.move
local MOVE_MAX = 1 << 24 -- more elements than a capped heap can hold
-- Each call below is one VM instruction however long its string: a loop of them
-- on a large string (`while true do s:upper() end`) would run for a minute
-- between two count-hook checks. Their output (or input) length goes to the
-- guard's meter, which checks the deadline every MiB or so of such work.
local work, METER_FROM = guard.work, 4096
local function metered(f)
  return function(...)
    local r = f(...)
    if #r >= METER_FROM then
      work(#r)
    end
    return r
  end
end
local function metered_input(f)
  return function(s, ...)
    if type(s) == "string" and #s >= METER_FROM then
      work(#s)
    end
    return f(s, ...)
  end
end
local function count_values(...)
  local n = select("#", ...)
  if n >= METER_FROM then
    work(n * 16) -- each value pushed costs more than a byte copied
  end
  return ...
end
local function metered_values(f)
  return function(...)
    return count_values(f(...))
  end
end
local metered_rep = metered(str_rep)
SAFE_STRING.rep = function(s, n, sep)
  if type(s) == "string" and (sep == nil or sep == "") and #s == 0 and tonumber(n) then
    return ""
  end
  return metered_rep(s, n, sep)
end
for _, name in next, { "upper", "lower", "reverse", "format", "sub" } do
  SAFE_STRING[name] = metered(string[name])
end
SAFE_STRING.byte = metered_values(string.byte)
SAFE_TABLE.concat = metered(table.concat)
local SAFE_UTF8 = copy(utf8)
SAFE_UTF8.len, SAFE_UTF8.codepoint = metered_input(utf8.len), metered_values(utf8.codepoint)
-- Pattern matching runs in C too: a costly call goes to patterns.lua's Lua port,
-- and a plain find with a costly worst case to its linear search.
patterns.bind(work)
SAFE_STRING.find, SAFE_STRING.match = patterns.find, patterns.match
SAFE_STRING.gmatch, SAFE_STRING.gsub = patterns.gmatch, patterns.gsub
SAFE_TABLE.move = function(a1, f, e, t, a2)
  if tonumber(f) and tonumber(e) and e - f >= MOVE_MAX then
    error("table.move: range too large (more than " .. MOVE_MAX .. " elements)", 2)
  end
  return tbl_move(a1, f, e, t, a2)
end

local LIBS = {
  string = SAFE_STRING, table = SAFE_TABLE, math = SAFE_MATH, utf8 = SAFE_UTF8,
  os = { time = os.time, date = os.date, clock = os.clock, difftime = os.difftime },
  coroutine = {
    create = guard.create, wrap = guard.wrap, resume = guard.resume, close = guard.close,
    status = coroutine.status, yield = coroutine.yield, running = coroutine.running,
    isyieldable = coroutine.isyieldable,
  },
}
local BASE = {
  assert = assert, error = error, ipairs = ipairs, next = next, pairs = pairs, select = select,
  tonumber = tonumber, tostring = tostring, type = type, rawequal = rawequal, rawget = rawget,
  rawlen = rawlen, rawset = guard.rawset, getmetatable = getmetatable,
  setmetatable = guard.setmetatable, pcall = guard.pcall, xpcall = guard.xpcall, load = guard.load,
  unpack = table.unpack, _VERSION = _VERSION,
}

-- The host modules: each one's library becomes a global of that name, its extra
-- globals join the base ones, and one of them builds the run's `event`. A name
-- already taken is refused here too (the registry checks first, in Python).
local make_event
for i = 1, #modules do
  local m = modules[i]
  local name, ex = m.name, m.exports
  local function claim(key)
    if key == "event" or LIBS[key] ~= nil or BASE[key] ~= nil then
      error("host module " .. name .. ": global " .. key .. " is already taken", 0)
    end
  end
  if ex.lib ~= nil then
    claim(name)
    LIBS[name] = ex.lib
  end
  if ex.globals ~= nil then
    for key, value in next, ex.globals do
      claim(key)
      BASE[key] = value
    end
  end
  if ex.make_event ~= nil then
    if make_event ~= nil then
      error("host module " .. name .. ": another module already builds the event", 0)
    end
    make_event = ex.make_event
  end
end
if make_event == nil then
  error("no host module builds the run's event (make_event)", 0)
end

-- String methods ("x"):rep() go through the one shared string metatable: point it
-- at the dump-free table and show hooks only a read-only proxy of it.
local string_mt = getmetatable("")
string_mt.__index = SAFE_STRING
string_mt.__metatable = readonly({ __index = readonly(SAFE_STRING) })

-- A fresh table per run, library tables included, so nothing a hook assigns
-- survives into the next run. The builder is generated as one table constructor
-- with every value in an upvalue: presized tables, no copy loops (~3x faster).
-- Lua allows 200 locals (and 255 upvalues) in one function: about 105 values are
-- used today, 15 of them the host modules'. Past IN_LOCALS, values come from one
-- table upvalue instead (a little slower each), so more host modules still load.
local IN_LOCALS = 180
local function make_builder()
  local values, lines, n = {}, {}, 0
  local function slot(v)
    n = n + 1
    values[n] = v
    if n > IN_LOCALS then
      return "rest[" .. (n - IN_LOCALS) .. "]"
    end
    return "v" .. n
  end
  local function fields(t)
    local out = {}
    for k, v in next, t do
      out[#out + 1] = "[" .. sfmt("%q", k) .. "] = " .. slot(v)
    end
    return out
  end
  local parts = fields(BASE)
  for name, lib in next, LIBS do
    parts[#parts + 1] = "[" .. sfmt("%q", name) .. "] = { " .. tconcat(fields(lib), ", ") .. " }"
  end
  local names, locals, rest = {}, {}, {}
  for i = 1, n do
    if i <= IN_LOCALS then
      names[i], locals[i] = "v" .. i, values[i]
    else
      rest[i - IN_LOCALS] = values[i]
    end
  end
  local nl = #names
  names[nl + 1], locals[nl + 1] = "rest", rest
  lines[1] = "local " .. tconcat(names, ", ") .. " = ..."
  lines[2] = "return function()"
  lines[3] = "  local env = { " .. tconcat(parts, ", ") .. " }"
  lines[4] = "  env._G = env"
  lines[5] = "  return env"
  lines[6] = "end"
  return assert(load(tconcat(lines, "\n"), "=sandbox_env", "t", {}))(table.unpack(locals, 1, nl + 1))
end
local new_env = make_builder()

-- Running -------------------------------------------------------------------------
local NO_ENTRY = "hook defines no entry point: add `function on_event() ... end`"
  .. " or `return { execute = function(event) ... end }`"

local function handler(e)
  if e == LIMIT or g_tripped() then
    return LIMIT
  end
  local msg
  if type(e) == "string" then
    msg = e
  elseif type(e) == "table" then
    local mt = getmetatable(e)
    if type(mt) == "table" and rawget(mt, "__tostring") then
      msg = tostring(e)
    else
      msg = "error object: " .. encode(e, false)
    end
  else
    msg = tostring(e)
  end
  return { msg, hook_line() }
end

local function finish(ok, r1, r2)
  if not ok then
    return "error", r1
  end
  local status = r1 == false and "failed" or "success"
  local tv = type(r1)
  if tv == "table" then
    local text = encode(r1, false)
    if #text > RESULT_MAX then
      return status, clean(clip(text, RESULT_MAX)), false, nil -- kept as text, not parsed
    end
    return status, text, true, nil
  elseif tv == "string" then
    return status, clean(clip(r1, RESULT_MAX)), false, nil
  elseif tv == "function" or tv == "thread" or tv == "userdata" then
    return status, "<" .. tv .. ">", false, nil
  end
  local msg = nil
  if r1 == false and r2 ~= nil then
    msg = clean(clip(tostring(r2), TEXT_MAX)) -- `return false, "why"`
  end
  return status, r1, false, msg
end

local function runner(chunk, mode, ev, env)
  local ok, ret = xpcall(chunk, handler)
  if not ok then
    return "error", ret
  end
  if mode == "declare" then
    if type(ret) == "table" and type(ret.event_types) == "table" then
      return "success", encode(ret.event_types, false), true, nil
    end
    return "success", nil, false, nil
  end
  local fn
  if type(ret) == "table" and type(ret.execute) == "function" then
    fn = ret.execute
  else
    fn = env.on_event
    if type(fn) ~= "function" then
      return "error", { NO_ENTRY }
    end
  end
  return finish(xpcall(fn, handler, ev))
end

local function run(chunk, mode, source, etype, id, ts, esource, data, category, parent_id, depth, dl, bud, redelivered)
  local ev = make_event(etype, id, ts, esource, data, category, parent_id, depth)
  -- A rerun after a crash cut this run short once it had started an http call.
  ev.redelivered = redelivered == true
  local env = new_env()
  env.event = ev
  guard.begin(dl, bud, source, env)
  setupvalue(chunk, 1, env) -- a main chunk's only upvalue is _ENV
  local co = co_create(runner)
  guard.attach(co)
  local ok, a, b, c, d = co_resume(co, chunk, mode, ev, env)
  setupvalue(chunk, 1, EMPTY)
  local tripped, trip_line, last_line = guard.finish()
  if tripped then
    return "limit", tripped, trip_line
  end
  if not ok then
    if a == MEMORY_MSG then
      return "limit", "memory", last_line
    end
    return "error", clean(clip(tostring(a), TEXT_MAX)), nil
  end
  if co_status(co) ~= "dead" then
    return "error", "coroutine.yield called outside a coroutine", nil
  end
  if a == "error" then
    if b == MEMORY_MSG then
      return "limit", "memory", last_line
    end
    if type(b) == "table" and b ~= LIMIT then
      return "error", clean(clip(tostring(b[1]), TEXT_MAX)), b[2]
    end
    return "error", clean(clip(tostring(b), TEXT_MAX)), nil
  end
  return a, b, c, d
end

-- Runs of hook files, several per call from Python (Worker.run_many): Python gives up
-- the GIL once for them all, not once per run. `args` holds RUN_ARGS values per run;
-- run j's deadline counts from t0, the call's start (the runs before it in the call
-- each made no Python call, so each ran under CHECK_EVERY instructions). `flags`:
-- [1] set by Python when a run calls it (a host call, a clock read), [2] the run under
-- way. The call ends after such a run: Python then sees its time and whether to go
-- on. Returns how many ran, then kind, a, b, c of each (as run returns them).
local RUN_ARGS = 13
local tunpack = table.unpack
local function run_many(args, count, t0, flags)
  local out, r = {}, 0
  flags[1] = false
  for j = 1, count do
    local b = (j - 1) * RUN_ARGS
    flags[2] = j
    local chunk, source, etype, id, ts, esource, data, category, parent_id, depth, timeout,
      bud, redelivered = tunpack(args, b + 1, b + RUN_ARGS)
    out[r + 1], out[r + 2], out[r + 3], out[r + 4] = run(chunk, "run", source, etype, id, ts,
      esource, data, category, parent_id, depth, t0 + timeout, bud, redelivered)
    r = r + 4
    if flags[1] then
      return j, tunpack(out, 1, r)
    end
  end
  return count, tunpack(out, 1, r)
end

local function compile(text, name)
  return load(text, "=" .. name, "t", EMPTY)
end

-- Cost of what every run builds before the hook starts: environment + event.
local function bench_env(n, data)
  local t0 = py_now()
  for i = 1, n do
    local env = new_env()
    env.event = make_event("deploy.failed", i, 0, "bench", data, "deploy", nil, 0)
  end
  return py_now() - t0
end

-- The globals a hook starts with: what the registry put in, checked by the tests.
local function env_names()
  local names = {}
  for key in next, new_env() do
    names[#names + 1] = key
  end
  names[#names + 1] = "event" -- set by run()
  return names
end

-- Nothing below needs these any more; hooks never see _G, but leave no handle.
for _, name in next, { "io", "os", "debug", "package", "require", "dofile", "loadfile", "load",
    "python", "collectgarbage" } do
  _G[name] = nil
end

return {
  run = run, run_many = run_many, compile = compile, bench_env = bench_env, env_names = env_names,
}

