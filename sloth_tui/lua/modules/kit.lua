-- kit.lua: what every host module's Lua wrapper is given (modules/base.py), and
-- the plain wrapper for a module that has none. Privileged; loaded once per
-- LuaRuntime, after encode and guard.
--
-- Arguments: enc (encode.lua), guard (guard.lua).

local enc, guard = ...
local pcall, error, type, select, tostring, next = pcall, error, type, select, tostring, next
local tconcat, unpack = table.concat, table.unpack
local clean, encode = enc.clean, enc.encode
local alive, settle, trip = guard.alive, guard.settle, guard.trip

-- Tables cross to Python as JSON text; a value JSON cannot hold is an error.
local function strict_encode(v)
  alive()
  return settle(pcall(encode, v, true))
end

-- A module without a wrapper: each call takes data (nil, booleans, numbers,
-- strings, tables) and answers `value` or `nil, err`; a limit named in the
-- answer (the host memory budget) stops the run, like any limit.
local function plain(mname, bridge)
  local lib = {}
  for fname, py in next, bridge do
    local label = mname .. "." .. fname
    lib[fname] = function(...)
      alive()
      local n = select("#", ...)
      local args, tags = { ... }, {}
      for i = 1, n do
        local v = args[i]
        local tv = type(v)
        if tv == "table" then
          local ok, r = strict_encode(v)
          if not ok then
            error(label .. ": argument " .. i .. ": " .. tostring(r), 2)
          end
          args[i], tags[i] = r, "t"
        elseif tv == "string" then
          args[i], tags[i] = clean(v), "s"
        elseif tv == "number" or tv == "boolean" or tv == "nil" then
          tags[i] = "v"
        else
          error(label .. ": argument " .. i .. " cannot be passed to the host (a " .. tv .. ")", 2)
        end
      end
      local ok, v, limit = py(tconcat(tags), unpack(args, 1, n))
      if limit then
        trip(limit)
      end
      if not ok then
        return nil, v
      end
      return v
    end
  end
  return { lib = lib }
end

return {
  clean = clean, encode = encode, clip = enc.clip, TEXT_MAX = enc.TEXT_MAX,
  alive = alive, settle = settle, trip = trip, strict_encode = strict_encode, plain = plain,
}
