"""`sloth-tui bench`: the speed targets of the engine, the socket and the dashboard."""

from __future__ import annotations

import asyncio
from typing import Any

import click

from sloth_tui.commands.common import emit_json

# key: (comparison, goal) — printed beside the figure so a run reads at a glance.
TARGETS: dict[str, tuple[str, float]] = {
    # issue 19's targets, measured as ratios or differences where a same-run baseline
    # exists, so a busy machine moves both sides alike.
    "dispatch_ratio": (">=", 0.8),
    "hook_executions_per_s": (">=", 20000),
    "hook_ratio": (">=", 0.3),
    "latency_p99_ms": ("<=", 5),
    "socket_events_per_s": (">=", 50000),
    "cli_ratio": ("<=", 2.0),
    "monitor_overhead_percent": ("<=", 1.0),
    "tui_loop_lag_p99_ms": ("<=", 16),
    "tui_visible_delay_ms": ("<=", 100),
    "tui_idle_cpu_percent": ("<=", 0.5),
}


def _line(key: str, value: float) -> str:
    text = f"{value:,.0f}" if abs(value) >= 100 else f"{value:.3f}"
    target = TARGETS.get(key)
    if target is None:
        return f"{key} {text}"
    op, goal = target
    ok = value >= goal if op == ">=" else value <= goal
    return f"{key} {text}   (target {op} {goal:g}: {'ok' if ok else 'MISSED'})"


@click.command("bench")
@click.option("--events", default=20_000, show_default=True, help="Events for the dispatch run.")
@click.option("--hook-events", default=20_000, show_default=True, help="Events for each hook run.")
@click.option(
    "--latency-events",
    default=2_000,
    show_default=True,
    help="Events sent at 1,000/s for the latency figures.",
)
@click.option(
    "--socket/--no-socket",
    "with_socket",
    default=True,
    show_default=True,
    help="Also measure socket ingest through a real `serve` process.",
)
@click.option("--tui", "with_tui", is_flag=True, help="Also measure the dashboard (headless).")
@click.option(
    "--scale",
    type=click.IntRange(1_000, 100_000_000),
    default=None,
    is_flag=False,
    flag_value=1_000_000,
    metavar="N",
    help="Also fill a store with N events through `serve` (default 1,000,000; and N/10 for "
    "the growth ratios) and time the queries, the dashboard's first screen and sizes there.",
)
@click.option(
    "--fleet",
    type=click.IntRange(2, 16),
    default=None,
    metavar="N",
    help="Also start a local nats-server and N `serve --nats` engines, and one engine alone "
    "as the baseline: fleet events/s and hook runs/s, their ratios to the lone engine, "
    "duplicate_runs (must be 0) and fleet_latency_p99_ms (publish on one engine to hook "
    "start on another).",
)
@click.option(
    "--fleet-events",
    type=click.IntRange(100, 10_000_000),
    default=5_000,
    show_default=True,
    help="Events for the --fleet throughput runs.",
)
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
def bench_command(
    events: int,
    hook_events: int,
    latency_events: int,
    with_socket: bool,
    with_tui: bool,
    scale: int | None,
    fleet: int | None,
    fleet_events: int,
    as_json: bool,
) -> None:
    """Measure throughput and latency in this process, on a temporary data dir.

    Prints sqlite_rows_per_s (raw SQLite batched inserts, same schema: the baseline),
    dispatch_events_per_s and dispatch_ratio (dispatch / baseline), hook_executions_per_s
    (a trivial hook, events from as many producers as the dispatch run: what the engine
    can run) and hook_ratio (over raw SQLite inserts of execution rows, same schema, same
    run), sqlite_hook_events_per_s (raw SQLite writing a durable hook run's rows: the event,
    then its execution and final status), hook_ratio_ceiling (that over the execution rows:
    the best hook_ratio an engine costing nothing could reach) and hook_share_of_ceiling
    (hook runs over it), hook_executions_per_s_32_producers (the same from 32 producers,
    each waiting for its commit: bound by the round trip, not by the engine),
    latency_p50_ms / latency_p99_ms (dispatch to hook start at 1,000 events/s) and
    sandbox_build_us; with the socket, socket_events_per_s (the best of three pipelined
    ingests into one `serve`; socket_events_per_s_first: the first), monitor_overhead_percent and
    cli_ms / cli_floor_ms / cli_ratio (`event list --limit 1 --json` against the daemon,
    over the smallest Python client sending the same request);
    with --tui, the dashboard's loop lag, visible delay and idle CPU; with --fleet N, the
    fleet's figures (sloth_tui/bench_fleet.py).
    """
    if fleet is not None:
        from sloth_tui.bench_fleet import nats_binary

        nats_binary()  # a missing nats-server is said at once, before the other runs
    from sloth_tui.bench import run_bench

    results: dict[str, Any] = asyncio.run(
        run_bench(events=events, hook_events=hook_events, latency_events=latency_events)
    )
    if with_socket:
        from sloth_tui.sources.bench import run_socket_bench

        results |= asyncio.run(run_socket_bench(events=events))
    if with_tui:
        from sloth_tui.tui.bench import run_tui_bench

        results |= asyncio.run(run_tui_bench())
    if scale is not None:
        from sloth_tui.bench_scale import SCALE_TARGETS, run_scale_bench

        TARGETS.update(SCALE_TARGETS)  # printed beside the figures, as the others are
        results |= asyncio.run(run_scale_bench(scale))
    if fleet is not None:
        from sloth_tui.bench_fleet import FLEET_TARGETS, run_fleet_bench

        TARGETS.update(FLEET_TARGETS)
        results |= asyncio.run(run_fleet_bench(fleet, fleet_events))
    if as_json:
        emit_json(results)
        return
    for key, value in results.items():
        click.echo(_line(key, value))
