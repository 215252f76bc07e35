"""`sloth-tui bench` end to end: every figure printed (small sizes; no timing test)."""

from __future__ import annotations

import json

from click.testing import CliRunner

from sloth_tui.cli import main

KEYS = {
    "sqlite_rows_per_s",
    "dispatch_events_per_s",
    "dispatch_ratio",
    "hook_executions_per_s",
    "hook_executions_per_s_32_producers",
    "latency_p50_ms",
    "latency_p99_ms",
    "sandbox_build_us",
}


def test_bench_json_has_every_figure() -> None:
    args = [
        "bench",
        "--events",
        "2000",
        "--hook-events",
        "320",
        "--latency-events",
        "100",
        "--no-socket",
        "--json",
    ]
    result = CliRunner().invoke(main, args, catch_exceptions=False)
    assert result.exit_code == 0, result.output
    figures = json.loads(result.output)
    assert set(figures) >= KEYS
    assert all(figures[k] > 0 for k in KEYS)
    assert (
        figures["dispatch_ratio"] == figures["dispatch_events_per_s"] / figures["sqlite_rows_per_s"]
    )
    assert figures["latency_p50_ms"] <= figures["latency_p99_ms"]


def test_bench_lines_name_targets() -> None:
    args = [
        "bench",
        "--events",
        "1000",
        "--hook-events",
        "64",
        "--latency-events",
        "20",
        "--no-socket",
    ]
    out = CliRunner().invoke(main, args, catch_exceptions=False).output
    lines = dict(line.split(" ", 1) for line in out.strip().splitlines())
    assert set(lines) >= KEYS
    # Each line names its target, as TARGETS holds it (issue 19's).
    assert "target >= 0.8" in lines["dispatch_ratio"]
    assert "target >= 20000" in lines["hook_executions_per_s"]
