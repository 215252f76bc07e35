-- log.lua: log.debug/info/warn/error and print. Arguments: bridge (write), kit.

local bridge, kit = ...
local py_write = bridge.write
local select, tostring = select, tostring
local tconcat = table.concat
local clean, clip, TEXT_MAX, alive, trip = kit.clean, kit.clip, kit.TEXT_MAX, kit.alive, kit.trip

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
  local limit = py_write(level, clean(clip(s, TEXT_MAX)))
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

return { lib = log, globals = { print = sb_print } }
