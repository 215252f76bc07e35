"""The producers' bench figures come out, small run."""

from __future__ import annotations

from sloth_tui.sources.bench import monitor_overhead_percent, run_socket_bench


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
    assert results["socket_events_per_s"] > 1000
    # The best of the ingests into one daemon; the first (its store empty) is one of them.
    assert results["socket_events_per_s"] >= results["socket_events_per_s_first"] > 0
    # The command line against the daemon, over the smallest client asking the same.
    assert results["cli_ms"] > 0 and results["cli_floor_ms"] > 0
    assert results["cli_ratio"] == results["cli_ms"] / results["cli_floor_ms"]
    assert 0 < results["monitor_overhead_percent"] < 1


def test_monitor_overhead_is_well_under_one_percent_of_a_core() -> None:
    assert monitor_overhead_percent(samples=5) < 1
