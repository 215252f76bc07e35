-- sandbox.lua: the privileged half of the hook runtime, loaded once per LuaRuntime.
--
-- It keeps private references to what hooks must never touch (debug, load in
-- any mode, the Python bridge), builds a fresh allowlist environment for every
-- run, and runs the hook on a coroutine that carries the count hook enforcing
-- the deadline and the instruction budget. Hooks never see this chunk's globals;
-- at the end the dangerous globals are removed from the real _G as well.
--
-- Arguments: bridge (Python callables), enc (encode.lua), COUNT (instructions
-- between two limit checks).

local bridge, enc, COUNT = ...
local py_now, py_log, py_http = bridge.now, bridge.log, bridge.http
local py_dispatch, py_state, py_json_decode = bridge.dispatch, bridge.state, bridge.json_decode

local sethook, getinfo, setupvalue = debug.sethook, debug.getinfo, debug.setupvalue
local co_create, co_resume, co_status, co_close = coroutine.create, coroutine.resume,
  coroutine.status, coroutine.close
local pcall, xpcall, error, type, select, tostring, tonumber, next =
  pcall, xpcall, error, type, select, tostring, tonumber, next
local rawget, rawset, setmetatable, getmetatable, load =
  rawget, rawset, setmetatable, getmetatable, load
local tconcat, ssub, mfloor = table.concat, string.sub, math.floor
local clean, encode = enc.clean, enc.encode

-- The error value every limit raises: a private table, so no hook can forge it,
-- and raising it allocates nothing (it must work when memory is exhausted).
local LIMIT = setmetatable({}, { __metatable = false, __tostring = function() return "limit exceeded" end })
local MEMORY_MSG = "not enough memory" -- Lua's preallocated memory-error message
local LOG_MAX = 8192 -- bytes per log line

-- Per-run state: a LuaRuntime serves one run at a time (one runtime per thread).
local tripped, trip_line, used, budget, deadline, cur_env, chunk_source

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

-- Everything that can catch an error passes its result through here: a limit
-- (or a memory error, which Lua reports as a plain string) is raised again.
local function settle(ok, ...)
  if tripped then
    error(LIMIT, 0)
  end
  if not ok and ... == MEMORY_MSG then
    tripped = "memory"
    error(LIMIT, 0)
  end
  return ok, ...
end

local function sb_pcall(f, ...)
  return settle(pcall(f, ...))
end
local function sb_xpcall(f, handler, ...)
  return settle(xpcall(f, handler, ...))
end

-- Count hooks are per coroutine in Lua 5.4: each new one gets its own.
local function sb_create(f)
  local co = co_create(f)
  sethook(co, count_hook, "", COUNT)
  return co
end
local function sb_resume(co, ...)
  return settle(co_resume(co, ...))
end
local function sb_close(co)
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
    tripped = "memory"
    error(LIMIT, 0)
  end
  error(e, 0)
end
local function sb_wrap(f)
  local co = sb_create(f)
  return function(...)
    return wrap_result(co_resume(co, ...))
  end
end

-- Text chunks only; the default environment is the run's own.
local function after_load(f, err)
  if tripped then
    error(LIMIT, 0)
  end
  if f == nil and err == MEMORY_MSG then
    tripped = "memory"
    error(LIMIT, 0)
  end
  return f, err
end
local function sb_load(chunk, name, _mode, ...)
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

local function strict_encode(v)
  return settle(pcall(encode, v, true))
end

-- log and print -----------------------------------------------------------
local function join(sep, ...)
  local n = select("#", ...)
  if n == 1 then
    return tostring((...))
  end
  local parts = {}
  for i = 1, n do
    parts[i] = tostring((select(i, ...)))
  end
  return tconcat(parts, sep)
end
local function emit(level, s)
  if #s > LOG_MAX then
    s = ssub(s, 1, LOG_MAX) .. " …[truncated]"
  end
  py_log(level, clean(s))
end
local function logger(level)
  return function(...)
    emit(level, join(" ", ...))
  end
end
local log = { debug = logger("debug"), info = logger("info"), warn = logger("warn"), error = logger("error") }
local function sb_print(...)
  emit("info", join("\t", ...))
end

-- json ----------------------------------------------------------------------
local json = {
  encode = function(v)
    local ok, r = strict_encode(v)
    if ok then
      return r
    end
    return nil, "json.encode: " .. tostring(r)
  end,
  decode = function(s)
    if type(s) ~= "string" then
      error("json.decode: expected a string, got " .. type(s), 2)
    end
    return py_json_decode(clean(s))
  end,
}

-- http ------------------------------------------------------------------------
local OPT_KEYS = { headers = true, timeout = true }
local function looks_like_opts(t)
  if next(t) == nil then
    return false
  end
  for k in next, t do
    if not OPT_KEYS[k] then
      return false
    end
  end
  return true
end

local function http_method(method, fname, bodyless)
  return function(url, body, opts)
    if type(url) ~= "string" then
      error(fname .. ": url must be a string, got " .. type(url), 2)
    end
    -- http.get(url, {headers = ...}): for bodyless verbs a lone options table is options.
    if bodyless and opts == nil and type(body) == "table" and looks_like_opts(body) then
      body, opts = nil, body
    end
    local kind, payload = nil, nil
    if type(body) == "table" then
      local ok, r = strict_encode(body)
      if not ok then
        return nil, fname .. ": cannot encode body: " .. tostring(r)
      end
      kind, payload = "json", r
    elseif body ~= nil then
      kind, payload = "text", clean(tostring(body))
    end
    local headers, timeout = nil, nil
    if opts ~= nil then
      if type(opts) ~= "table" then
        error(fname .. ": options must be a table, got " .. type(opts), 2)
      end
      if opts.headers ~= nil then
        if type(opts.headers) ~= "table" then
          error(fname .. ": options.headers must be a table", 2)
        end
        headers = encode(opts.headers, false)
      end
      timeout = tonumber(opts.timeout)
    end
    local resp, err, limit = py_http(method, clean(url), kind, payload, headers, timeout)
    if limit then
      trip(limit) -- the deadline passed while waiting on the network
    end
    return resp, err
  end
end
local http = {
  get = http_method("GET", "http.get", true),
  post = http_method("POST", "http.post", false),
  put = http_method("PUT", "http.put", false),
  delete = http_method("DELETE", "http.delete", true),
}

-- state -------------------------------------------------------------------------
local function state_call(fname, op, key, text, by)
  local ok, v = py_state(op, key, text, by)
  if not ok then
    error(fname .. ": " .. tostring(v), 3)
  end
  return v
end
local function check_key(fname, key)
  if type(key) ~= "string" then
    error(fname .. ": key must be a string, got " .. type(key), 3)
  end
  return clean(key)
end
local state = {
  get = function(key)
    local v = state_call("state.get", "get", check_key("state.get", key))
    return v
  end,
  set = function(key, value)
    key = check_key("state.set", key)
    local text = nil
    if value ~= nil then
      local ok, r = strict_encode(value)
      if not ok then
        error("state.set: " .. tostring(r), 2)
      end
      text = r
    end
    local v = state_call("state.set", "set", key, text)
    return v
  end,
  delete = function(key)
    local v = state_call("state.delete", "delete", check_key("state.delete", key))
    return v
  end,
  incr = function(key, by)
    key = check_key("state.incr", key)
    if by == nil then
      by = 1
    elseif type(by) ~= "number" then
      error("state.incr: amount must be a number, got " .. type(by), 2)
    end
    local v = state_call("state.incr", "incr", key, nil, by)
    return v
  end,
}

-- event ---------------------------------------------------------------------------
local function ev_dispatch(etype, data)
  if type(etype) ~= "string" then
    error("event.dispatch: type must be a string, got " .. type(etype), 2)
  end
  if data ~= nil and type(data) ~= "table" then
    error("event.dispatch: data must be a table, got " .. type(data), 2)
  end
  local text = "{}"
  if data ~= nil then
    local ok, r = strict_encode(data)
    if not ok then
      return nil, "event.dispatch: " .. tostring(r)
    end
    text = r
  end
  return py_dispatch("event.dispatch", clean(etype), text)
end
local function ev_dispatch_custom(name, message, payload)
  if type(name) ~= "string" then
    error("event.dispatch_custom: name must be a string, got " .. type(name), 2)
  end
  if payload == nil then
    payload = {}
  end
  local data = { name = name, message = message == nil and "" or tostring(message), payload = payload }
  local ok, r = strict_encode(data)
  if not ok then
    return nil, "event.dispatch_custom: " .. tostring(r)
  end
  return py_dispatch("event.dispatch_custom", "custom", r)
end

local function make_event(etype, id, ts, source, data, category, parent_id, depth)
  local ev = {
    type = etype, id = id, timestamp = mfloor(ts), source = source, data = data,
    category = category, parent_id = parent_id, depth = depth,
    dispatch = ev_dispatch, dispatch_custom = ev_dispatch_custom,
  }
  local agent, task = data.agent, data.task
  if type(agent) == "table" then
    ev.agent = agent
  end
  if type(task) == "table" then
    ev.task = task
  end
  return ev
end

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
local SAFE_MATH = copy(math)
SAFE_MATH.randomseed = function() end -- the generator is shared by later runs; 5.4 seeds it randomly

local LIBS = {
  string = SAFE_STRING, table = copy(table), math = SAFE_MATH, utf8 = copy(utf8),
  os = { time = os.time, date = os.date, clock = os.clock, difftime = os.difftime },
  coroutine = {
    create = sb_create, wrap = sb_wrap, resume = sb_resume, close = sb_close,
    status = coroutine.status, yield = coroutine.yield, running = coroutine.running,
    isyieldable = coroutine.isyieldable,
  },
  log = log, http = http, json = json, state = state,
}
local BASE = {
  assert = assert, error = error, ipairs = ipairs, next = next, pairs = pairs, select = select,
  tonumber = tonumber, tostring = tostring, type = type, rawequal = rawequal, rawget = rawget,
  rawlen = rawlen, rawset = sb_rawset, getmetatable = getmetatable, setmetatable = sb_setmetatable,
  pcall = sb_pcall, xpcall = sb_xpcall, load = sb_load, print = sb_print,
  unpack = table.unpack, _VERSION = _VERSION,
}

-- String methods ("x"):rep() go through the one shared string metatable: point it
-- at the dump-free table and show hooks only a read-only proxy of it.
local string_mt = getmetatable("")
string_mt.__index = SAFE_STRING
string_mt.__metatable = readonly({ __index = readonly(SAFE_STRING) })

-- A fresh table per run, library tables included, so nothing a hook assigns
-- survives into the next run. The builder is generated as one table constructor
-- with every value in an upvalue: presized tables, no copy loops (~3x faster).
local function make_builder()
  local values, lines, n = {}, {}, 0
  local function slot(v)
    n = n + 1
    values[n] = v
    return "v" .. n
  end
  local function fields(t)
    local out = {}
    for k, v in next, t do
      out[#out + 1] = k .. " = " .. slot(v)
    end
    return out
  end
  local parts = fields(BASE)
  for name, lib in next, LIBS do
    parts[#parts + 1] = name .. " = { " .. tconcat(fields(lib), ", ") .. " }"
  end
  local names = {}
  for i = 1, n do
    names[i] = "v" .. i
  end
  lines[1] = "local " .. tconcat(names, ", ") .. " = ..."
  lines[2] = "return function()"
  lines[3] = "  local env = { " .. tconcat(parts, ", ") .. " }"
  lines[4] = "  env._G = env"
  lines[5] = "  return env"
  lines[6] = "end"
  return assert(load(tconcat(lines, "\n"), "=sandbox_env", "t", {}))(table.unpack(values, 1, n))
end
local new_env = make_builder()

-- Running -------------------------------------------------------------------------
local NO_ENTRY = "hook defines no entry point: add `function on_event() ... end`"
  .. " or `return { execute = function(event) ... end }`"

local function handler(e)
  if e == LIMIT or tripped then
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
    return status, encode(r1, false), true, nil
  elseif tv == "string" then
    return status, clean(r1), false, nil
  elseif tv == "function" or tv == "thread" or tv == "userdata" then
    return status, "<" .. tv .. ">", false, nil
  end
  local msg = nil
  if r1 == false and r2 ~= nil then
    msg = clean(tostring(r2)) -- `return false, "why"`
  end
  return status, r1, false, msg
end

local function runner(chunk, mode, ev)
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
    fn = cur_env.on_event
    if type(fn) ~= "function" then
      return "error", { NO_ENTRY }
    end
  end
  return finish(xpcall(fn, handler, ev))
end

local function run(chunk, mode, source, etype, id, ts, esource, data, category, parent_id, depth, dl, bud)
  tripped, trip_line, used, budget, deadline, chunk_source = nil, nil, 0, bud, dl, source
  local ev = make_event(etype, id, ts, esource, data, category, parent_id, depth)
  local env = new_env()
  env.event = ev
  cur_env = env
  setupvalue(chunk, 1, env) -- a main chunk's only upvalue is _ENV
  local co = co_create(runner)
  sethook(co, count_hook, "", COUNT)
  local ok, a, b, c, d = co_resume(co, chunk, mode, ev)
  setupvalue(chunk, 1, EMPTY)
  cur_env = nil
  if tripped then
    return "limit", tripped, trip_line
  end
  if not ok then
    if a == MEMORY_MSG then
      return "limit", "memory", nil
    end
    return "error", clean(tostring(a)), nil
  end
  if co_status(co) ~= "dead" then
    return "error", "coroutine.yield called outside a coroutine", nil
  end
  if a == "error" then
    if b == MEMORY_MSG then
      return "limit", "memory", nil
    end
    if type(b) == "table" and b ~= LIMIT then
      return "error", clean(tostring(b[1])), b[2]
    end
    return "error", clean(tostring(b)), nil
  end
  return a, b, c, d
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

-- Nothing below needs these any more; hooks never see _G, but leave no handle.
for _, name in next, { "io", "os", "debug", "package", "require", "dofile", "loadfile", "load",
    "python", "collectgarbage" } do
  _G[name] = nil
end

return { run = run, compile = compile, bench_env = bench_env }
