"""`sloth-tui bench --tui`: the dashboard under load, headless, in this process.

Producers dispatch at `rate` events/s into a real engine on a temporary home while
the app runs headless on the Events screen, following the tail. Measured:

- tui_loop_lag_p99_ms: how late a 10 ms asyncio sleep wakes up (p99) while it all runs
- tui_visible_delay_ms: p99 time from the start of `dispatch` to the row being drawn
- tui_events_per_s: the rate the producers reached (the engine runs in this process too:
  on a loaded machine it may stay below `rate`, and the figures are then for that rate)
- tui_idle_cpu_percent: the app's CPU with no events (one core = 100), measured once the
  app has had IDLE_LEAD s without any to settle
- tui_rss_mb_third / tui_rss_mb_end: resident memory at 1/3 and at the end of the load
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import tempfile
import time
from collections import deque

import psutil

from sloth_tui import catalog
from sloth_tui.config import load_settings
from sloth_tui.engine.engine import Engine

TARGET_RATE = 10_000.0
# Each producer awaits its event's commit before the next, so the rate reachable is about
# PRODUCERS / commit latency: 16 stopped near 5-8k/s here; 64 leave the engine the limit.
PRODUCERS = 64
SAMPLE_EVERY = 50  # events between visible-delay samples
IDLE_LEAD = 1.5  # seconds without events before the idle measure: the app settles to idle
IDLE_SECONDS = 3.0
TYPES = ("deploy.started", "health.check_passed", "file.modified", "security.login_failed",
         "task.completed", "db.query_slow", "agent.resource_high", "custom")  # fmt: skip


def _pct(values: list[float], pct: float) -> float:
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * pct / 100))]


async def _lag_sampler(out: list[float], stop: asyncio.Event) -> None:
    while not stop.is_set():
        start = time.perf_counter()
        await asyncio.sleep(0.01)
        out.append((time.perf_counter() - start - 0.01) * 1000)


async def _producer(
    engine: Engine,
    share: float,
    seconds: float,
    samples: dict[int, float],
    counter: itertools.count[int],
) -> int:
    payloads = [(t, catalog.sample_data(t)) for t in TYPES]
    start = time.perf_counter()
    sent = 0
    while (elapsed := time.perf_counter() - start) < seconds:
        due = int(elapsed * share)
        if sent >= due:
            await asyncio.sleep(0.002)
            continue
        type_name, data = payloads[sent % len(payloads)]
        t0 = time.perf_counter()
        event = await engine.dispatch(type_name, data, source="bench")
        if next(counter) % SAMPLE_EVERY == 0:
            samples[event.id] = t0
        sent += 1
    return sent


async def run_tui_bench(seconds: float = 10, rate: float = TARGET_RATE) -> dict[str, float]:
    from sloth_tui.tui.app import SlothApp
    from sloth_tui.tui.widgets.event_table import EventTable

    proc = psutil.Process()
    with tempfile.TemporaryDirectory(prefix="sloth-tui-bench-") as home:
        settings = load_settings(home)
        engine = await Engine.open(settings)
        try:
            app = SlothApp(engine, freeze_gc=True)  # as `sloth-tui` runs it
            async with app.run_test(size=(120, 40)) as pilot:
                await pilot.pause(1.0)  # settle: first layout, history load

                # Idle: no events at all for a few seconds.
                await asyncio.sleep(IDLE_LEAD)
                # process_time, not psutil's cpu_times: those count in 10 ms clock ticks, the
                # whole budget of 3 s at 0.33%, so an idle app read as 0.0, 0.33 or 0.67.
                cpu0, wall0 = time.process_time(), time.perf_counter()
                await asyncio.sleep(IDLE_SECONDS)
                cpu1, wall1 = time.process_time(), time.perf_counter()
                idle_cpu = (cpu1 - cpu0) / (wall1 - wall0) * 100

                # Load: producers at `rate`, a loop-lag sampler, paint times of sampled rows.
                table = app.screen.query_one(EventTable)
                samples: dict[int, float] = {}
                delays: list[float] = []
                pending: deque[int] = deque()

                def painted(event_id: int) -> None:
                    now = time.perf_counter()
                    if samples:
                        pending.extend(sorted(samples))
                        samples.clear()
                    while pending and pending[0] <= event_id:
                        delays.append((now - sent_at.pop(pending.popleft())) * 1000)

                sent_at: dict[int, float] = {}

                class Recorder(dict[int, float]):  # samples land in sent_at too, for `painted`
                    def __setitem__(self, key: int, value: float) -> None:
                        sent_at[key] = value
                        super().__setitem__(key, value)

                samples = Recorder()
                table.on_paint = painted
                lags: list[float] = []
                stop = asyncio.Event()
                sampler = asyncio.create_task(_lag_sampler(lags, stop))
                counter = itertools.count()
                rss: list[float] = []

                async def rss_at_third() -> None:
                    await asyncio.sleep(seconds / 3)
                    rss.append(proc.memory_info().rss / 2**20)

                third = asyncio.create_task(rss_at_third())
                started = time.perf_counter()
                sent = await asyncio.gather(
                    *(_producer(engine, rate / PRODUCERS, seconds, samples, counter)
                      for _ in range(PRODUCERS))
                )  # fmt: skip
                took = time.perf_counter() - started
                await pilot.pause(0.5)  # the last rows reach the screen
                stop.set()
                await sampler
                with contextlib.suppress(asyncio.CancelledError):
                    await third
                rss_end = proc.memory_info().rss / 2**20
                table.on_paint = None
        finally:
            await engine.close(reason="bench finished")
    return {
        "tui_events_per_s": sum(sent) / took,
        "tui_loop_lag_p50_ms": _pct(lags, 50),
        "tui_loop_lag_p99_ms": _pct(lags, 99),
        "tui_loop_lag_max_ms": max(lags, default=0.0),
        "tui_visible_delay_p50_ms": _pct(delays, 50),
        "tui_visible_delay_ms": _pct(delays, 99),
        "tui_visible_delay_max_ms": max(delays, default=0.0),
        "tui_idle_cpu_percent": idle_cpu,
        "tui_rss_mb_third": rss[0] if rss else 0.0,
        "tui_rss_mb_end": rss_end,
    }


if __name__ == "__main__":  # python -m sloth_tui.tui.bench [seconds]
    import sys

    results = asyncio.run(run_tui_bench(float(sys.argv[1]) if len(sys.argv) > 1 else 10))
    for key, value in results.items():
        print(f"{key} {value:.2f}")
