-- encode.lua: Lua value -> JSON text, and UTF-8 repair.
--
-- Used for the hooks' json.encode and for every table handed to Python: one
-- string crosses the bridge instead of a walk over lupa proxies, and invalid
-- UTF-8 (which lupa cannot decode) is repaired on the way. Privileged code, but
-- it runs on the hook's coroutine, so its work counts against the hook's limits.
--
-- Conventions shared with the Python side: a table whose keys are exactly 1..n
-- (n >= 1) is an array, anything else an object; the empty table is {}.
-- strict = true raises on what JSON cannot hold (functions, cycles, NaN);
-- strict = false (recording results and calls) writes a placeholder instead.

local M = {}

local type, next, tostring, tonumber, error, rawget = type, next, tostring, tonumber, error, rawget
local sfmt, ssub, sgsub, sbyte = string.format, string.sub, string.gsub, string.byte
local tconcat, tsort = table.concat, table.sort
local utf8_len = utf8.len
local mtype, huge = math.type, math.huge

local MAX_DEPTH = 64
local REPLACEMENT = "\u{FFFD}"
M.TEXT_MAX = 8192 -- bytes of a log line or an error message

-- Cut long text (before it crosses to Python) and say so.
function M.clip(s, max)
  if #s > max then
    return ssub(s, 1, max) .. " …[truncated]"
  end
  return s
end

-- Replace each byte that is not part of valid UTF-8 with U+FFFD.
local function clean(s)
  if utf8_len(s) then
    return s
  end
  local out, i = {}, 1
  while true do
    local ok, bad = utf8_len(s, i)
    if ok then
      out[#out + 1] = ssub(s, i)
      break
    end
    out[#out + 1] = ssub(s, i, bad - 1)
    out[#out + 1] = REPLACEMENT
    i = bad + 1
  end
  return tconcat(out)
end
M.clean = clean

local ESCAPES = {
  ['"'] = '\\"', ["\\"] = "\\\\", ["\b"] = "\\b", ["\f"] = "\\f",
  ["\n"] = "\\n", ["\r"] = "\\r", ["\t"] = "\\t",
}
local function escape_char(c)
  return ESCAPES[c] or sfmt("\\u%04x", sbyte(c))
end
local function quote(s)
  return '"' .. (sgsub(clean(s), '[%c"\\]', escape_char)) .. '"'
end

local function number(v, strict)
  if mtype(v) == "integer" then
    return sfmt("%d", v)
  end
  if v ~= v or v == huge or v == -huge then
    if strict then
      error("cannot encode " .. tostring(v) .. " as JSON", 0)
    end
    return "null"
  end
  local s = sfmt("%.14g", v)
  if tonumber(s) ~= v then
    s = sfmt("%.17g", v) -- shortest form first, full precision when it is lossy
  end
  return s
end

local encode

local function encode_table(t, buf, seen, depth, strict)
  if seen[t] then
    if strict then
      error("cannot encode a table that contains itself", 0)
    end
    buf[#buf + 1] = '"<cycle>"'
    return
  end
  if depth >= MAX_DEPTH then
    if strict then
      error("cannot encode tables nested deeper than " .. MAX_DEPTH .. " levels", 0)
    end
    buf[#buf + 1] = '"<too deep>"'
    return
  end
  seen[t] = true
  local n, max, array = 0, 0, true
  for k in next, t do
    n = n + 1
    if array then
      if mtype(k) == "integer" and k > 0 then
        if k > max then
          max = k
        end
      else
        array = false
      end
    end
  end
  if n > 0 and array and max == n then
    buf[#buf + 1] = "["
    for i = 1, n do
      if i > 1 then
        buf[#buf + 1] = ","
      end
      encode(rawget(t, i), buf, seen, depth + 1, strict)
    end
    buf[#buf + 1] = "]"
  else
    local names, orig, count = {}, {}, 0
    for k in next, t do
      local tk, name = type(k), nil
      if tk == "string" then
        name = k
      elseif tk == "number" then
        name = number(k, false)
      elseif tk == "boolean" then
        name = tostring(k)
      elseif strict then
        error("cannot encode a " .. tk .. " key as JSON", 0)
      end
      if name ~= nil and orig[name] == nil then
        count = count + 1
        names[count] = name
        orig[name] = k
      end
    end
    tsort(names) -- stable output: hooks may hash or compare payloads
    buf[#buf + 1] = "{"
    for i = 1, count do
      if i > 1 then
        buf[#buf + 1] = ","
      end
      local name = names[i]
      buf[#buf + 1] = quote(name)
      buf[#buf + 1] = ":"
      encode(rawget(t, orig[name]), buf, seen, depth + 1, strict)
    end
    buf[#buf + 1] = "}"
  end
  seen[t] = nil
end

function encode(v, buf, seen, depth, strict)
  local tv = type(v)
  if tv == "string" then
    buf[#buf + 1] = quote(v)
  elseif tv == "number" then
    buf[#buf + 1] = number(v, strict)
  elseif tv == "boolean" then
    buf[#buf + 1] = v and "true" or "false"
  elseif tv == "nil" then
    buf[#buf + 1] = "null"
  elseif tv == "table" then
    encode_table(v, buf, seen, depth, strict)
  elseif strict then
    error("cannot encode a " .. tv .. " value as JSON", 0)
  else
    buf[#buf + 1] = quote("<" .. tv .. ">")
  end
end

function M.encode(v, strict)
  local buf = {}
  encode(v, buf, {}, 0, strict)
  return tconcat(buf)
end

return M
