"""`sloth-tui bench`."""

from __future__ import annotations

import asyncio

import click

from sloth_tui.commands.common import emit_json

TARGETS = {
    "dispatch_ratio": (">=", 0.6),
    "hook_executions_per_s": (">=", 5000),
    "latency_p99_ms": ("<=", 10),
}


@click.command("bench")
@click.option("--events", default=20_000, show_default=True, help="Events for the dispatch runs.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
def bench_command(events: int, as_json: bool) -> None:
    """Measure ingest, hook throughput and latency in this process (temporary data dir).

    Prints sqlite_rows_per_s, dispatch_events_per_s, dispatch_ratio, hook_executions_per_s,
    latency_p50_ms, latency_p99_ms and sandbox_build_us, one per line."""
    from sloth_tui.bench import run_bench

    results = asyncio.run(run_bench(events=events))
    if as_json:
        emit_json(results)
        return
    for key, value in results.items():
        target = TARGETS.get(key)
        note = ""
        if target:
            op, goal = target
            ok = value >= goal if op == ">=" else value <= goal
            note = f"   (target {op} {goal}: {'ok' if ok else 'MISSED'})"
        click.echo(f"{key} {value:.3f}{note}" if value < 100 else f"{key} {value:,.0f}{note}")
