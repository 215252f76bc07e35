-- state.lua: state.get/set/delete/incr, the hook's own keys. Failures raise at
-- the hook's line. Arguments: bridge (call), kit.

local bridge, kit = ...
local py_state = bridge.call
local error, type, tostring = error, type, tostring
local clean, alive, trip, strict_encode = kit.clean, kit.alive, kit.trip, kit.strict_encode

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

return {
  lib = {
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
  },
}
