"""Hook policies on a real engine, under concurrency: when, and the modes (single,
queued, restart) per key value. Many events at once, then counts from executions()."""

from __future__ import annotations

import asyncio
import itertools
import logging
import re
import socket
import threading
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from gatekit import Gate
from policy_kit import (
    HANG_GUARD,
    SLOW,
    LuaFile,
    add,
    dispatch_many,
    end,
    eventually,
    open_engine,
    runs_of,
    settle,
    statuses,
)

from sloth_tui.config import Settings
from sloth_tui.engine.engine import Engine
from sloth_tui.model.policy import HookPolicy
from sloth_tui.model.records import Execution

TRIVIAL = "function on_event(event) return true end"


def _overlaps(runs: list[Execution]) -> list[tuple[int, int]]:
    """Pairs of runs (event ids) whose [start, end] intervals overlap."""
    ordered = sorted(runs, key=lambda e: e.started)
    return [
        (a.event_id, b.event_id)
        for a, b in itertools.pairwise(ordered)
        if b.started < end(a) - 0.002  # time.time vs perf_counter: a hair of slack
    ]


# -- when ---------------------------------------------------------------------------


async def test_when_runs_only_on_events_that_hold_the_condition(
    settings: Settings, lua_file: LuaFile
) -> None:
    engine = await open_engine(settings, concurrency=4)
    try:
        await add(engine, lua_file, "pay", TRIVIAL, HookPolicy(when="service=payments !src:demo"))
        await add(engine, lua_file, "all", TRIVIAL, HookPolicy())
        assert engine.matcher.conditional
        datas = [{"service": ["payments", "billing", "search"][i % 3]} for i in range(40)]
        ids = await dispatch_many(engine, datas)
        demo = await engine.dispatch("deploy.failed", {"service": "payments"}, source="demo")
        await settle(engine)
        pay = await runs_of(engine, "pay")
        expected = {i for i, d in zip(ids, datas, strict=True) if d["service"] == "payments"}
        assert {e.event_id for e in pay} == expected  # nothing recorded for the others
        assert len(pay) == len(expected) == 14
        assert demo.id not in {e.event_id for e in pay}  # !src:demo
        assert len(await runs_of(engine, "all")) == 41
        assert await statuses(engine, ids) == {"completed": len(ids)}
    finally:
        await engine.close()


async def test_when_failing_every_event_leaves_them_completed_with_no_runs(
    settings: Settings, lua_file: LuaFile
) -> None:
    engine = await open_engine(settings)
    try:
        await add(engine, lua_file, "pay", TRIVIAL, HookPolicy(when="service=payments"))
        ids = await dispatch_many(engine, [{"service": "other"}] * 10)
        await settle(engine)
        assert await runs_of(engine, "pay") == []
        assert await statuses(engine, ids) == {"completed": len(ids)}
        # And a child a hook dispatches goes through the same door.
        code = 'function on_event(e) event.dispatch("deploy.failed", {service="payments"}) end'
        await engine.add_hook("parent", ["deploy.started"], lua_file(code))
        parent = await engine.dispatch("deploy.started", {}, source="test")
        await settle(engine)
        (child,) = await engine.child_events(parent.id)
        assert [e.event_id for e in await runs_of(engine, "pay")] == [child.id]
    finally:
        await engine.close()


async def test_no_condition_keeps_the_matcher_fast_path(
    settings: Settings, lua_file: LuaFile
) -> None:
    engine = await open_engine(settings)
    try:
        await add(engine, lua_file, "plain", TRIVIAL, HookPolicy(mode="single"))
        assert not engine.matcher.conditional
        hooks = engine.matcher.match("deploy.failed")
        assert engine.matcher.admit(hooks, None) is hooks  # type: ignore[arg-type]
    finally:
        await engine.close()


# -- single -------------------------------------------------------------------------


async def test_single_skips_runs_while_one_is_under_way_per_key(
    settings: Settings, lua_file: LuaFile
) -> None:
    engine = await open_engine(settings, concurrency=4)
    try:
        await add(
            engine, lua_file, "one", SLOW % 3_000_000, HookPolicy(mode="single", key="data.service")
        )
        datas = [{"service": "payments" if i % 2 else "billing"} for i in range(40)]
        ids = await dispatch_many(engine, datas)
        await settle(engine)
        runs = await runs_of(engine, "one")
        assert len(runs) == 40  # every event: a run or a skip, never nothing
        by_status = Counter(e.status for e in runs)
        assert by_status["skipped"] > 0 and by_status["success"] >= 2, by_status
        assert set(by_status) == {"success", "skipped"}
        service = dict(zip(ids, (d["service"] for d in datas), strict=True))
        ran = {e.event_id for e in runs if e.status == "success"}
        for key in ("payments", "billing"):
            mine = [e for e in runs if e.status == "success" and service[e.event_id] == key]
            assert mine and _overlaps(mine) == []
        for skip in (e for e in runs if e.status == "skipped"):
            m = re.fullmatch(
                r"mode single: a run for data\.service='(\w+)' is under way \(event (\d+)\)",
                skip.error or "",
            )
            assert m, skip.error
            assert m.group(1) == service[skip.event_id]
            holder = int(m.group(2))
            assert holder in ran and service[holder] == service[skip.event_id]
        assert await statuses(engine, ids) == {"completed": len(ids)}
        assert (await engine.get_hook("one")).run_count == len(ran)  # skips are no runs
    finally:
        await engine.close()


async def test_key_naming_a_missing_path_is_its_own_slot(
    settings: Settings, lua_file: LuaFile
) -> None:
    engine = await open_engine(settings, concurrency=4)
    try:
        policy = HookPolicy(mode="single", key="data.service.name")
        await add(engine, lua_file, "one", SLOW % 3_000_000, policy)
        datas: list[dict[str, object]] = [
            {"service": {"name": "x"}} if i % 2 else {"other": i} for i in range(40)
        ]
        ids = await dispatch_many(engine, datas)
        await settle(engine)
        runs = await runs_of(engine, "one")
        assert len(runs) == 40
        has_key = {i for i, d in zip(ids, datas, strict=True) if "service" in d}
        skips = [e for e in runs if e.status == "skipped"]
        assert skips
        for skip in skips:
            holder = int(re.findall(r"event (\d+)", skip.error or "")[0])
            if skip.event_id in has_key:
                assert "for data.service.name='x'" in (skip.error or "")
                assert holder in has_key
            else:
                assert "for events without data.service.name" in (skip.error or "")
                assert holder not in has_key
    finally:
        await engine.close()


# -- queued -------------------------------------------------------------------------


async def test_queued_runs_one_at_a_time_per_key_and_runs_them_all(
    settings: Settings, lua_file: LuaFile
) -> None:
    engine = await open_engine(settings, concurrency=4)
    try:
        policy = HookPolicy(mode="queued", key="data.service")
        await add(engine, lua_file, "q", SLOW % 1_000_000, policy)
        datas = [{"service": "payments" if i % 2 else "billing"} for i in range(40)]
        ids = await dispatch_many(engine, datas)
        await settle(engine)
        runs = await runs_of(engine, "q")
        assert Counter(e.status for e in runs) == {"success": 40}
        service = dict(zip(ids, (d["service"] for d in datas), strict=True))
        for key in ("payments", "billing"):
            mine = [e for e in runs if service[e.event_id] == key]
            assert len(mine) == 20 and _overlaps(mine) == []
        assert await statuses(engine, ids) == {"completed": len(ids)}
    finally:
        await engine.close()


async def test_queued_waiters_of_a_hook_disabled_meanwhile_do_not_start(
    settings: Settings, lua_file: LuaFile, gate: Gate
) -> None:
    """Runs already waiting their turn at the gate (in pool threads, off the queue) are
    not started once the hook is disabled: each is recorded as skipped, saying why."""
    # The first run holds its turn in an HTTP request the test answers when it is ready
    # (a busy loop ended on a fast machine before the third event was placed).
    code = f'function on_event(event) http.get("{gate.url}") return true end'
    engine = await open_engine(settings, concurrency=4)
    try:
        await add(engine, lua_file, "q", code, HookPolicy(mode="queued"))
        turns = engine._dispatcher.gate  # type: ignore[union-attr]
        hook = await engine.get_hook("q")
        ids = []
        # One at a time, so each goes to its own pool thread (a worker takes what is
        # queued together as one batch, run in order on one thread).
        for waiting in range(3):
            ids.append((await engine.dispatch("deploy.failed", {"n": waiting})).id)

            async def placed(waiting: int = waiting) -> bool:
                view = turns.view(hook, "")
                return len(view.running) == 1 and view.waiting == waiting

            await eventually(placed, what=f"one run and {waiting} waiting their turn")
        await engine.set_hook_enabled("q", False)
        gate.gate.set()  # the holder's request is answered: it ends
        await settle(engine)
        runs = await runs_of(engine, "q")
        assert Counter(e.status for e in runs) == {"success": 1, "skipped": 2}
        for skipped in (e for e in runs if e.status == "skipped"):
            assert skipped.error == "not run: the hook was disabled while this run waited its turn"
        assert gate.requests == 1  # the waiters never started
        assert await statuses(engine, ids) == {"completed": 3}
    finally:
        gate.gate.set()
        await engine.close()


async def test_queued_waiters_leave_at_a_stop_and_recovery_runs_them(
    settings: Settings, lua_file: LuaFile, caplog: pytest.LogCaptureFixture
) -> None:
    """All threads waiting on one key: the holder ends, close() does not hang, and the
    waiters' events stay unfinished until the next start (trigger "recovery")."""
    engine = await open_engine(settings, concurrency=4)
    await add(engine, lua_file, "q", SLOW % 3_000_000, HookPolicy(mode="queued"))
    ids = await dispatch_many(engine, [{"n": i} for i in range(40)])

    async def started() -> bool:
        return bool(await runs_of(engine, "q"))

    await eventually(started, what="a first run")
    with caplog.at_level(logging.WARNING):
        await asyncio.wait_for(engine.close(drain_timeout=0), HANG_GUARD)
    # The stop settled: every run under way ended, none still waiting its turn (else
    # close says it stops anyway, past their deadlines).
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING]
    engine = await open_engine(settings, concurrency=4)
    try:
        await settle(engine)
        runs = await runs_of(engine, "q")
        assert sorted(e.event_id for e in runs) == ids  # each event once, none lost
        triggers = Counter(e.trigger for e in runs)
        assert triggers["recovery"] > 0 and set(triggers) <= {"event", "recovery"}
        assert _overlaps(runs) == []
        assert await statuses(engine, ids) == {"completed": len(ids)}
    finally:
        await engine.close()


# -- restart ------------------------------------------------------------------------


def _cancel_runs_under_way(engine: Engine) -> None:
    """What a restart does to the runs under way, to each of them: the tests below leave
    runs spinning an hour when they fail, for close to wait on."""
    gate = engine._dispatcher.gate  # type: ignore[union-attr]
    with gate._cond:
        for slot in gate._slots.values():
            for ticket in slot.running:
                if ticket.token is not None:
                    ticket.token.cancel("the test ended")


async def test_restart_cancels_the_run_under_way(settings: Settings, lua_file: LuaFile) -> None:
    """Each new event arrives while the previous run is under way (on another thread):
    it cancels that run at its next instruction check and starts at once."""
    # A slow run spins with its deadline and its budget an hour away: only its cancel
    # ends it before settle's hang guard.
    code = """
function on_event(event)
  local x = 0
  if event.data.slow then while true do x = x + 1 end end
  return true
end
"""
    engine = await open_engine(settings, concurrency=4)
    try:
        policy = HookPolicy(mode="restart", key="data.k")
        await add(engine, lua_file, "r", code, policy, timeout=3600, max_instructions=10**12)
        gate = engine._dispatcher.gate  # type: ignore[union-attr]

        def running(event_id: int) -> bool:
            slot = gate._slots.get(("r", "a"))
            return slot is not None and any(t.event_id == event_id for t in slot.running)

        chain: list[int] = []
        for i in range(6):
            event = await engine.dispatch("deploy.failed", {"k": "a", "slow": i < 5})
            chain.append(event.id)
            if i < 5:

                async def started(event_id: int = event.id) -> bool:
                    return running(event_id)

                await eventually(started, what="the run to start")
        other = await engine.dispatch("deploy.failed", {"k": "b", "slow": False})
        await settle(engine)
        runs = {e.event_id: e for e in await runs_of(engine, "r")}
        assert len(runs) == 7
        for before, after in itertools.pairwise(chain):
            ex = runs[before]
            assert ex.status == "skipped", (ex.status, ex.error)
            assert ex.error == f"cancelled: restarted for event {after}"
            assert ex.limit is None and ex.error_line is None
        assert runs[chain[-1]].status == "success"
        assert runs[other.id].status == "success"  # another key: nothing to cancel
        assert await statuses(engine, [*chain, other.id]) == {"completed": 7}
    finally:
        _cancel_runs_under_way(engine)  # a test that failed: close need not wait an hour
        await engine.close(drain_timeout=0)  # nor start what is queued


async def test_restart_under_concurrency_cancels_only_its_own_key(
    settings: Settings, lua_file: LuaFile
) -> None:
    engine = await open_engine(settings, concurrency=4)
    try:
        policy = HookPolicy(mode="restart", key="data.service")
        await add(engine, lua_file, "r", SLOW % 3_000_000, policy)
        datas = [{"service": "payments" if i % 2 else "billing"} for i in range(40)]
        ids = await dispatch_many(engine, datas)
        await settle(engine)
        service = dict(zip(ids, (d["service"] for d in datas), strict=True))
        runs = await runs_of(engine, "r")
        assert len(runs) == 40 and {e.status for e in runs} <= {"success", "skipped"}
        cancelled = [e for e in runs if e.status == "skipped"]
        assert cancelled
        for ex in cancelled:
            by = int((ex.error or "").removeprefix("cancelled: restarted for event "))
            assert service[by] == service[ex.event_id]
        for key in ("payments", "billing"):
            mine = [e for e in runs if service[e.event_id] == key]
            assert max(mine, key=lambda e: e.started).status == "success"
        assert await statuses(engine, ids) == {"completed": 40}
    finally:
        await engine.close()


@dataclass
class HangingServer:
    url: str
    accepted: threading.Event
    conns: list[socket.socket]

    def hang_up(self) -> None:
        """Close the connections taken so far: a request waiting on one fails at once."""
        for conn in self.conns:
            conn.close()


@pytest.fixture
def hanging_server() -> Iterator[HangingServer]:
    """A loopback HTTP port that accepts and never answers (until hang_up, or the test
    ends)."""
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(8)
    server = HangingServer(f"http://127.0.0.1:{srv.getsockname()[1]}", threading.Event(), [])
    stop = threading.Event()

    def serve() -> None:
        srv.settimeout(0.05)
        while not stop.is_set():
            try:
                conn, _ = srv.accept()
            except TimeoutError:
                continue
            server.conns.append(conn)
            server.accepted.set()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield server
    stop.set()
    thread.join()
    server.hang_up()
    srv.close()


async def test_restart_is_not_held_up_by_a_run_that_ignores_its_cancel(
    settings: Settings, lua_file: LuaFile, hanging_server: HangingServer
) -> None:
    # The slow run waits in http.post until the test hangs up (its deadline is an hour
    # away), then spins until its cancel is seen.
    code = f"""
function on_event(event)
  if event.data.slow then
    http.post("{hanging_server.url}/x", {{a = 1}})
    while true do end
  end
  return true
end
"""
    engine = await open_engine(settings, concurrency=4)
    try:
        policy = HookPolicy(mode="restart")
        await add(engine, lua_file, "r", code, policy, timeout=3600, max_instructions=10**12)
        slow = await engine.dispatch("deploy.failed", {"slow": True}, source="test")
        accepted = hanging_server.accepted
        await eventually(lambda: _true(accepted.is_set()), what="the slow run's request")
        fast = await engine.dispatch("deploy.failed", {"slow": False}, source="test")

        async def fast_done() -> bool:
            return any(e.status == "success" for e in await engine.executions_of(fast.id))

        # A restart that waited for the blocked run would never get the new one done.
        await eventually(fast_done, timeout=HANG_GUARD, what="the new run")
        assert await engine.executions_of(slow.id) == []  # still blocked in http.post
        hanging_server.hang_up()
        await settle(engine)
        (old,) = await engine.executions_of(slow.id)
        assert old.status == "skipped"
        assert old.error == f"cancelled: restarted for event {fast.id}"
    finally:
        hanging_server.hang_up()  # a test that failed: close need not wait an hour
        _cancel_runs_under_way(engine)
        await engine.close(drain_timeout=0)  # nor start what is queued


async def _true(value: bool) -> bool:
    return value


async def test_gate_waits_are_woken_by_halt_directly(settings: Settings) -> None:
    """The gate alone: a queued waiter returns None when the halt is set."""
    from sloth_tui.engine.policy_gate import PolicyGate
    from sloth_tui.model.records import Event, Hook

    halt = threading.Event()
    gate: PolicyGate[None] = PolicyGate(halt)
    hook = Hook("h", ["x"], "/dev/null", policy=HookPolicy(mode="queued"))
    release = threading.Event()
    out: list[object] = []

    def holder_run(h: Hook, e: Event) -> tuple[Execution, None]:
        release.wait(10)
        return Execution("h", e.id, "success", time.time()), None

    first = threading.Thread(target=lambda: gate.run(hook, Event(1, "x", "x", {}), holder_run))
    first.start()
    deadline = time.monotonic() + 10
    while not gate._slots or not gate._slots[("h", "")].running:
        assert time.monotonic() < deadline
        time.sleep(0.001)
    second = threading.Thread(
        target=lambda: out.append(gate.run(hook, Event(2, "x", "x", {}), holder_run))
    )
    second.start()
    while not gate._slots[("h", "")].waiting:
        assert time.monotonic() < deadline
        time.sleep(0.001)
    halt.set()
    gate.wake()
    second.join(10)
    assert out == [None]
    release.set()
    first.join(10)
