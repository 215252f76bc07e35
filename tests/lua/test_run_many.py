"""HookRuntime.run_many: several runs per Lua call give what run() gives, one by one.

The engine runs hooks without a gate this way (issue 19): Python gives up the GIL once
per call, not once per run. A call ends after the first run that calls Python (a host
call, a clock read), so each test also checks where calls end and which runs asked for
their host (`touch`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from conftest import FakeHost
from hypothesis import HealthCheck, given
from hypothesis import settings as hsettings
from hypothesis import strategies as st

from sloth_tui.lua.runtime import HookRuntime, Limits
from sloth_tui.model.records import Event, Execution, Hook

CODES = {
    "ok": "function on_event() return true end",
    "table": "function on_event(e) return {n = e.data.n, t = event.type, s = e.data.s} end",
    "text": "function on_event(e) return tostring(e.data.s) end",
    "false": "function on_event() return false, 'nope' end",
    "error": "function on_event() error('boom') end",
    "syntax": "function on_event( return end",
    "log": "function on_event(e) log.info('saw ' .. tostring(e.data.s)) return 1 end",
    "incr": "function on_event() return state.incr('n', 1) end",
    "dispatch": "function on_event() return event.dispatch('custom', {name = 'x'}) end",
    "globals": "x = (x or 0) + 1 function on_event() return x end",  # nothing survives a run
    # Another run of the same event must not see this one's change to its data.
    "mutate": "function on_event(e) local was = e.data.s e.data.s = 'changed' return was end",
    "busy": "function on_event() local s = 0 for i = 1, 50000 do s = s + i end return s end",
}
SLOW = {
    "timeout": "function on_event() while true do end end",
    "budget": "function on_event() local s = 0 for i = 1, 10 ^ 9 do s = s + i end end",
}


def fields(execution: Execution) -> tuple[Any, ...]:
    return (
        execution.hook,
        execution.event_id,
        execution.status,
        execution.result,
        execution.error,
        execution.error_line,
        execution.limit,
        [line.message for line in execution.logs],
        [call.get("fn") for call in execution.calls],
    )


def all_of(
    runtime: HookRuntime, runs: list[tuple[Hook, Event, Limits, bool]], host: FakeHost
) -> tuple[list[Execution], list[int], list[int]]:
    """Every run, call after call: the executions, each call's length, the runs touched."""
    out: list[Execution] = []
    lengths: list[int] = []
    touched: list[int] = []
    while len(out) < len(runs):
        base = len(out)

        def touch(index: int, base: int = base) -> FakeHost:
            touched.append(base + index)
            return host

        got = runtime.run_many(runs[base:], touch)
        assert got, "a call runs at least one"
        lengths.append(len(got))
        out += got
    return out, lengths, touched


def test_run_many_gives_what_run_gives(
    make_hook: Callable[..., Hook], host: FakeHost, deploy_event: Event
) -> None:
    hooks = [make_hook(code, name=name) for name, code in CODES.items()]
    hooks += [make_hook(code, name=name, timeout=0.2) for name, code in SLOW.items()]
    missing = make_hook("", name="missing")
    missing.file += ".gone"
    hooks.append(missing)
    # The deadline trips the loop; the budget trips the long sum.
    limits = [Limits(instructions=10**13 if h.name == "timeout" else 2_000_000) for h in hooks]
    runtime = HookRuntime(host)
    one_by_one = [
        runtime.run(h, deploy_event, limits=lim) for h, lim in zip(hooks, limits, strict=True)
    ]
    host.state.clear()
    runs = [(h, deploy_event, lim, False) for h, lim in zip(hooks, limits, strict=True)]
    together, lengths, touched = all_of(runtime, runs, host)
    assert [fields(x) for x in together] == [fields(x) for x in one_by_one]
    # Calls end after each run that called Python (log, incr, dispatch, busy: its count
    # check, timeout, budget), and only those with host calls asked for their host. The
    # missing file never reaches Lua: it comes back with the call before it.
    names = [h.name for h in hooks]
    assert names[6:] == ["log", "incr", "dispatch", "globals", "mutate", "busy", "timeout",
                         "budget", "missing"]  # fmt: skip
    assert lengths == [7, 1, 1, 3, 1, 2]
    assert touched == [names.index(n) for n in ("log", "incr", "dispatch")]
    assert together[names.index("timeout")].status == "timeout"
    assert together[names.index("budget")].limit == "instructions"


def test_quick_runs_share_the_call_time(
    make_hook: Callable[..., Hook], host: FakeHost, deploy_event: Event
) -> None:
    hook = make_hook(CODES["ok"])
    runtime = HookRuntime(host)
    runs = [(hook, deploy_event, Limits(), False)] * 20
    got = runtime.run_many(runs, lambda index: host)
    assert len(got) == 20  # one call: none called Python
    assert all(x.status == "success" for x in got)
    starts = [x.started for x in got]
    assert starts == sorted(starts)
    durations = {round(x.duration_ms, 9) for x in got}
    assert len(durations) == 1 and durations.pop() > 0


def test_a_run_that_waits_takes_the_call_time_after_its_first_call(
    make_hook: Callable[..., Hook], host: FakeHost, deploy_event: Event, http_server: Any
) -> None:
    """The server holds the request: the run waits in it until its 0.3 s deadline."""
    quick = make_hook(CODES["ok"])
    waits = make_hook(f'function on_event() http.get("{http_server.url}/slow") end', timeout=0.3)
    runtime = HookRuntime(host)
    runs = [(quick, deploy_event, Limits(), False)] * 3 + [(waits, deploy_event, Limits(), False)]
    got = runtime.run_many(runs, lambda index: host)
    assert len(got) == 4
    assert [x.status for x in got[:3]] == ["success"] * 3
    assert got[3].duration_ms >= 250
    # The quick ones share only the time before the waiting run's first call: each ends
    # by the time that run starts (a microsecond for rounding), none takes a share of
    # its wait.
    assert all(x.started + x.duration_ms / 1000 <= got[3].started + 1e-6 for x in got[:3])
    assert got[3].started >= got[2].started


def test_another_heap_limit_ends_the_call_before_it(
    make_hook: Callable[..., Hook], host: FakeHost, deploy_event: Event
) -> None:
    hook = make_hook(CODES["ok"])
    small = Limits(memory=16 * 1024 * 1024)
    runtime = HookRuntime(host)
    runs = [(hook, deploy_event, Limits(), False)] * 2 + [(hook, deploy_event, small, False)] * 2
    got, lengths, _touched = all_of(runtime, runs, host)
    assert lengths == [2, 2]
    assert [x.status for x in got] == ["success"] * 4


@hsettings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    picks=st.lists(
        st.tuples(st.sampled_from(sorted(CODES)), st.integers(0, 3)), min_size=1, max_size=12
    ),
    texts=st.lists(st.text(max_size=40), min_size=1, max_size=12),
    nested=st.recursive(
        st.none() | st.booleans() | st.integers() | st.text(max_size=10),
        lambda inner: (
            st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3)
        ),
        max_leaves=8,
    ),
)
def test_hostile_runs_together_match_runs_alone(
    make_hook: Callable[..., Hook],
    picks: list[tuple[str, int]],
    texts: list[str],
    nested: Any,
) -> None:
    """Any mix of hooks over four events with hostile data (markup, control characters,
    deep and unicode values), several runs on one event among them: the same executions
    together as alone. (Data that one run changes stays its own.)"""
    hooks = {name: make_hook(CODES[name], name=name) for name in sorted({n for n, _ in picks})}
    events = [
        Event(id=i + 1, type="deploy.failed", category="deploy",
              data={"n": i, "s": texts[i % len(texts)], "deep": nested}, source="[b]x\x1b[0m")
        for i in range(4)
    ]  # fmt: skip
    host = FakeHost()
    runtime = HookRuntime(host)
    limits = Limits()
    runs = [(hooks[name], events[i], limits, False) for name, i in picks]
    alone = [runtime.run(hook, event, limits=limits) for hook, event, _l, _r in runs]
    host.state.clear()
    together, _lengths, _touched = all_of(runtime, runs, host)
    assert [fields(x) for x in together] == [fields(x) for x in alone]
    texts_seen = [
        x.result for x, (name, _i) in zip(together, picks, strict=True) if name == "mutate"
    ]
    assert texts_seen == [events[i].data["s"] for name, i in picks if name == "mutate"]


def test_big_events_go_few_per_call(make_hook: Callable[..., Hook], host: FakeHost) -> None:
    """Every run's data is made in the Lua heap before the call: 24 events of 200 KB
    each would not fit a 4 MB heap together. Calls stop adding runs once their data
    fills about an eighth of it, and every run sees its whole event."""
    hook = make_hook("function on_event(e) return #e.data.blob end")
    limits = Limits(memory=4 * 1024 * 1024)
    runtime = HookRuntime(host)
    events = [
        Event(id=i, type="custom", category="custom", data={"blob": str(i % 10) * 200_000})
        for i in range(24)
    ]
    got, lengths, _touched = all_of(runtime, [(hook, e, limits, False) for e in events], host)
    assert [(x.status, x.result) for x in got] == [("success", 200_000)] * 24
    assert len(lengths) >= 3


def test_data_past_the_heap_limit_is_a_failed_run_not_a_crash(
    make_hook: Callable[..., Hook], host: FakeHost
) -> None:
    """A hook with a 1 MB heap, an event of 20,000 keys (under the 256 KB data limit):
    lupa used to abort the process making the table. Now the run fails on its heap."""
    hook = make_hook("function on_event(e) return 1 end")
    limits = Limits(memory=1024 * 1024)
    runtime = HookRuntime(host)
    event = Event(id=1, type="custom", category="custom", data={f"k{i}": i for i in range(20_000)})
    alone = runtime.run(hook, event, limits=limits)
    together = runtime.run_many([(hook, event, limits, False)] * 2, lambda index: host)
    for execution in (alone, *together):
        assert execution.status == "error"
        assert execution.limit == "memory" or "hook runtime failure" in (execution.error or "")
    ok = runtime.run(hook, Event(id=2, type="custom", category="custom", data={}), limits=limits)
    assert ok.status == "success"  # the runtime serves the next run
