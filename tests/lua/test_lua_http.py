"""http.get/post/put/delete against a real server on 127.0.0.1 (no other network)."""

from __future__ import annotations


def run(runtime, make_hook, event, body, **kw):
    return runtime.run(make_hook(f"function on_event()\n{body}\nend\n"), event, **kw)


def test_post_table_body_is_json(runtime, make_hook, deploy_event, http_server):
    body = f"""
local r = http.post("{http_server.url}/hook", {{text = "hi", n = 2}})
return {{r.status, r.ok, r.json.method, r.json.path, r.headers["x-test"], type(r.body)}}
"""
    exe = run(runtime, make_hook, deploy_event, body)
    assert exe.result == [200, True, "POST", "/hook", "yes", "string"]
    (req,) = http_server.received
    assert req.method == "POST"
    assert req.json() == {"text": "hi", "n": 2}
    assert req.headers["Content-Type"] == "application/json"
    call = exe.calls[0]
    assert call["fn"] == "http.post" and call["method"] == "POST"
    assert call["url"] == f"{http_server.url}/hook"
    assert call["body"] == {"n": 2, "text": "hi"}
    assert call["status"] == 200 and call["error"] is None and call["dry_run"] is False
    assert call["duration_ms"] > 0


def test_get_put_delete_and_headers(runtime, make_hook, deploy_event, http_server):
    url = http_server.url
    body = f"""
local g = http.get("{url}/g", {{headers = {{Authorization = "Bearer t"}}}})
local p = http.put("{url}/p", "raw text", {{headers = {{["Content-Type"] = "text/x-mine"}}}})
local d = http.delete("{url}/d")
return {{g.status, p.json.body, d.json.method}}
"""
    exe = run(runtime, make_hook, deploy_event, body)
    assert exe.result == [200, "raw text", "DELETE"]
    get, put, delete = http_server.received
    assert get.method == "GET" and get.headers["Authorization"] == "Bearer t"
    assert put.method == "PUT" and put.headers["Content-Type"] == "text/x-mine"
    assert put.body == b"raw text"
    assert delete.method == "DELETE"
    assert [c["fn"] for c in exe.calls] == ["http.get", "http.put", "http.delete"]


def test_error_status_is_a_response(runtime, make_hook, deploy_event, http_server):
    body = f"""
local r = http.get("{http_server.url}/status/404")
return {{r.status, r.ok, r.json.error}}
"""
    exe = run(runtime, make_hook, deploy_event, body)
    assert exe.result == [404, False, "nope"]
    assert exe.calls[0]["status"] == 404


def test_non_json_body_has_no_json(runtime, make_hook, deploy_event, http_server):
    body = f'local r = http.get("{http_server.url}/text") return {{r.body, r.json == nil}}'
    assert run(runtime, make_hook, deploy_event, body).result == ["plain words", True]


def test_closed_port_is_nil_err(runtime, make_hook, deploy_event, closed_port):
    body = f"""
local r, err = http.post("http://127.0.0.1:{closed_port}/x", {{a = 1}})
return {{r == nil, err}}
"""
    exe = run(runtime, make_hook, deploy_event, body)
    assert exe.status == "success"
    assert exe.result[0] is True
    assert "connection refused" in exe.result[1]
    assert exe.calls[0]["error"] == "connection refused"
    assert exe.calls[0]["status"] is None


def test_big_body_is_capped(runtime, make_hook, deploy_event, http_server):
    body = f'local r = http.get("{http_server.url}/big") return {{#r.body, r.truncated, r.status}}'
    exe = run(runtime, make_hook, deploy_event, body)
    assert exe.result == [1024 * 1024, True, 200]
    assert exe.calls[0]["truncated"] is True


def test_bad_urls_are_nil_err(runtime, make_hook, deploy_event):
    body = """
local a, e1 = http.get("file:///etc/passwd")
local b, e2 = http.get("not a url")
return {a == nil, e1, b == nil, e2}
"""
    exe = run(runtime, make_hook, deploy_event, body)
    assert exe.result[0] is True and "scheme" in exe.result[1]
    assert exe.result[2] is True


def test_url_must_be_a_string(runtime, make_hook, deploy_event):
    exe = run(runtime, make_hook, deploy_event, "http.get(nil)")
    assert exe.status == "error"
    assert "http.get: url must be a string" in exe.error


def test_per_call_timeout_option(runtime, make_hook, deploy_event, http_server):
    body = f"""
local r, err = http.get("{http_server.url}/slow", {{timeout = 0.2}})
return {{r == nil, err}}
"""
    # The server holds its answer for 5 s: a call that ignored its 0.2 s timeout would
    # get it, well inside the run's 10 s deadline.
    exe = run(runtime, make_hook, deploy_event, body)
    assert exe.status == "success"
    assert exe.result[0] is True and "timed out" in exe.result[1]


def test_http_time_counts_toward_the_deadline(runtime, make_hook, deploy_event, http_server):
    code = f"""function on_event()
  local r, err = http.get("{http_server.url}/slow")
  log.info("not reached")
end"""
    # The server holds its answer for 5 s: a call the deadline did not cut would get
    # it, and the hook would go on to log.
    exe = runtime.run(make_hook(code, timeout=0.4), deploy_event)
    assert exe.status == "timeout"
    assert exe.limit == "timeout"
    assert exe.logs == []
    assert exe.calls[0]["error"] == "timed out"
