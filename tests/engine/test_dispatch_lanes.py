"""The dispatcher's lanes (engine/dispatcher.py STALL): short runs stay on one thread,
runs that block spread to every lane.

The dispatcher runs on a real store; the run function is the seam these tests are about
(it records the thread it ran on, or blocks until enough runs are under way at once).
The last test does the same with real Lua hooks blocked in real HTTP calls.
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import replace
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from waiting import eventually

from sloth_tui.config import Settings
from sloth_tui.engine.bus import Bus
from sloth_tui.engine.dispatcher import Dispatcher, Effects
from sloth_tui.engine.engine import Engine
from sloth_tui.engine.store import Store
from sloth_tui.model.records import Event, Execution, Hook

HOOK = Hook("h", ["*"], "/nowhere/h.lua")
RunFn = Callable[[Hook, Event], tuple[Execution, Effects | None]]


async def open_lanes(
    tmp_path: Path, run: RunFn, *, concurrency: int, stall: float
) -> tuple[Store, Dispatcher]:
    store = await Store.open(tmp_path / "sloth.db")
    dispatcher = Dispatcher(
        store, Bus(), run, concurrency=concurrency, queue_size=10_000, stall=stall
    )
    return store, dispatcher


async def stored_event(store: Store, i: int) -> Event:
    event = Event(i, "custom", "custom", {"n": i}, "test", time.time())
    await store.write_event(event)
    return event


async def test_short_runs_stay_on_one_lane(tmp_path: Path) -> None:
    """400 runs queued at once on 8 lanes, with a stall no batch reaches: one run at a
    time. (Before lanes, the 8 workers' batches ran side by side, 8 threads taking the
    GIL from each other; each run here sleeps 0.5 ms, so any overlap would show.)"""
    lock = threading.Lock()
    now = [0]
    most = [0]

    def run(hook: Hook, event: Event) -> tuple[Execution, Effects | None]:
        with lock:
            now[0] += 1
            most[0] = max(most[0], now[0])
        time.sleep(0.0005)  # releases the GIL, as a Lua call does
        with lock:
            now[0] -= 1
        return Execution(hook.name, event.id, "success", time.time()), None

    store, dispatcher = await open_lanes(tmp_path, run, concurrency=8, stall=60.0)
    try:
        events = [await stored_event(store, i) for i in range(1, 401)]
        waits = [await dispatcher.submit(e, [HOOK], wait=True) for e in events]
        done = await asyncio.gather(*(w for w in waits if w is not None))
        assert [len(runs) for runs in done] == [1] * 400
        assert most[0] == 1
    finally:
        await dispatcher.stop()
        await store.close()


def four_at_once(note: Callable[[Event], object]) -> RunFn:
    """A run that blocks until 4 runs are under way at once (`note` sees each start):
    success, or `error` "alone" when the barrier breaks (after 20 s)."""
    barrier = threading.Barrier(4, timeout=20)

    def run(hook: Hook, event: Event) -> tuple[Execution, Effects | None]:
        note(event)
        try:
            barrier.wait()
        except threading.BrokenBarrierError:
            return Execution(hook.name, event.id, "error", time.time(), error="alone"), None
        return Execution(hook.name, event.id, "success", time.time()), None

    return run


async def test_runs_that_block_spill_to_every_lane(tmp_path: Path) -> None:
    """Each run blocks until 4 runs are under way at once: only lanes that open while
    the ones below are stuck let that happen (one lane would run them one by one, and
    the barrier would break)."""
    entered: list[int] = []
    run = four_at_once(lambda event: entered.append(event.id))
    store, dispatcher = await open_lanes(tmp_path, run, concurrency=4, stall=0.005)
    try:
        waits = []
        for i in range(1, 5):  # one at a time (the next test queues them together)
            waits.append(await dispatcher.submit(await stored_event(store, i), [HOOK], wait=True))
            await eventually(lambda i=i: len(entered) == i, what=f"run {i} under way")
        done = await asyncio.gather(*(w for w in waits if w is not None))
        assert [runs[0].status for runs in done] == ["success"] * 4
    finally:
        await dispatcher.stop()
        await store.close()


async def test_runs_queued_behind_a_blocked_one_in_its_batch_spill_too(tmp_path: Path) -> None:
    """The same four runs queued together: one lane takes them as one batch and blocks in
    the first. The lanes that open take the runs that batch has not started (the back
    half of the most that any stalled lane holds), so all four get under way at once."""
    lanes: set[str] = set()
    run = four_at_once(lambda event: lanes.add(threading.current_thread().name))
    store, dispatcher = await open_lanes(tmp_path, run, concurrency=4, stall=0.005)
    try:
        events = [await stored_event(store, i) for i in range(1, 5)]
        # Nothing yields between these: the four are queued before any worker looks.
        waits = [await dispatcher.submit(e, [HOOK], wait=True) for e in events]
        done = await asyncio.gather(*(w for w in waits if w is not None))
        assert [runs[0].status for runs in done] == ["success"] * 4
        assert len(lanes) == 4
        assert dispatcher.depth == 0
    finally:
        await dispatcher.stop()
        await store.close()


async def test_turning_a_hook_off_drops_the_runs_its_batch_has_not_started(
    tmp_path: Path,
) -> None:
    """Ten runs queued together are one batch; the first blocks. Dropping the hook's runs
    (what disabling or deleting it does) takes the nine not started out of the batch:
    they are recorded as skipped at once, and only the one under way runs."""
    release = threading.Event()
    entered: list[int] = []

    def run(hook: Hook, event: Event) -> tuple[Execution, Effects | None]:
        entered.append(event.id)
        release.wait(20)
        return Execution(hook.name, event.id, "success", time.time()), None

    store, dispatcher = await open_lanes(tmp_path, run, concurrency=1, stall=60.0)
    try:
        events = [await stored_event(store, i) for i in range(1, 11)]
        waits = [await dispatcher.submit(e, [HOOK], wait=True) for e in events]
        await eventually(lambda: entered == [1], what="the first run under way")
        assert await dispatcher.drop_runs_of(HOOK.name, "the hook was disabled") == 9
        release.set()
        done = await asyncio.gather(*(w for w in waits if w is not None))
        assert [runs[0].status for runs in done] == ["success"] + ["skipped"] * 9
        assert entered == [1]
        stored = await store.executions(limit=100)  # every run is recorded, dropped or not
        assert sorted((x.event_id, x.status) for x in stored) == [(1, "success")] + [
            (i, "skipped") for i in range(2, 11)
        ]
        assert dispatcher.depth == 0
    finally:
        release.set()
        await dispatcher.stop()
        await store.close()


class _HeldRequests:
    """A local HTTP server whose replies wait until `together` requests are in at once."""

    def __init__(self, together: int) -> None:
        self.barrier = threading.Barrier(together, timeout=20)
        self.arrived = 0
        held = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                held.arrived += 1
                try:
                    held.barrier.wait()
                    status = 200
                except threading.BrokenBarrierError:
                    status = 503
                body = json.dumps({"together": status == 200}).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.barrier.abort()
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def held() -> Iterator[_HeldRequests]:
    server = _HeldRequests(3)
    yield server
    server.close()


async def test_hooks_blocked_in_http_calls_run_side_by_side(
    settings: Settings, lua_file: Callable[[str], Path], held: _HeldRequests
) -> None:
    """The real engine and real hooks: three events, each hook waiting in http.get until
    the server holds all three requests; they all succeed only if they ran at once."""
    engine = await Engine.open(replace(settings, concurrency=3))
    try:
        code = f'function on_event() return http.get("{held.url}").status end'
        await engine.add_hook("wait", ["custom"], lua_file(code))
        events = []
        for i in range(1, 4):  # one at a time, as in the test above
            events.append(await engine.dispatch("custom", {"name": "n", "message": str(i)}))
            await eventually(lambda i=i: held.arrived == i, what=f"request {i} at the server")
        await engine.wait_idle(30)
        runs = [await engine.executions_of(e.id) for e in events]
        assert [[r.result for r in rs] for rs in runs] == [[200]] * 3
    finally:
        await engine.close()


async def test_a_hold_after_start_holds_the_workers_waiting_for_work(tmp_path: Path) -> None:
    """hold() while the workers are parked on the queue (the engine's own hold comes
    before they first run): a new event waits, and jobs put first run before it. A
    parked worker used to take the new event at once (test_faults' full-disk test then
    saw runs recorded before its disk filled, under load)."""
    order: list[int] = []

    def run(hook: Hook, event: Event) -> tuple[Execution, Effects | None]:
        order.append(event.id)
        return Execution(hook.name, event.id, "success", time.time()), None

    store, dispatcher = await open_lanes(tmp_path, run, concurrency=2, stall=60.0)
    try:
        first = await dispatcher.submit(await stored_event(store, 1), [HOOK], wait=True)
        assert first is not None
        await first  # every worker has run: they are parked, waiting for work
        dispatcher.hold()
        new = await dispatcher.submit(await stored_event(store, 2), [HOOK], wait=True)
        recovered = await stored_event(store, 3)  # a round trip: the workers had their turn
        assert order == [1]
        job = dispatcher._job(recovered, [HOOK], True, "recovery", 1)
        dispatcher.put_first([job])
        assert new is not None and job[2] is not None
        await asyncio.wait_for(asyncio.gather(new, job[2]), 20)
        assert order == [1, 3, 2]
    finally:
        await dispatcher.stop()
        await store.close()
