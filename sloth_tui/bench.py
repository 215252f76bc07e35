"""`sloth-tui bench`: throughput and latency figures, measured in one process.

Absolute numbers drift on shared machines, so dispatch is also reported as a
ratio to raw SQLite batched inserts on the same schema, measured moments before, and
hook runs (hook_ratio) as a ratio to raw batched inserts of execution rows.
"""

from __future__ import annotations

import asyncio
import json
import sqlite3
import tempfile
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

from sloth_tui import catalog
from sloth_tui.config import load_settings
from sloth_tui.engine.engine import Engine
from sloth_tui.engine.rows import INSERT_EXECUTION, execution_row
from sloth_tui.engine.schema import INSERT_EVENT, MIGRATIONS
from sloth_tui.engine.store import UPDATE_STATUS, percentile
from sloth_tui.model.records import Execution

SAMPLE_TYPE = "deploy.completed"
ROUNDS = 5  # best of: short runs on a shared machine catch bursts of load from elsewhere
PRODUCERS = 1024  # concurrent dispatchers, like many socket clients: group commit batches them
# The hook run's second figure: this many producers, each waiting for its event's commit
# before the next. So few keep the engine in lockstep (one round of their events, then
# one of their runs' records): the figure is 32 over a round trip, not what the engine
# can run. It was the whole hook run until session 16 (issue 19).
FEW_PRODUCERS = 32


def _raw_store(path: Path) -> sqlite3.Connection:
    """A plain sqlite3 connection on the store's schema as it is now (indexes included)
    and its pragmas: what every baseline writes into."""
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=NORMAL")
    for migration in MIGRATIONS:
        conn.executescript(migration)
    return conn


def _event_rows(first: int, count: int, status: str) -> list[tuple[Any, ...]]:
    # Encoded once per row, as the engine encodes each event's data: part of the baseline.
    data = catalog.sample_data(SAMPLE_TYPE)
    return [
        (
            first + i,
            SAMPLE_TYPE,
            "deploy",
            "bench",
            time.time(),
            None,
            0,
            status,
            json.dumps(data, separators=(",", ":")),
            None,
            None,  # stack, agent, run_id
            None,
            None,
            None,  # origin (schema 9): this engine's own
        )
        for i in range(count)
    ]


def _execution_rows(first: int, count: int) -> list[tuple[Any, ...]]:
    """A trivial hook's record for each of `count` events, as the engine writes it."""
    return [
        execution_row(
            Execution(
                "trivial",
                first + i,
                "success",
                time.time(),
                duration_ms=0.05,
                result=True,
                event_type=SAMPLE_TYPE,
            )
        )
        for i in range(count)
    ]


def _rate(
    path: Path, n: int, batch: int, write: Callable[[sqlite3.Connection, int, int], None]
) -> float:
    """Rows/s of `write(conn, first_id, count)` over n rows in batches."""
    conn = _raw_store(path)
    start = time.perf_counter()
    for base in range(0, n, batch):
        write(conn, base + 1, min(batch, n - base))
    elapsed = time.perf_counter() - start
    conn.close()
    return n / elapsed


def _in_transaction(conn: sqlite3.Connection, *writes: tuple[str, list[tuple[Any, ...]]]) -> None:
    conn.execute("BEGIN")
    for sql, rows in writes:
        conn.executemany(sql, rows)
    conn.execute("COMMIT")


def bench_sqlite(path: Path, n: int, batch: int = 500) -> float:
    """Rows/s for plain sqlite3 executemany of event rows in batches, same schema and
    pragmas as the store: the baseline of dispatch_ratio."""
    return _rate(
        path,
        n,
        batch,
        lambda conn, first, count: _in_transaction(
            conn, (INSERT_EVENT, _event_rows(first, count, "completed"))
        ),
    )


def bench_sqlite_executions(path: Path, n: int, batch: int = 500) -> float:
    """Rows/s for plain sqlite3 executemany of execution rows (a trivial hook's record, as
    the engine writes it), in batches, same schema and pragmas as the store: the baseline
    of hook_ratio. No event rows: what a run costs beyond storing its record is the
    engine's."""
    return _rate(
        path,
        n,
        batch,
        lambda conn, first, count: _in_transaction(
            conn, (INSERT_EXECUTION, _execution_rows(first, count))
        ),
    )


def bench_sqlite_hook_events(path: Path, n: int, batch: int = 500) -> float:
    """Events/s for plain sqlite3 writing what a durable hook run must write, in the
    engine's order: a batch of event rows committed (the producers' acks), then their
    execution rows and final statuses committed together (a run's record before its
    event's completed status). No Python engine at all: the ceiling of hook runs/s on
    this store, and over the execution-row baseline, the ceiling of hook_ratio."""

    def write(conn: sqlite3.Connection, first: int, count: int) -> None:
        _in_transaction(conn, (INSERT_EVENT, _event_rows(first, count, "pending")))
        _in_transaction(
            conn,
            (INSERT_EXECUTION, _execution_rows(first, count)),
            (UPDATE_STATUS, [("completed", first + i) for i in range(count)]),
        )

    return _rate(path, n, batch, write)


async def _produce(engine: Engine, events: int, producers: int) -> float:
    """Seconds for `events` events of SAMPLE_TYPE from `producers` concurrent producers
    (more producers than events: one event each), each awaiting its event's commit before
    the next, as a socket client awaits its ack; until no hook work is left (wait_idle)."""
    data = catalog.sample_data(SAMPLE_TYPE)
    producers = max(1, min(producers, events))
    share, extra = divmod(events, producers)

    async def produce(k: int) -> None:
        for _ in range(k):
            await engine.dispatch(SAMPLE_TYPE, dict(data), source="bench")

    start = time.perf_counter()
    await asyncio.gather(*(produce(share + (i < extra)) for i in range(producers)))
    await engine.wait_idle(300)
    return time.perf_counter() - start


async def _dispatch_rate(engine: Engine, events: int, producers: int) -> float:
    """Events/s (no hook matches them)."""
    return events / await _produce(engine, events, producers)


async def _hook_rate(engine: Engine, events: int, producers: int) -> float:
    """Hook runs/s, every run recorded."""
    before = engine.stats().executions_total
    took = await _produce(engine, events, producers)
    return (engine.stats().executions_total - before) / took


async def _open(home: Path, **overrides: Any) -> Engine:
    settings = replace(load_settings(home), **overrides)
    # With the text index, as `serve` and the dashboard keep it (unless configured off).
    return await Engine.open(settings, text_index=True)


async def _latency(engine: Engine, rate: float, count: int) -> tuple[float, float]:
    sub_started: dict[int, float] = {}
    sub = engine.subscribe(maxsize=count * 4)
    interval = 1.0 / rate
    start = time.perf_counter()
    sent: dict[int, float] = {}
    for i in range(count):
        target = start + i * interval
        delay = target - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        event = await engine.dispatch("task.completed", {"task_name": "t"}, source="bench")
        sent[event.id] = event.ts
    await engine.wait_idle(60)
    for notice in sub.drain():
        if notice.kind == "execution":
            sub_started[notice.payload.event_id] = notice.payload.started
    sub.close()
    lat = sorted((sub_started[i] - ts) * 1000 for i, ts in sent.items() if i in sub_started)
    return percentile(lat, 50), percentile(lat, 99)


async def run_bench(
    events: int = 20_000, hook_events: int = 20_000, latency_events: int = 2_000
) -> dict[str, float]:
    with tempfile.TemporaryDirectory(prefix="sloth-bench-") as tmp:
        root = Path(tmp)
        results: dict[str, float] = {}
        # Best of ROUNDS, the two interleaved, so a burst of load from elsewhere on a
        # shared machine hits both sides of the ratio alike.
        raw, dispatch = [], []
        for i in range(ROUNDS):
            raw.append(bench_sqlite(root / f"raw{i}.db", events))
            engine = await _open(root / f"dispatch{i}")
            dispatch.append(await _dispatch_rate(engine, events, PRODUCERS))
            await engine.close()
        results["sqlite_rows_per_s"] = max(raw)
        results["dispatch_events_per_s"] = max(dispatch)
        results["dispatch_ratio"] = results["dispatch_events_per_s"] / results["sqlite_rows_per_s"]

        # hook_ratio's baseline, best of ROUNDS, measured just before the hook run.
        results["sqlite_execution_rows_per_s"] = max(
            bench_sqlite_executions(root / f"raw_exec{i}.db", events) for i in range(ROUNDS)
        )
        # The same for a whole durable hook run's rows, with no engine: how high
        # hook_ratio could go on this store if the engine cost nothing (session 25).
        results["sqlite_hook_events_per_s"] = max(
            bench_sqlite_hook_events(root / f"raw_hook{i}.db", events) for i in range(ROUNDS)
        )
        results["hook_ratio_ceiling"] = (
            results["sqlite_hook_events_per_s"] / results["sqlite_execution_rows_per_s"]
        )
        hook_file = root / "trivial.lua"
        hook_file.write_text("function on_event() return true end\n")
        engine = await _open(root / "hooks")
        await engine.add_hook("trivial", ["*"], hook_file)
        results["hook_executions_per_s"] = await _hook_rate(engine, hook_events, PRODUCERS)
        results["hook_executions_per_s_32_producers"] = await _hook_rate(
            engine, hook_events, FEW_PRODUCERS
        )
        results["hook_ratio"] = (
            results["hook_executions_per_s"] / results["sqlite_execution_rows_per_s"]
        )
        # The engine's share of that ceiling: what is left to win in the engine itself.
        results["hook_share_of_ceiling"] = (
            results["hook_executions_per_s"] / results["sqlite_hook_events_per_s"]
        )
        p50, p99 = await _latency(engine, rate=1000, count=latency_events)
        results["latency_p50_ms"] = p50
        results["latency_p99_ms"] = p99
        await engine.close()

        from sloth_tui.lua.runtime import sandbox_build_cost_us

        results["sandbox_build_us"] = sandbox_build_cost_us()
        return results
