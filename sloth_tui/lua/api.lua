-- api.lua: what hooks call: log, print, json, http, state, and the event table
-- with dispatch/dispatch_custom. Tables cross to Python as JSON text (encode.lua);
-- Python answers with plain values or `nil, err`. Argument mistakes raise at the
-- hook's line; network and dispatch failures return `nil, err`. Privileged.
--
-- Arguments: bridge (Python callables), enc (encode.lua), guard (guard.lua).

local bridge, enc, guard = ...
local py_log, py_http = bridge.log, bridge.http
local py_dispatch, py_state, py_json_decode = bridge.dispatch, bridge.state, bridge.json_decode
local pcall, error, type, select, tostring, tonumber, next =
  pcall, error, type, select, tostring, tonumber, next
local tconcat, mfloor = table.concat, math.floor
local clean, encode, clip, TEXT_MAX = enc.clean, enc.encode, enc.clip, enc.TEXT_MAX
local alive, settle, trip = guard.alive, guard.settle, guard.trip

local function strict_encode(v)
  alive()
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
-- A host call answers with a limit name as its last value when the run's host
-- memory budget is spent (context.py): the run stops there, like any limit.
local function emit(level, s)
  alive()
  local limit = py_log(level, clean(clip(s, TEXT_MAX)))
  if limit then
    trip(limit)
  end
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
    alive()
    if type(s) ~= "string" then
      error("json.decode: expected a string, got " .. type(s), 2)
    end
    local v, err, limit = py_json_decode(clean(s))
    if limit then
      trip(limit)
    end
    if err ~= nil then
      return nil, err
    end
    return v
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
    alive()
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
  alive()
  local ok, v, limit = py_state(op, key, text, by)
  if limit then
    trip(limit)
  end
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
local function dispatched(ok, r, limit)
  if limit then
    trip(limit)
  end
  return ok, r
end
local function ev_dispatch(etype, data)
  alive()
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
  return dispatched(py_dispatch("event.dispatch", clean(etype), text))
end
local function ev_dispatch_custom(name, message, payload)
  alive()
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
  return dispatched(py_dispatch("event.dispatch_custom", "custom", r))
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

return {
  log = log, print = sb_print, json = json, http = http, state = state,
  make_event = make_event,
}
