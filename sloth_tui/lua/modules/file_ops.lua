-- file_ops.lua: upstream Sloth Runner's file_ops table, and its `contains` global.
-- Each call takes one options table and answers `true, result` (stat: `result`),
-- or `nil, err`: never a raised error, whatever the hook passes.
-- Arguments: bridge (one plain call per function, file_ops.py), kit.

local bridge, kit = ...
local type, tostring, next, error = type, tostring, next, error
local alive, trip, strict_encode = kit.alive, kit.trip, kit.strict_encode

local lib = {}
for fname, py in next, bridge do
  local label = "file_ops." .. fname
  lib[fname] = function(opts)
    alive()
    if type(opts) ~= "table" then
      return nil, label .. ": options must be a table, got " .. type(opts)
    end
    local ok, payload = strict_encode(opts)
    if not ok then
      return nil, label .. ": " .. tostring(payload)
    end
    local good, v, limit = py("t", payload)
    if limit then
      trip(limit)
    end
    if not good then
      return nil, v
    end
    if fname == "stat" then
      return v
    end
    return true, v
  end
end

-- contains(list, value), as upstream's hook executor defines it beside file_ops:
-- true when any value of the table (array and hash part alike) has the same
-- string form as `value`, which must be a string or a number.
local function contains(list, value)
  alive()
  if type(list) ~= "table" then
    error("bad argument #1 to contains (table expected, got " .. type(list) .. ")", 2)
  end
  local tv = type(value)
  if tv ~= "string" and tv ~= "number" then
    error("bad argument #2 to contains (string expected, got " .. tv .. ")", 2)
  end
  local want = tostring(value)
  for _, v in next, list do
    local t = type(v)
    if (t == "string" or t == "number" or t == "boolean") and tostring(v) == want then
      return true
    end
  end
  return false
end

return { lib = lib, globals = { contains = contains } }
