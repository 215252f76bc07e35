"""throttle and dedupe on a real engine, many events at once, with a manual clock on
the gate (no test waits a real window)."""

from __future__ import annotations

import re
import time
from collections import Counter

from hypothesis import given
from hypothesis import settings as settings_
from hypothesis import strategies as st
from policy_kit import (
    SLOW,
    LuaFile,
    ManualClock,
    add,
    dispatch_many,
    open_engine,
    runs_of,
    settle,
    statuses,
)

from sloth_tui.config import Settings
from sloth_tui.engine.engine import Engine
from sloth_tui.model.policy import HookPolicy, Throttle

TRIVIAL = "function on_event(event) return true end"


def _clock(engine: Engine) -> ManualClock:
    clock = ManualClock()
    assert engine._dispatcher is not None
    engine._dispatcher.gate.clock = clock
    return clock


def _by_service(runs: list, service: dict[int, str]) -> dict[str, Counter[str]]:  # type: ignore[type-arg]
    out: dict[str, Counter[str]] = {}
    for ex in runs:
        out.setdefault(service[ex.event_id], Counter())[ex.status] += 1
    return out


async def test_throttle_counts_runs_per_key_in_the_window(
    settings: Settings, lua_file: LuaFile
) -> None:
    engine = await open_engine(settings, concurrency=4)
    try:
        clock = _clock(engine)
        policy = HookPolicy(key="data.service", throttle=Throttle(5, 60.0))
        await add(engine, lua_file, "t", TRIVIAL, policy)
        datas = [{"service": "payments" if i % 2 else "billing"} for i in range(40)]
        ids = await dispatch_many(engine, datas)
        await settle(engine)
        service = dict(zip(ids, (d["service"] for d in datas), strict=True))
        runs = await runs_of(engine, "t")
        assert _by_service(runs, service) == {
            "payments": Counter(success=5, skipped=15),
            "billing": Counter(success=5, skipped=15),
        }
        for skip in (e for e in runs if e.status == "skipped"):
            assert skip.error == (
                f"throttle 5/1m: 5 runs in the last 1m for data.service='{service[skip.event_id]}'"
            )
        assert await statuses(engine, ids) == {"completed": 40}
        assert (await engine.get_hook("t")).run_count == 10

        clock.advance(30)  # still inside the window: all suppressed
        more = await dispatch_many(engine, [{"service": "payments"}] * 3)
        await settle(engine)
        assert {e.status for e in await runs_of(engine, "t") if e.event_id in more} == {"skipped"}
        clock.advance(31)  # the first 5 left the window
        later = await dispatch_many(engine, [{"service": "payments"}] * 8)
        await settle(engine)
        late = [e for e in await runs_of(engine, "t") if e.event_id in later]
        assert Counter(e.status for e in late) == Counter(success=5, skipped=3)
    finally:
        await engine.close()


async def test_throttle_without_key_is_per_hook(settings: Settings, lua_file: LuaFile) -> None:
    engine = await open_engine(settings, concurrency=4)
    try:
        _clock(engine)
        await add(engine, lua_file, "t", TRIVIAL, HookPolicy(throttle=Throttle(3, 1.0)))
        await dispatch_many(engine, [{"service": f"s{i}"} for i in range(20)])
        await settle(engine)
        runs = await runs_of(engine, "t")
        assert Counter(e.status for e in runs) == Counter(success=3, skipped=17)
        assert {e.error for e in runs if e.error} == {"throttle 3/1s: 3 runs in the last 1s"}
    finally:
        await engine.close()


async def test_dedupe_one_run_per_key_per_window(settings: Settings, lua_file: LuaFile) -> None:
    engine = await open_engine(settings, concurrency=4)
    try:
        clock = _clock(engine)
        await add(engine, lua_file, "d", TRIVIAL, HookPolicy(key="data.service", dedupe=600.0))
        datas = [{"service": f"s{i % 4}"} for i in range(40)]
        ids = await dispatch_many(engine, datas)
        await settle(engine)
        service = dict(zip(ids, (d["service"] for d in datas), strict=True))
        runs = await runs_of(engine, "d")
        per = _by_service(runs, service)
        assert per == {f"s{i}": Counter(success=1, skipped=9) for i in range(4)}
        ran = {service[e.event_id]: e.event_id for e in runs if e.status == "success"}
        hhmmss = time.strftime("%H:%M:%S", time.localtime(clock.now))
        for skip in (e for e in runs if e.status == "skipped"):
            key = service[skip.event_id]
            assert skip.error == (
                f"dedupe 10m: ran for data.service='{key}' at {hhmmss} (event {ran[key]})"
            )
        clock.advance(599)
        again = await dispatch_many(engine, [{"service": "s0"}, {"service": "s9"}])
        await settle(engine)
        now = {e.event_id: e.status for e in await runs_of(engine, "d") if e.event_id in again}
        assert now == {again[0]: "skipped", again[1]: "success"}  # s9: a new key value
        clock.advance(2)
        last = await dispatch_many(engine, [{"service": "s0"}] * 5)
        await settle(engine)
        tail = [e.status for e in await runs_of(engine, "d") if e.event_id in last]
        assert Counter(tail) == Counter(success=1, skipped=4)
    finally:
        await engine.close()


async def test_only_runs_that_ran_count_toward_throttle(
    settings: Settings, lua_file: LuaFile
) -> None:
    """mode single skips a run before the throttle counts it: every run that the
    throttle let through ran, and no more than `count` ran.

    In waves of 4: in each, one slow run goes first and the others, taken by the lanes
    that open beside it, meet it under way (mode single). Forty at once would be one
    batch, whose runs the other lanes take while the first still runs: all skipped by
    mode single, none left for the throttle to count."""
    engine = await open_engine(settings, concurrency=4)
    try:
        _clock(engine)
        policy = HookPolicy(mode="single", throttle=Throttle(4, 60.0))
        await add(engine, lua_file, "st", SLOW % 2_000_000, policy)
        for wave in range(10):
            await dispatch_many(engine, [{"n": wave * 4 + i} for i in range(4)])
            await settle(engine)
        runs = await runs_of(engine, "st")
        ran = [e for e in runs if e.status == "success"]
        throttled = [e for e in runs if (e.error or "").startswith("throttle")]
        single = [e for e in runs if (e.error or "").startswith("mode single")]
        assert len(ran) == 4  # the throttle counted only these
        assert single and throttled
        assert len(ran) + len(throttled) + len(single) == 40
        for ex in throttled:
            assert re.fullmatch(r"throttle 4/1m: 4 runs in the last 1m", ex.error or "")
    finally:
        await engine.close()


async def test_gate_view_shows_a_slot(settings: Settings, lua_file: LuaFile) -> None:
    engine = await open_engine(settings)
    try:
        clock = _clock(engine)
        policy = HookPolicy(key="data.service", throttle=Throttle(5, 60.0), dedupe=30.0)
        await add(engine, lua_file, "v", TRIVIAL, policy)
        ids = await dispatch_many(engine, [{"service": "a"}] * 3)
        await settle(engine)
        hook = await engine.get_hook("v")
        gate = engine._dispatcher.gate  # type: ignore[union-attr]
        view = gate.view(hook, "a")
        assert (view.running, view.waiting, view.recent) == ((), 0, 1)  # dedupe: 1 ran
        assert view.last == (clock.now, ids[0])
        clock.advance(61)
        assert gate.view(hook, "a").recent == 0
        assert gate.view(hook, "nope").last is None
    finally:
        await engine.close()


@settings_(max_examples=200, deadline=None)
@given(value=st.one_of(st.text(), st.text(min_size=5000, max_size=6000), st.integers(), st.none()))
def test_skip_reasons_are_one_printable_line_whatever_the_key_value(value: object) -> None:
    """A key value is outside text: the reason quotes it escaped and cut, on one line."""
    import threading

    from sloth_tui.engine.policy_gate import PolicyGate
    from sloth_tui.model.records import Event, Execution, Hook

    gate: PolicyGate[None] = PolicyGate(threading.Event(), ManualClock())
    policy = HookPolicy(key="data.service", throttle=Throttle(1, 60.0))
    hook = Hook("h", ["x"], "/dev/null", policy=policy)

    def run(h: Hook, e: Event) -> tuple[Execution, None]:
        return Execution("h", e.id, "success", 0.0, duration_ms=1.0), None

    first = gate.run(hook, Event(1, "x", "x", {"service": value}), run)
    second = gate.run(hook, Event(2, "x", "x", {"service": value}), run)
    assert first is not None and first[0].status == "success"
    assert second is not None
    skipped = second[0]
    assert skipped.status == "skipped"
    reason = skipped.error or ""
    assert reason.startswith("throttle 1/1m: 1 runs in the last 1m for data.service=")
    assert reason.isprintable() and len(reason) < 200
