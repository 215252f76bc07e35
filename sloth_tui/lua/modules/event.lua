-- event.lua: the run's `event` table and its dispatch/dispatch_custom. The one
-- module that exports make_event: the sandbox builds each run's event with it.
-- Arguments: bridge (dispatch), kit.

local bridge, kit = ...
local py_dispatch = bridge.dispatch
local error, type, tostring = error, type, tostring
local mfloor = math.floor
local clean, alive, trip, strict_encode = kit.clean, kit.alive, kit.trip, kit.strict_encode

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

return { make_event = make_event }
