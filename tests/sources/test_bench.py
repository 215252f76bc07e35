"""The producers' bench figures come out, small run."""

from __future__ import annotations

from sloth_tui.sources.bench import monitor_overhead_percent, run_socket_bench


async def test_socket_bench_reports_both_figures() -> None:
    results = await run_socket_bench(events=3000)
    assert set(results) == {"socket_events_per_s", "monitor_overhead_percent"}
    assert results["socket_events_per_s"] > 1000
    assert 0 < results["monitor_overhead_percent"] < 1


def test_monitor_overhead_is_well_under_one_percent_of_a_core() -> None:
    assert monitor_overhead_percent(samples=5) < 1
