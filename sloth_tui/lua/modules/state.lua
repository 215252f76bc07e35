-- state.lua: state.get/set/delete/incr, the hook's own keys. Failures raise at
-- the hook's line. state.lock/unlock answer `nil, err` instead: a held lock is an
-- answer a hook acts on, not a fault. Arguments: bridge (call, lock), kit.

local bridge, kit = ...
local py_state = bridge.call
local py_lock = bridge.lock
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

-- state.lock(key, ttl) -> true, lock_id | nil, err; state.unlock(key) -> true | nil, err
local function lock_call(fname, op, key, ttl)
  alive()
  if type(key) ~= "string" then
    return nil, fname .. ": key must be a string, got " .. type(key)
  end
  if op == "lock" and type(ttl) ~= "number" then
    return nil, fname .. ": ttl must be a number of seconds, got " .. type(ttl)
  end
  local ok, v, limit = py_lock(op, clean(key), ttl)
  if limit then
    trip(limit)
  end
  if not ok then
    return nil, fname .. ": " .. tostring(v)
  end
  return true, v
end

return {
  lib = {
    lock = function(key, ttl)
      if ttl == nil then
        ttl = 60
      end
      return lock_call("state.lock", "lock", key, ttl)
    end,
    unlock = function(key)
      local ok, err = lock_call("state.unlock", "unlock", key, nil)
      if ok then
        return true
      end
      return nil, err
    end,
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
