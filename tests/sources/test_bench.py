"""The producers' bench figures come out, small run. No time is asserted: the targets
live in the bench (commands/bench.py's TARGETS), which prints each figure beside its own."""

from __future__ import annotations

import math
from types import SimpleNamespace

import pytest

from sloth_tui.commands.bench import TARGETS
from sloth_tui.config import MonitorSettings
from sloth_tui.sources import bench
from sloth_tui.sources.bench import monitor_overhead_percent, run_socket_bench
from sloth_tui.sources.monitor import Sample


async def test_socket_bench_reports_both_figures() -> None:
    results = await run_socket_bench(events=3000)
    assert set(results) == {
        "socket_events_per_s",
        "socket_events_per_s_first",
        "monitor_overhead_percent",
        "cli_ms",
        "cli_floor_ms",
        "cli_ratio",
    }
    assert all(math.isfinite(v) for v in results.values()), results
    # The best of the ingests into one daemon; the first (its store empty) is one of them.
    assert results["socket_events_per_s"] >= results["socket_events_per_s_first"] > 0
    # The command line against the daemon, over the smallest client asking the same.
    assert results["cli_ms"] > 0 and results["cli_floor_ms"] > 0
    assert results["cli_ratio"] == results["cli_ms"] / results["cli_floor_ms"]
    assert results["monitor_overhead_percent"] > 0
    for key in ("socket_events_per_s", "cli_ratio", "monitor_overhead_percent"):
        assert key in TARGETS, key  # judged there, run by run


def test_monitor_overhead_is_a_samples_cost_over_the_interval(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The figure's arithmetic, on costs set by hand (its 1 % target is the bench's)."""
    quiet = Sample(1.0, (0.1, 0.1, 0.1), 2, 8 << 30, 6 << 30, 25.0, cost_s=0.005)
    monkeypatch.setattr(bench, "take_sample", lambda *_args: quiet)
    monkeypatch.setattr(bench, "time", SimpleNamespace(thread_time=lambda: 7.0))  # checks: 0
    # 5 ms of CPU per sample, one sample every 5 s: 0.1 % of one core
    assert MonitorSettings().interval == 5.0
    assert monitor_overhead_percent(samples=4) == pytest.approx(0.1)
    assert TARGETS["monitor_overhead_percent"] == ("<=", 1.0)
