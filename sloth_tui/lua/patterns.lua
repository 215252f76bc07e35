-- patterns.lua: string.find, match, gmatch and gsub for hooks, safe from
-- catastrophic patterns. Lua's own matcher runs in C, where the count hook
-- never fires: `string.find(("a"):rep(800), ".-.-.-b")` runs for minutes past
-- any deadline. A call whose worst case is small (by subject length and the
-- number of repetition items in the pattern) goes to the C functions; any
-- other goes to this port of lstrlib.c (Lua 5.4), which runs as Lua code, so
-- the deadline and the instruction budget stop it like any loop.
--
-- Plain finds (and patterns without specials) run in C too, and C's plain
-- search is quadratic at worst: a 1 MiB needle in 2 MiB of near-matches runs
-- for most of a minute. A plain find whose worst case is large goes to a
-- Knuth-Morris-Pratt search in Lua instead: linear, and counted.
--
-- Calls left to C still take time the count hook cannot see; their worst-case
-- cost is reported to the guard's meter (bind), which checks the deadline and
-- charges the instruction budget once enough has added up.
--
-- Arguments: the native find, match, gmatch, gsub (the port only handles
-- well-typed calls; anything else goes to C, which raises the usual errors).

local c_find, c_match, c_gmatch, c_gsub = ...
local byte, sub, type, tostring, error, concat = string.byte, string.sub, type, tostring, error, table.concat
local math_type, tonumber, unpack = math.type, tonumber, table.unpack

local COST_MAX = 2e7 -- worst-case steps left to C (a fraction of a second)
local PLAIN_COST_MAX = 2 ^ 31 -- byte comparisons left to C's plain search (~50 ms at worst)
-- The guard's meter counts C work in bytes-of-copying equivalents. Worst cases are
-- rarely reached, so they are metered at a discount: a pattern step as 1/4, a
-- plain-search comparison (memchr/memcmp, ~45 per ns) as 1/256.
local METER_FROM = 4096 -- C calls cheaper than this (worst case) are not metered
local work = function(_) end -- the guard's meter, once bound
local MAXCAPTURES, MAXCCALLS = 32, 200
local CAP_UNFINISHED, CAP_POSITION = -1, -2
local L_ESC = 37 -- '%'
local SPECIALS = "[%^%$%*%+%?%.%(%[%%%-]" -- as a pattern for the native find
local MATCH_SPECIALS = "[%^%$%*%+%?%.%(%)%[%%%-]" -- for match, a stray ')' is an error

-- Worst case of matching pattern `p` against `n` bytes: each repetition item
-- (*, +, -) can retry its rest at every position, and so can a balance (%b)
-- or back reference (%1) scan the subject; `?` doubles; each try compares up
-- to one byte per item of the pattern (and never more than the subject holds).
-- Over-counting only sends a call to the slower, safe port.
local function cost(n, p)
  local reps, opts, items, i, lp, in_set = 0, 0, 0, 1, #p, false
  while i <= lp do
    local c = byte(p, i)
    if not in_set and c ~= 42 and c ~= 43 and c ~= 45 and c ~= 63 then
      items = items + 1 -- a character, an escape or a whole [set] is one item
    end
    if c == L_ESC then
      local e = byte(p, i + 1)
      if not in_set and e == 98 then -- %bxy
        reps = reps + 1
        i = i + 2
      elseif not in_set and e and e >= 48 and e <= 57 then -- %0-%9
        reps = reps + 1
      end
      i = i + 1
    elseif in_set then
      if c == 93 then in_set = false end -- ']'
    elseif c == 91 then -- '['
      in_set = true
      if byte(p, i + 1) == 94 then i = i + 1 end -- '^'
      if byte(p, i + 1) == 93 then i = i + 1 end -- a leading ']' is literal
    elseif c == 42 or c == 43 or c == 45 then -- * + -
      reps = reps + 1
    elseif c == 63 then -- ?
      opts = opts + 1
    end
    i = i + 1
  end
  if items > n + 1 then
    items = n + 1
  end
  return (n + 1.0) ^ (reps + 1) * 2.0 ^ opts * (items > 0 and items or 1)
end

-- Character classes, C locale, by byte.
local function isalpha(c) return (c >= 65 and c <= 90) or (c >= 97 and c <= 122) end
local function isdigit(c) return c >= 48 and c <= 57 end
local CLASS = {
  [97] = isalpha, -- a
  [99] = function(c) return c < 32 or c == 127 end, -- c
  [100] = isdigit, -- d
  [103] = function(c) return c >= 33 and c <= 126 end, -- g
  [108] = function(c) return c >= 97 and c <= 122 end, -- l
  [112] = function(c) -- p
    return (c >= 33 and c <= 47) or (c >= 58 and c <= 64) or (c >= 91 and c <= 96) or (c >= 123 and c <= 126)
  end,
  [115] = function(c) return c == 32 or (c >= 9 and c <= 13) end, -- s
  [117] = function(c) return c >= 65 and c <= 90 end, -- u
  [119] = function(c) return isalpha(c) or isdigit(c) end, -- w
  [120] = function(c) return isdigit(c) or (c >= 97 and c <= 102) or (c >= 65 and c <= 70) end, -- x
}

local function match_class(c, cl)
  local lower = (cl >= 65 and cl <= 90) and cl + 32 or cl
  local test = CLASS[lower]
  if not test then
    return cl == c
  end
  local res = test(c)
  if cl ~= lower then -- an upper-case class is the complement
    return not res
  end
  return res
end

-- One match attempt: the subject, the pattern and the captures.
local S, P, src_end, p_end, level, depth
local cap_init, cap_len = {}, {}

local function class_end(p)
  local c = byte(P, p)
  p = p + 1
  if c == L_ESC then
    if p > p_end then
      error("malformed pattern (ends with '%')", 0)
    end
    return p + 1
  end
  if c == 91 then -- '['
    if byte(P, p) == 94 then p = p + 1 end
    repeat -- look for a ']'
      if p > p_end then
        error("malformed pattern (missing ']')", 0)
      end
      local cc = byte(P, p)
      p = p + 1
      if cc == L_ESC and p <= p_end then
        p = p + 1
      end
    until byte(P, p) == 93
    return p + 1
  end
  return p
end

-- p at '[', ec at its ']'.
local function match_bracket_class(c, p, ec)
  local sig = true
  if byte(P, p + 1) == 94 then -- '^'
    sig = false
    p = p + 1
  end
  p = p + 1
  while p < ec do
    local pc = byte(P, p)
    if pc == L_ESC then
      p = p + 1
      if match_class(c, byte(P, p) or 0) then return sig end
    elseif byte(P, p + 1) == 45 and p + 2 < ec then -- a range a-z
      if pc <= c and c <= byte(P, p + 2) then return sig end
      p = p + 2
    elseif pc == c then
      return sig
    end
    p = p + 1
  end
  return not sig
end

local function single_match(s, p, ep)
  if s > src_end then
    return false
  end
  local c, pc = byte(S, s), byte(P, p)
  if pc == 46 then return true end -- '.'
  if pc == L_ESC then return match_class(c, byte(P, p + 1) or 0) end
  if pc == 91 then return match_bracket_class(c, p, ep - 1) end
  return pc == c
end

local do_match

local function check_capture(l)
  l = l - 49 -- '1'
  if l < 0 or l >= level or cap_len[l] == CAP_UNFINISHED then
    error("invalid capture index %" .. (l + 1), 0)
  end
  return l
end

local function capture_to_close()
  for l = level - 1, 0, -1 do
    if cap_len[l] == CAP_UNFINISHED then return l end
  end
  error("invalid pattern capture", 0)
end

local function max_expand(s, p, ep)
  local i = 0
  while single_match(s + i, p, ep) do i = i + 1 end
  while i >= 0 do -- try with the most repetitions first
    local res = do_match(s + i, ep + 1)
    if res then return res end
    i = i - 1
  end
  return nil
end

local function min_expand(s, p, ep)
  while true do
    local res = do_match(s, ep + 1)
    if res then
      return res
    elseif single_match(s, p, ep) then
      s = s + 1
    else
      return nil
    end
  end
end

local function start_capture(s, p, what)
  if level >= MAXCAPTURES then
    error("too many captures", 0)
  end
  cap_init[level], cap_len[level] = s, what
  level = level + 1
  local res = do_match(s, p)
  if not res then level = level - 1 end
  return res
end

local function end_capture(s, p)
  local l = capture_to_close()
  cap_len[l] = s - cap_init[l]
  local res = do_match(s, p)
  if not res then cap_len[l] = CAP_UNFINISHED end
  return res
end

local function match_capture(s, l)
  l = check_capture(l)
  local len = cap_len[l]
  if len < 0 then -- a position capture: C compares its length as unsigned, so never equal
    return nil
  end
  if src_end - s + 1 >= len and sub(S, cap_init[l], cap_init[l] + len - 1) == sub(S, s, s + len - 1) then
    return s + len
  end
  return nil
end

local function match_balance(s, p)
  if p >= p_end then
    error("malformed pattern (missing arguments to '%b')", 0)
  end
  if s > src_end or byte(S, s) ~= byte(P, p) then return nil end
  local b, e, cont = byte(P, p), byte(P, p + 1), 1
  s = s + 1
  while s <= src_end do
    local c = byte(S, s)
    if c == e then
      cont = cont - 1
      if cont == 0 then return s + 1 end
    elseif c == b then
      cont = cont + 1
    end
    s = s + 1
  end
  return nil
end

-- s: subject index (src_end + 1 is the end); p: pattern index. The index after
-- the match, or nil. A loop where lstrlib.c has `goto init`.
function do_match(s, p)
  if depth == 0 then
    error("pattern too complex", 0)
  end
  depth = depth - 1
  while true do
    if p > p_end then break end
    local pc = byte(P, p)
    local dflt = false
    if pc == 40 then -- '('
      if byte(P, p + 1) == 41 then
        s = start_capture(s, p + 2, CAP_POSITION)
      else
        s = start_capture(s, p + 1, CAP_UNFINISHED)
      end
      break
    elseif pc == 41 then -- ')'
      s = end_capture(s, p + 1)
      break
    elseif pc == 36 and p == p_end then -- '$' at the end
      if s ~= src_end + 1 then s = nil end
      break
    elseif pc == L_ESC then
      local nc = byte(P, p + 1)
      if nc == 98 then -- %b
        s = match_balance(s, p + 2)
        if not s then break end
        p = p + 4
      elseif nc == 102 then -- %f
        p = p + 2
        if byte(P, p) ~= 91 then
          error("missing '[' after '%f' in pattern", 0)
        end
        local ep = class_end(p)
        local prev = s == 1 and 0 or byte(S, s - 1)
        local cur = byte(S, s) or 0
        if not match_bracket_class(prev, p, ep - 1) and match_bracket_class(cur, p, ep - 1) then
          p = ep
        else
          s = nil
          break
        end
      elseif nc and nc >= 48 and nc <= 57 then -- %0-%9: a back reference
        s = match_capture(s, nc)
        if not s then break end
        p = p + 2
      else
        dflt = true
      end
    else
      dflt = true
    end
    if dflt then
      local ep = class_end(p)
      local epc = byte(P, ep)
      if not single_match(s, p, ep) then
        if epc == 42 or epc == 63 or epc == 45 then -- * ? -: may match zero times
          p = ep + 1
        else
          s = nil
          break
        end
      elseif epc == 63 then -- ?
        local res = do_match(s + 1, ep + 1)
        if res then
          s = res
          break
        end
        p = ep + 1
      elseif epc == 43 then -- +
        s = max_expand(s + 1, p, ep)
        break
      elseif epc == 42 then -- *
        s = max_expand(s, p, ep)
        break
      elseif epc == 45 then -- -
        s = min_expand(s, p, ep)
        break
      else
        s = s + 1
        p = ep
      end
    end
  end
  depth = depth + 1
  return s
end

local function prepare(s, p, p_start)
  S, P, src_end, p_end = s, p, #s, #p
  level, depth = 0, MAXCCALLS
  return p_start
end

-- Capture i (0-based) of the match s..e-1.
local function get_capture(i, s, e)
  if i >= level then
    if i ~= 0 then
      error("invalid capture index %" .. (i + 1), 0)
    end
    return sub(S, s, e - 1)
  end
  local len = cap_len[i]
  if len == CAP_UNFINISHED then
    error("unfinished capture", 0)
  end
  if len == CAP_POSITION then
    return cap_init[i]
  end
  return sub(S, cap_init[i], cap_init[i] + len - 1)
end

local function captures(s, e, whole)
  local n = (level == 0 and whole) and 1 or level
  local out = {}
  for i = 0, n - 1 do
    out[i + 1] = get_capture(i, s, e)
  end
  return unpack(out, 1, n)
end

local function posrelat(pos, len)
  if pos > 0 then
    return pos
  elseif pos == 0 then
    return 1
  elseif pos < -len then
    return 1
  end
  return len + pos + 1
end

-- Plain search, linear: Knuth-Morris-Pratt over bytes (s, p strings, lp >= 1).
-- One failure link per needle byte (16 bytes each: a 1 MiB needle takes 16 MiB of
-- heap); the haystack is read in blocks, ~20 instructions a byte in all.
local BLOCK = 4096
local function kmp(s, p, init)
  local ls, lp = #s, #p
  local fail, k = { 0 }, 0
  for i = 2, lp do
    local c = byte(p, i)
    while k > 0 and byte(p, k + 1) ~= c do
      k = fail[k]
    end
    if byte(p, k + 1) == c then
      k = k + 1
    end
    fail[i] = k
  end
  local q, want = 0, byte(p, 1) -- matched so far, and the needle byte that comes next
  for b = init, ls, BLOCK do
    local block = { byte(s, b, b + BLOCK - 1) }
    for j = 1, #block do
      local c = block[j]
      while q > 0 and want ~= c do
        q = fail[q]
        want = byte(p, q + 1)
      end
      if want == c then
        q = q + 1
        if q == lp then
          local e = b + j - 1
          return e - lp + 1, e
        end
        want = byte(p, q + 1)
      end
    end
  end
  return nil
end

-- string.find(s, p, init, true) as C answers it (s, p strings, init an integer or
-- nil); `linear` forces the Lua search (for tests).
local function plain_find(s, p, init, linear)
  local ls, lp = #s, #p
  init = posrelat(init or 1, ls)
  if init > ls + 1 then
    return nil
  end
  local positions = ls - init - lp + 2.0
  local worst = positions * lp
  if lp == 0 or positions <= 0 or (worst <= PLAIN_COST_MAX and not linear) then
    if worst >= METER_FROM then
      work(worst / 256)
    end
    return c_find(s, p, init, true)
  end
  return kmp(s, p, init)
end

local function find_aux(find, s, p, init)
  if not c_find(p, find and SPECIALS or MATCH_SPECIALS) then -- as C does for find: plain
    local i, e = plain_find(s, p, init)
    if not i then
      return nil
    elseif find then
      return i, e
    end
    return sub(s, i, e) -- a match without captures is the whole match
  end
  init = posrelat(init or 1, #s)
  if init > #s + 1 then
    return nil
  end
  local p_start = 1
  local anchor = byte(p, 1) == 94 -- '^'
  if anchor then p_start = 2 end
  local s1 = init
  repeat
    prepare(s, p, p_start)
    local e = do_match(s1, p_start)
    if e then
      if find then
        return s1, e - 1, captures(nil, nil, false)
      end
      return captures(s1, e, true)
    end
    s1 = s1 + 1
  until anchor or s1 > #s + 1
  return nil
end

local function str(v)
  return type(v) == "number" and tostring(v) or v
end
local function is_text(v)
  return type(v) == "string" or type(v) == "number"
end
-- An optional integer argument as C reads it (a number or numeric string with an
-- integral value), or false when C would refuse it (then C raises the error).
local function opt_int(v)
  if v == nil then
    return nil
  end
  local n = (type(v) == "number" or type(v) == "string") and tonumber(v)
  if not n then
    return false
  end
  if math_type(n) == "integer" then
    return n
  end
  if n == n // 1 and n >= -2 ^ 63 and n < 2 ^ 63 then
    return n // 1 | 0
  end
  return false
end

local function port_gmatch(s, p, start)
  local src = posrelat(start or 1, #s)
  if src > #s + 1 then src = #s + 2 end
  local last = nil
  return function()
    while src <= #s + 1 do
      prepare(s, p, 1)
      local e = do_match(src, 1)
      if e and e ~= last then
        local start = src
        src, last = e, e
        return captures(start, e, true)
      end
      src = src + 1
    end
    return nil
  end
end

local function add_string(out, repl, s, e)
  local i, n = 1, #repl
  while i <= n do
    local c = byte(repl, i)
    if c == L_ESC then
      i = i + 1
      local d = byte(repl, i)
      if d == L_ESC then
        out[#out + 1] = "%"
      elseif d and d >= 48 and d <= 57 then
        if d == 48 then
          out[#out + 1] = sub(S, s, e - 1)
        else
          out[#out + 1] = tostring(get_capture(d - 49, s, e))
        end
      else
        error("invalid use of '%' in replacement string", 0)
      end
    else
      out[#out + 1] = sub(repl, i, i)
    end
    i = i + 1
  end
end

-- subject: the string being replaced in (S may belong to a call made by repl).
local function add_value(out, subject, repl, kind, s, e)
  local value
  if kind == "function" then
    value = repl(captures(s, e, true))
  elseif kind == "table" then
    value = repl[get_capture(0, s, e)]
  else
    add_string(out, str(repl), s, e)
    return
  end
  if not value then
    out[#out + 1] = sub(subject, s, e - 1) -- nil or false: keep the original text
  elseif is_text(value) then
    out[#out + 1] = str(value)
  else
    error("invalid replacement value (a " .. type(value) .. ")", 0)
  end
end

local function port_gsub(s, p, repl, most)
  local kind = type(repl)
  local max_n = most or #s + 1
  local p_start = 1
  local anchor = byte(p, 1) == 94
  if anchor then p_start = 2 end
  local out, n, src, last = {}, 0, 1, nil
  while n < max_n do
    prepare(s, p, p_start)
    local e = do_match(src, p_start)
    if e and e ~= last then
      n = n + 1
      add_value(out, s, repl, kind, src, e)
      src, last = e, e
    elseif src <= #s then
      out[#out + 1] = sub(s, src, src)
      src = src + 1
    else
      break
    end
    if anchor then break end
  end
  if src <= #s then
    out[#out + 1] = sub(s, src)
  end
  return concat(out), n
end

-- The arguments as C reads them, when the call is costly enough for the port; nil
-- when C should run it: cheap, or with arguments C refuses (with its own error).
local function for_port(s, p, n)
  local int = opt_int(n)
  if int == false or not (is_text(s) and is_text(p)) then
    return nil
  end
  s, p = str(s), str(p)
  local worst = cost(#s, p)
  if worst <= COST_MAX then
    if worst >= METER_FROM then
      work(worst / 4)
    end
    return nil
  end
  return s, p, int
end

local M = {}

-- Plain finds go through plain_find: C when its worst case is small, else KMP.
function M.find(s, p, init, plain)
  local ps, pp, start
  if plain then
    local int = opt_int(init)
    if int ~= false and is_text(s) and is_text(p) then
      return plain_find(str(s), str(p), int)
    end
  else
    ps, pp, start = for_port(s, p, init)
  end
  if ps == nil then
    return c_find(s, p, init, plain)
  end
  return find_aux(true, ps, pp, start)
end

function M.match(s, p, init)
  local ps, pp, start = for_port(s, p, init)
  if ps == nil then
    return c_match(s, p, init)
  end
  return find_aux(false, ps, pp, start)
end

function M.gmatch(s, p, init)
  local ps, pp, start = for_port(s, p, init)
  if ps == nil then
    return c_gmatch(s, p, init)
  end
  return port_gmatch(ps, pp, start)
end

function M.gsub(s, p, repl, max_n)
  local kind = type(repl)
  local ps, pp, most
  if kind == "string" or kind == "number" or kind == "table" or kind == "function" then
    ps, pp, most = for_port(s, p, max_n)
  end
  if ps == nil then
    return c_gsub(s, p, repl, max_n)
  end
  return port_gsub(ps, pp, repl, most)
end

-- The port alone, whatever the cost: for tests that compare it with C.
M.port = {
  find = function(s, p, init) return find_aux(true, s, p, init) end,
  match = function(s, p, init) return find_aux(false, s, p, init) end,
  gmatch = port_gmatch,
  gsub = port_gsub,
  plain_find = function(s, p, init) return plain_find(s, p, init, true) end,
}
M.cost, M.COST_MAX = cost, COST_MAX
M.plain_find, M.PLAIN_COST_MAX = plain_find, PLAIN_COST_MAX
-- The sandbox hands in the guard's meter: work(n) for C work the count hook misses.
function M.bind(meter)
  work = meter
end
return M
