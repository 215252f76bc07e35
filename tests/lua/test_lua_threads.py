"""Concurrent runs from many threads, and the bench helpers."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor

from sloth_tui.lua.runtime import bench_trivial_runs, sandbox_build_cost_us
from sloth_tui.model.records import Event


def test_many_threads_do_not_mix_runs(runtime, make_hook, host):
    code = """function on_event()
  local x = 0
  for i = 1, 20000 do x = x + i end
  log.info("event " .. event.id)
  state.incr("total")
  return event.id
end"""
    hook = make_hook(code, name="par")
    events = [Event(id=i, type="x.y", category="x", data={"i": i}) for i in range(200)]
    with ThreadPoolExecutor(max_workers=4) as pool:
        results = list(pool.map(lambda e: runtime.run(hook, e), events))
    assert [r.result for r in results] == list(range(200))
    assert all(r.logs[0].message == f"event {r.event_id}" for r in results)
    assert host.state[("par", "total")] == 200


def test_a_limit_in_one_thread_does_not_disturb_another(make_runtime, make_hook, deploy_event):
    runtime = make_runtime(instructions=10**13)
    spin = make_hook("function on_event() while true do end end", timeout=0.3)
    quick = make_hook("function on_event() return 'ok' end")
    with ThreadPoolExecutor(max_workers=2) as pool:
        slow = pool.submit(runtime.run, spin, deploy_event)
        fast = [pool.submit(runtime.run, quick, deploy_event) for _ in range(50)]
        assert all(f.result().result == "ok" for f in fast)
        assert slow.result().status == "timeout"


def test_bench_helpers():
    # Orderings, not speeds (the targets live in the bench): what a helper measured
    # took no longer than the call that measured it.
    began = time.monotonic()  # the clock bench_env reads
    build_us = sandbox_build_cost_us(200)
    took = time.monotonic() - began
    assert 0 < build_us * 200 <= took * 1e6
    for threads in (1, 2):
        began = time.perf_counter()  # the clock bench_trivial_runs reads
        per_s = bench_trivial_runs(500, threads=threads)
        took = time.perf_counter() - began
        assert per_s >= 500 / took
