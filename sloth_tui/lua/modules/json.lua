-- json.lua: json.encode (in Lua) and json.decode (in Python). Arguments: bridge (decode), kit.

local bridge, kit = ...
local py_decode = bridge.decode
local error, type, tostring = error, type, tostring
local clean, alive, trip, strict_encode = kit.clean, kit.alive, kit.trip, kit.strict_encode

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
    local v, err, limit = py_decode(clean(s))
    if limit then
      trip(limit)
    end
    if err ~= nil then
      return nil, err
    end
    return v
  end,
}

return { lib = json }
