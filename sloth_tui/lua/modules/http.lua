-- http.lua: http.get/post/put/delete. Tables go as JSON bodies; network failures
-- return `nil, err`, argument mistakes raise at the hook's line.
-- Arguments: bridge (request), kit.

local bridge, kit = ...
local py_request = bridge.request
local error, type, tostring, tonumber, next = error, type, tostring, tonumber, next
local clean, encode, alive, trip, strict_encode =
  kit.clean, kit.encode, kit.alive, kit.trip, kit.strict_encode

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
    local resp, err, limit = py_request(method, clean(url), kind, payload, headers, timeout)
    if limit then
      trip(limit) -- the deadline passed while waiting on the network
    end
    return resp, err
  end
end

return {
  lib = {
    get = http_method("GET", "http.get", true),
    post = http_method("POST", "http.post", false),
    put = http_method("PUT", "http.put", false),
    delete = http_method("DELETE", "http.delete", true),
  },
}
