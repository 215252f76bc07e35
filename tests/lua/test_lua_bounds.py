"""Hooks are bounded on every resource (issue 11, item 4), the runtime's side:

- host-side memory per run: dispatched data, log text, http bodies, state values
  and json.decode input share one byte budget; past it the run stops with the
  `host_memory` limit, and what the execution record carries stays small;
- http has a total deadline: a server that drips bytes cannot hold a request;
- C string functions have a cost bound: plain find with a long needle, and loops
  of long C calls that the count hook alone would not see for many seconds.
"""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from importlib import resources
from typing import Any

import lupa.lua54 as lupa
import psutil
import pytest
from hang_guard import ends
from hypothesis import given, settings
from hypothesis import strategies as st

from sloth_tui.lua import worker as worker_module
from sloth_tui.lua.limits import LOG_BYTES_MAX, RECORD_BYTES_MAX, Limits
from sloth_tui.lua.runtime import HookRuntime
from sloth_tui.model.records import Event

MiB = 1024 * 1024
BUDGET = Limits().host_memory  # 16 MiB


def hook_code(body: str) -> str:
    return "function on_event()\n" + body.strip("\n") + "\nend\n"  # body starts on line 2


def record_size(exe: Any) -> int:
    """What a reply or a notice carrying this execution would weigh."""
    return len(json.dumps(exe.to_dict()))


def assert_stopped_by_budget(exe: Any, line: int, refused: str) -> None:
    assert exe.status == "error" and exe.limit == "host_memory", (exe.status, exe.error)
    assert exe.error.startswith("hook")
    assert f":{line}: host memory limit exceeded (16 MiB per run" in exe.error
    assert exe.error_line == line
    assert any(f"{refused} refused: host memory limit" in log.message for log in exe.logs)
    assert record_size(exe) < 2 * MiB


# -- the host-side byte budget ------------------------------------------------------------


def test_dispatched_payloads_are_bounded(runtime, make_hook, deploy_event, host):
    # The case: 250 KiB a dispatch, 1,000 times (244 MiB), and pcall does not help.
    body = """
local blob = string.rep("x", 250 * 1024)
for i = 1, 1000 do
  pcall(event.dispatch, "bulk.item", {blob = blob, i = i})
end
return "finished"
"""
    exe = runtime.run(make_hook(hook_code(body)), deploy_event)
    assert_stopped_by_budget(exe, 4, "event.dispatch")
    assert 55 <= len(host.events) <= BUDGET // (250 * 1024)
    # The record holds clipped copies, not the data.
    kept = [c for c in exe.calls if c["fn"] == "event.dispatch"]
    assert all(isinstance(c["data"], str) and len(c["data"]) < 70_000 for c in kept)


def test_log_volume_is_bounded(runtime, make_hook, deploy_event):
    body = """
local line = string.rep("l", 8000)
for i = 1, 20000 do log.info(line) end
return "done"
"""
    exe = runtime.run(make_hook(hook_code(body)), deploy_event)
    assert exe.status == "success" and exe.result == "done"
    kept = sum(len(log.message) for log in exe.logs)
    assert kept <= LOG_BYTES_MAX + 200
    assert "more log lines dropped" in exe.logs[-1].message
    assert record_size(exe) < 3 * MiB


def test_http_request_bodies_are_bounded(runtime, make_hook, deploy_event, http_server):
    body = f"""
local blob = string.rep("p", 1024 * 1024)
for i = 1, 40 do
  pcall(http.post, "{http_server.url}/in", blob)
end
"""
    exe = runtime.run(make_hook(hook_code(body)), deploy_event)
    assert_stopped_by_budget(exe, 4, "http.post")
    assert len(http_server.received) <= 16


def test_http_response_bodies_are_bounded(runtime, make_hook, deploy_event, http_server):
    # /big answers 10 MiB; each response keeps 1 MiB (http_body_cap), and those add up.
    body = f"""
for i = 1, 40 do
  local r = http.get("{http_server.url}/big")
end
"""
    exe = runtime.run(make_hook(hook_code(body)), deploy_event)
    assert_stopped_by_budget(exe, 3, "http.get")
    assert len(http_server.received) <= 17


def test_state_values_are_bounded(runtime, make_hook, deploy_event, host):
    body = """
local blob = string.rep("s", 1024 * 1024)
for i = 1, 40 do
  state.set("k" .. i, blob)
end
"""
    exe = runtime.run(make_hook(hook_code(body)), deploy_event)
    assert_stopped_by_budget(exe, 4, "state.set")
    assert len(host.state) <= 16
    assert all(len(c.get("value", "")) < 70_000 for c in exe.calls)


def test_json_decode_input_is_bounded(runtime, make_hook, deploy_event):
    body = """
local text = '"' .. string.rep("j", 1024 * 1024) .. '"'
for i = 1, 40 do
  local v = json.decode(text)
end
"""
    exe = runtime.run(make_hook(hook_code(body)), deploy_event)
    assert_stopped_by_budget(exe, 4, "json.decode")


def test_the_kinds_share_one_total(runtime, make_hook, deploy_event, host):
    # 5 MiB of state, 5 MiB of json.decode, ~1 MiB of logs: each alone is fine;
    # the dispatches that follow cross the 16 MiB total.
    body = """
local blob = string.rep("t", 1024 * 1024)
for i = 1, 5 do state.set("k" .. i, blob) end
for i = 1, 5 do json.decode('"' .. blob .. '"') end
for i = 1, 120 do log.info(string.rep("l", 8000)) end
for i = 1, 10 do event.dispatch("bulk.item", {blob = blob}) end
"""
    exe = runtime.run(make_hook(hook_code(body)), deploy_event)
    assert_stopped_by_budget(exe, 6, "event.dispatch")
    assert 2 <= len(host.events) <= 5
    assert len(host.state) == 5


def test_a_run_within_the_budget_is_unaffected(runtime, make_hook, deploy_event, host):
    body = """
local blob = string.rep("x", 200 * 1024)
for i = 1, 20 do assert(event.dispatch("bulk.item", {blob = blob, i = i})) end
state.set("small", {n = 1})
return json.decode('{"ok": true}').ok
"""
    exe = runtime.run(make_hook(hook_code(body)), deploy_event)
    assert exe.status == "success" and exe.result is True, exe.error
    assert len(host.events) == 20 and host.events[0].data["blob"] == "x" * 200 * 1024
    assert record_size(exe) <= RECORD_BYTES_MAX + 64 * 1024
    small = [c for c in exe.calls if c["fn"] == "state.set"]
    assert small[0]["value"] == {"n": 1}  # small payloads stay plain data in the record


class DiscardingHost:
    """A host that keeps nothing, so the process's growth is the runtime's own."""

    def __init__(self) -> None:
        self.dispatched = 0
        self._lock = threading.Lock()

    def dispatch(self, type: str, data: dict[str, Any], *, parent: Event, source: str) -> int:
        with self._lock:
            self.dispatched += 1
            return self.dispatched

    def state_get(self, hook: str, key: str) -> Any:
        return None

    def state_set(self, hook: str, key: str, value: Any) -> None:
        return None

    def state_delete(self, hook: str, key: str) -> None:
        return None

    def state_incr(self, hook: str, key: str, by: float) -> float:
        return by


def test_process_memory_stays_bounded_with_two_runs_at_once(make_hook, deploy_event):
    # Each run tries to hand the host 400 x 250 KiB of event data and 80 MB of log
    # text (two at once: ~360 MiB); what stays must be a small fraction of that.
    body = """
local blob = string.rep("x", 250 * 1024)
local line = string.rep("l", 8000)
for i = 1, 10000 do pcall(log.info, line) end
for i = 1, 400 do pcall(event.dispatch, "bulk.item", {blob = blob, i = i}) end
"""
    host = DiscardingHost()
    runtime = HookRuntime(host)
    hook = make_hook(hook_code(body))
    results: list[Any] = []
    runtime.run(make_hook("function on_event() end"), deploy_event)  # warm up this thread
    process = psutil.Process()
    before = process.memory_info().rss

    def one() -> None:
        results.append(runtime.run(hook, deploy_event))

    threads = [threading.Thread(target=one) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    grown = process.memory_info().rss - before
    assert grown < 64 * MiB, f"RSS grew by {grown / MiB:.0f} MiB"
    assert len(results) == 2
    assert all(exe.limit == "host_memory" for exe in results), [e.error for e in results]
    assert host.dispatched < 2 * BUDGET // (250 * 1024)
    assert all(record_size(exe) < 4 * MiB for exe in results)


# -- http: one deadline for the whole request ---------------------------------------------


@dataclass
class Drip:
    url: str
    stop: threading.Event = field(default_factory=threading.Event)


def _drip(conn: socket.socket, stop: threading.Event) -> None:
    with conn:
        try:
            request = conn.recv(65536)
        except OSError:
            return
        payload = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"
        if b" /body" in request:  # headers at once, then a body of 80 bytes, a byte at a time
            conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 80\r\n\r\n")
            payload = b"x" * 80
        for byte in payload:
            if stop.wait(0.05):  # a byte every 50 ms: far inside any per-read timeout
                return
            try:
                conn.sendall(bytes([byte]))
            except OSError:
                return


@pytest.fixture
def dripping_server() -> Iterator[Drip]:
    listener = socket.create_server(("127.0.0.1", 0))
    listener.settimeout(0.05)
    server = Drip(url=f"http://127.0.0.1:{listener.getsockname()[1]}")

    def accept() -> None:
        while not server.stop.is_set():
            try:
                conn, _ = listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            threading.Thread(target=_drip, args=(conn, server.stop), daemon=True).start()

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield server
    server.stop.set()
    thread.join(5)
    listener.close()


def test_a_dripping_body_ends_at_the_run_deadline(
    runtime, make_hook, deploy_event, dripping_server
):
    # The body takes 4 s to drip in: a call held past the 1 s deadline would get it
    # all, and the hook would go on to log.
    code = hook_code(f'local r, err = http.get("{dripping_server.url}/body")\nlog.info("after")')
    exe = runtime.run(make_hook(code, timeout=1), deploy_event)
    assert exe.status == "timeout" and exe.limit == "timeout"
    assert exe.logs == []
    assert exe.calls[0]["error"] == "timed out"


def test_dripping_headers_end_at_the_calls_timeout(
    runtime, make_hook, deploy_event, dripping_server
):
    body = f"""
local r, err = http.get("{dripping_server.url}/headers", {{timeout = 0.5}})
return {{r == nil, err}}
"""
    # The answer takes 2 s to drip in, well inside the run's 10 s deadline: only the
    # call's own 0.5 s timeout makes it fail, and the hook goes on.
    exe = runtime.run(make_hook(hook_code(body)), deploy_event)
    assert exe.status == "success"
    assert exe.result == [True, f"http.get {dripping_server.url}/headers: timed out"]


def test_a_whole_answer_still_arrives(runtime, make_hook, deploy_event, dripping_server):
    # 2 bytes of body and ~40 of headers at 50 ms each: well inside a 10 s timeout.
    body = f'local r = http.get("{dripping_server.url}/headers") return r.body'
    exe = runtime.run(make_hook(hook_code(body)), deploy_event)
    assert exe.status == "success" and exe.result == "ok", exe.error


# -- C string functions -------------------------------------------------------------------


def test_plain_find_of_a_long_needle(runtime, make_runtime, make_hook, deploy_event):
    # The case: in C, ~1e12 comparisons (34 s) that no limit sees.
    body = """
local hay = string.rep("a", 2 * 1024 * 1024)
local needle = string.rep("a", 1024 * 1024 - 1) .. "b"
return string.find(hay, needle, 1, true) == nil
"""
    hook = make_hook(hook_code(body), timeout=60)  # the deadline: a hang guard, no more
    # The search is work the limits see: a small budget trips in it. (C's search, unseen,
    # would run to its end and succeed.)
    exe = make_runtime(instructions=5_000_000).run(hook, deploy_event)
    assert exe.limit == "instructions" and exe.error_line == 4, exe.error
    # And it is linear: it fits in the default budget of 1e8 (a quadratic search is
    # charged 2.4e8 in C, and counts 1e12 and more in Lua).
    exe = runtime.run(hook, deploy_event)
    assert exe.status == "success" and exe.result is True, exe.error


def test_long_literal_finds_answer_as_c_does(runtime, make_hook, deploy_event):
    body = """
local hay = string.rep("a", 512 * 1024) .. "b" .. string.rep("a", 1000)
local needle = string.rep("a", 128 * 1024 - 1) .. "b"
return {
  plain = {hay:find(needle, 1, true)},
  literal = {string.find(hay, needle)},
  from = {hay:find(needle, -600 * 1024, true)},
  past = hay:find(needle, 512 * 1024 - 100, true) == nil,
  match = #hay:match(needle),
}
"""
    exe = runtime.run(make_hook(hook_code(body), timeout=60), deploy_event)
    assert exe.status == "success", exe.error
    start = 512 * 1024 - 128 * 1024 + 2
    at = [start, 512 * 1024 + 1]
    assert exe.result == {"plain": at, "literal": at, "from": at, "past": True, "match": 128 * 1024}


def load_patterns() -> Any:
    lua = lupa.LuaRuntime()
    source = resources.files("sloth_tui.lua").joinpath("patterns.lua").read_text("utf-8")
    natives = lua.execute("return string.find, string.match, string.gmatch, string.gsub")
    return lua, lua.execute(source, *natives)


_LUA, _PATTERNS = load_patterns()
_COMPARE = _LUA.eval(
    """function(port, s, p, init)
  local a = table.pack(string.find(s, p, init, true))
  local b = table.pack(port(s, p, init))
  if a.n ~= b.n then return false end
  for i = 1, a.n do if a[i] ~= b[i] then return false end end
  return true
end"""
)


@settings(max_examples=500, deadline=None)
@given(
    st.text("ab", max_size=30),
    st.text("ab", max_size=6),
    st.one_of(st.none(), st.integers(-40, 40)),
)
def test_the_linear_plain_search_answers_as_c_does(s: str, p: str, init: int | None) -> None:
    assert _COMPARE(_PATTERNS.port.plain_find, s, p, init)


C_LOOPS = {
    "upper": "local s = string.rep('a', 8 * 1024 * 1024) while true do local x = s:upper() end",
    "rep": "while true do local x = ('a'):rep(8 * 1024 * 1024) end",
    "sub": "local s = string.rep('a', 8 * 1024 * 1024) while true do local x = s:sub(2) end",
    "format": "local s = string.rep('a', 4 * 1024 * 1024)"
    " while true do local x = ('%s%s'):format(s, s) end",
    "concat": "local s = string.rep('a', 4 * 1024 * 1024) local t = {s, s}"
    " while true do local x = table.concat(t) end",
    "utf8.len": "local s = string.rep('a', 8 * 1024 * 1024)"
    " while true do local x = utf8.len(s) end",
    "plain find": "local s = string.rep('a', 65536) local p = string.rep('a', 16383) .. 'b'"
    " while true do local x = s:find(p, 1, true) end",
    "cheap-enough pattern": "local s = string.rep('a', 3000)"
    " while true do local x = s:gsub('a-b', '') end",
}


@pytest.mark.parametrize("code", C_LOOPS.values(), ids=C_LOOPS.keys())
def test_loops_of_long_c_calls_meet_the_deadline(
    make_runtime, make_hook, deploy_event, monkeypatch, code
):
    # The count hook out of the way (a check per 2^30 instructions: hours of these
    # loops), so only the meter of C work can see the deadline: without it, the loop
    # would outlast the hang guard. (With the count hook, it would see the deadline
    # seconds late.)
    monkeypatch.setattr(worker_module, "CHECK_EVERY", 1 << 30)
    runtime = make_runtime(instructions=10**12)  # the deadline alone must stop them
    hook = make_hook(hook_code(code), timeout=0.5)
    exe = ends(lambda: runtime.run(hook, deploy_event))
    assert exe.status == "timeout", exe.error
    assert exe.error_line == 2


def test_c_work_counts_against_the_instruction_budget(make_runtime, make_hook, deploy_event):
    runtime = make_runtime(instructions=10_000_000)
    body = """
local s = string.rep("a", 8 * 1024 * 1024)
for i = 1, 1000 do local x = s:upper() end
return "done"
"""
    exe = runtime.run(make_hook(hook_code(body), name="upper"), deploy_event)
    assert exe.status == "error" and exe.limit == "instructions"
    assert exe.error.startswith("hook") and ":3: instruction limit exceeded" in exe.error
    assert exe.error_line == 3
