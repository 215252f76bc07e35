-- guard.lua: the limits. Per-run state, the count hook, and wrappers for every
-- way Lua code can catch an error (pcall, xpcall, coroutines, load), so that a
-- tripped limit cannot be swallowed. Privileged; loaded once per LuaRuntime.
--
-- Arguments: now (Python's time.monotonic), COUNT (instructions between checks).

local py_now, COUNT = ...
local sethook, getinfo = debug.sethook, debug.getinfo
local co_create, co_resume, co_close = coroutine.create, coroutine.resume, coroutine.close
local pcall, xpcall, error, type, select = pcall, xpcall, error, type, select
local rawget, rawset, setmetatable, load = rawget, rawset, setmetatable, load

-- The error value every limit raises: a private table, so no hook can forge it,
-- and raising it allocates nothing (it must work when memory is exhausted).
local LIMIT = setmetatable({}, { __metatable = false, __tostring = function() return "limit exceeded" end })
local MEMORY_MSG = "not enough memory" -- Lua's preallocated memory-error message

-- Per-run state: a LuaRuntime serves one run at a time (one runtime per thread).
local tripped, trip_line, used, budget, deadline, cur_env, chunk_source
-- The hook's line at the latest count-hook sample: where a memory error is placed,
-- since Lua runs no message handler for one and its stack is gone by the time we see it.
local last_line

-- Read-only proxies for the few tables shared between runs that a hook can reach.
local protected = setmetatable({}, { __mode = "k" })
local function readonly_error()
  error("attempt to modify a read-only table", 2)
end
local function readonly(t)
  local proxy = setmetatable({}, { __index = t, __newindex = readonly_error, __metatable = false })
  protected[proxy] = true
  return proxy
end
local EMPTY = readonly({})

-- Line of the innermost frame that belongs to the hook's own chunk.
local function hook_line()
  for level = 3, 80 do
    local info = getinfo(level, "Sl")
    if not info then
      return nil
    end
    if info.source == chunk_source and info.currentline > 0 then
      return info.currentline
    end
  end
  return nil
end

local function trip(name)
  if not tripped then
    tripped, trip_line = name, hook_line()
  end
  error(LIMIT, 0)
end

-- Installed on every coroutine the hook runs on. Once a limit has tripped it
-- keeps raising, so code that swallows errors still cannot keep running.
local function count_hook()
  if not tripped then
    local info = getinfo(2, "Sl")
    if info and info.source == chunk_source then
      last_line = info.currentline
    end
    used = used + COUNT
    if used >= budget then
      tripped = "instructions"
    elseif py_now() < deadline then
      return
    else
      tripped = "timeout"
    end
    trip_line = hook_line()
  end
  error(LIMIT, 0)
end

-- Work done in C (long string functions, plain searches) that the count hook
-- cannot see: `units` instruction-equivalents are added to the run's budget and
-- the deadline is checked, so a loop of costly C calls trips at the hook's line.
local function charge(units)
  if tripped then
    error(LIMIT, 0)
  end
  used = used + units
  if used >= budget then
    trip("instructions")
  elseif py_now() >= deadline then
    trip("timeout")
  end
end

-- The meter for C work, in bytes-of-copying equivalents (~10 per ns): it adds
-- up, and every METER_CHECK units it is charged (METER_PER_INSTRUCTION units as
-- one instruction) and the deadline checked. So the time a loop of long C calls
-- can spend between two checks is about a millisecond, not 10,000 calls.
local METER_CHECK, METER_PER_INSTRUCTION = 1 << 20, 16
local metered = 0
local function work(units)
  metered = metered + units
  if metered >= METER_CHECK then
    local n = metered
    metered = 0
    charge(n // METER_PER_INSTRUCTION)
  end
end

-- Everything that can catch an error passes its result through here: a limit
-- (or a memory error, which Lua reports as a plain string) is raised again.
local function settle(ok, ...)
  if tripped then
    error(LIMIT, 0)
  end
  if not ok and ... == MEMORY_MSG then
    tripped, trip_line = "memory", last_line
    error(LIMIT, 0)
  end
  return ok, ...
end

-- An error raised by the count hook reaches message handlers while Lua still
-- runs the hook, with hooks disabled: hook code must never run there, and no
-- privileged entry point may do anything once a limit has tripped.
local function alive()
  if tripped then
    error(LIMIT, 0)
  end
end

local function sb_pcall(f, ...)
  alive()
  return settle(pcall(f, ...))
end
local function sb_xpcall(f, handler, ...)
  alive()
  local function guarded(e)
    if tripped or e == LIMIT then
      return LIMIT
    end
    return handler(e)
  end
  return settle(xpcall(f, guarded, ...))
end

-- Count hooks are per coroutine in Lua 5.4: each new one gets its own.
local function sb_create(f)
  alive()
  local co = co_create(f)
  sethook(co, count_hook, "", COUNT)
  return co
end
local function sb_resume(co, ...)
  alive()
  return settle(co_resume(co, ...))
end
-- A coroutine that died from a limit error keeps hooks disabled: closing it
-- would run its __close handlers unhooked. alive() refuses after a trip.
local function sb_close(co)
  alive()
  return settle(co_close(co))
end
local function wrap_result(ok, ...)
  if tripped then
    error(LIMIT, 0)
  end
  if ok then
    return ...
  end
  local e = ...
  if e == MEMORY_MSG then
    tripped, trip_line = "memory", last_line
    error(LIMIT, 0)
  end
  error(e, 0)
end
local function sb_wrap(f)
  local co = sb_create(f)
  return function(...)
    alive()
    return wrap_result(co_resume(co, ...))
  end
end

-- Text chunks only; the default environment is the run's own.
local function after_load(f, err)
  if tripped then
    error(LIMIT, 0)
  end
  if f == nil and err == MEMORY_MSG then
    tripped, trip_line = "memory", last_line
    error(LIMIT, 0)
  end
  return f, err
end
local function sb_load(chunk, name, _mode, ...)
  alive()
  local env = cur_env
  if select("#", ...) > 0 then
    env = ...
  end
  return after_load(load(chunk, name, "t", env))
end

-- __gc would run hook code later, in whatever run triggers the collection.
local function sb_setmetatable(t, mt)
  if type(mt) == "table" and rawget(mt, "__gc") ~= nil then
    error("setmetatable: __gc metamethods are not allowed in hooks", 2)
  end
  return setmetatable(t, mt)
end
local function sb_rawset(t, k, v)
  if protected[t] then
    error("attempt to modify a read-only table", 2)
  end
  return rawset(t, k, v)
end

return {
  LIMIT = LIMIT, MEMORY_MSG = MEMORY_MSG, EMPTY = EMPTY, readonly = readonly,
  alive = alive, settle = settle, trip = trip, hook_line = hook_line, charge = charge, work = work,
  pcall = sb_pcall, xpcall = sb_xpcall, load = sb_load,
  setmetatable = sb_setmetatable, rawset = sb_rawset,
  create = sb_create, resume = sb_resume, close = sb_close, wrap = sb_wrap,
  -- A run: begin() before the hook starts, attach() its coroutine, finish() after.
  begin = function(dl, bud, source, env)
    tripped, trip_line, last_line, used, budget, deadline = nil, nil, nil, 0, bud, dl
    metered = 0
    chunk_source, cur_env = source, env
  end,
  attach = function(co)
    sethook(co, count_hook, "", COUNT)
  end,
  tripped = function()
    return tripped
  end,
  finish = function()
    cur_env = nil
    return tripped, trip_line, last_line
  end,
}
