"""Hook-made chains (parent, depth, refusal) and dry runs (record, do not perform)."""

from __future__ import annotations

from sloth_tui.model.records import Event

SELF_DISPATCH = """function on_event()
  local ok, err = event.dispatch(event.type, {n = (event.data.n or 0) + 1})
  if not ok then log.warn("refused: " .. err) end
  return true
end"""


def test_self_dispatching_hook_stops_at_the_depth_limit(runtime, make_hook, deploy_event, host):
    hook = make_hook(SELF_DISPATCH, name="storm")
    executions = []
    # The fake engine runs the hook again, synchronously, for every event it stores.
    host.on_dispatch = lambda event: executions.append(runtime.run(hook, event))
    first = runtime.run(hook, deploy_event)
    assert first.status == "success"
    assert [e.depth for e in host.events] == [1, 2, 3, 4, 5, 6, 7, 8]
    assert [e.data["n"] for e in host.events] == [1, 2, 3, 4, 5, 6, 7, 8]
    assert [e.parent_id for e in host.events] == [1, *[e.id for e in host.events[:-1]]]
    assert all(e.source == "hook:storm" for e in host.events)
    assert host.refused == ["event chain too deep: depth 9 > limit 8"]
    deepest = executions[0]  # runs finish innermost first
    assert deepest.status == "success"
    assert deepest.calls[0]["error"] == "event chain too deep: depth 9 > limit 8"
    assert deepest.logs[0].message == "refused: event chain too deep: depth 9 > limit 8"
    assert all(e.status == "success" for e in executions)


def test_dry_run_http_is_recorded_not_sent(runtime, make_hook, deploy_event, http_server):
    code = f"""function on_event()
  local r = http.post("{http_server.url}/x", {{a = 1}})
  return {{r.status, r.body, r.json == nil, r.dry_run, r.headers}}
end"""
    exe = runtime.run(make_hook(code), deploy_event, dry_run=True)
    assert exe.dry_run is True
    assert exe.result == [200, "", True, True, {}]
    assert http_server.received == []
    assert exe.calls[0]["fn"] == "http.post"
    assert exe.calls[0]["body"] == {"a": 1}
    assert exe.calls[0]["dry_run"] is True


def test_dry_run_dispatch_is_recorded_not_sent(runtime, make_hook, deploy_event, host):
    code = """function on_event()
  local ok = event.dispatch("deploy.rollback", {x = 1})
  event.dispatch_custom("n", "m")
  return ok
end"""
    exe = runtime.run(make_hook(code), deploy_event, dry_run=True)
    assert exe.result is True
    assert host.events == []
    assert [(c["fn"], c["type"], c["dry_run"]) for c in exe.calls] == [
        ("event.dispatch", "deploy.rollback", True),
        ("event.dispatch_custom", "custom", True),
    ]


def test_dry_run_state_writes_go_to_a_scratch_copy(runtime, make_hook, deploy_event, host):
    hook = make_hook(
        """function on_event()
  local before = state.get("count")
  state.incr("count", 2)
  state.set("new", "v")
  state.delete("old")
  return {before, state.get("count"), state.get("new"), state.get("old") == nil}
end""",
        name="dry",
    )
    host.state[("dry", "count")] = 5
    host.state[("dry", "old")] = "keep"
    exe = runtime.run(hook, deploy_event, dry_run=True)
    assert exe.result == [5, 7, "v", True]
    assert host.state == {("dry", "count"): 5, ("dry", "old"): "keep"}  # untouched
    assert all(c.get("dry_run") for c in exe.calls)


def test_dry_run_and_real_run_differ_only_in_effects(runtime, make_hook, host):
    event = Event(id=3, type="deploy.failed", category="deploy", data={"service": "s"})
    hook = make_hook(
        "function on_event() state.set('k', 1) event.dispatch('x.y', {}) return true end"
    )
    dry = runtime.run(hook, event, dry_run=True)
    assert host.state == {} and host.events == []
    real = runtime.run(hook, event)
    assert host.state and host.events
    assert [c["fn"] for c in dry.calls] == [c["fn"] for c in real.calls]
