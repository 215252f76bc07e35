"""`bench --scale`: a small run through a real `serve` returns every figure (no times
asserted: the targets live in the bench)."""

from __future__ import annotations

import asyncio
import json
import math

from sloth_tui.bench_scale import GROWTH, QUERIES, RARE, event_line, event_lines, run_scale_bench
from sloth_tui.model.filters import parse_filter
from sloth_tui.model.records import Event

FIGURES = {f"query_{name}_ms" for name in QUERIES} | {
    "tui_first_screen_s",
    "tui_detail_open_ms",
    "tui_scroll_oldest_ms",
    "tui_rss_mb",
    "serve_rss_mb",
    "bytes_per_event",
    "text_index_bytes_per_event",
    "text_index_catch_up_s",
    "scale_cli_floor_ms",
    "scale_fill_events_per_s",
}


def test_the_mix_holds_rare_and_common_matches() -> None:
    n = 5_000
    evs = [
        Event(i + 1, line["type"], line["type"].split(".")[0], line["data"], line["source"])
        for i, line in enumerate(event_line(i, n) for i in range(n))
    ]
    counts = {
        text: sum(parse_filter(text).matches(e, set()) for e in evs)
        for text in ("service=billing-rare", "zanzibar", "service=checkout", "heartbeat")
    }
    assert counts["service=billing-rare"] == RARE
    assert counts["zanzibar"] == RARE
    assert counts["service=checkout"] > n // 4
    assert counts["heartbeat"] > n // 10
    lines = b"".join(event_lines(n, chunk=777)).splitlines()
    assert len(lines) == n and json.loads(lines[42]) == event_line(42, n)


def test_a_small_scale_run_through_serve_prints_every_figure() -> None:
    results = asyncio.run(run_scale_bench(2_000, runs=1))
    growth = {f"growth_{k}" for k in FIGURES if k.startswith(GROWTH) and k != "query_base_ms"}
    assert set(results) == FIGURES | growth
    assert all(isinstance(v, float) and not math.isnan(v) for v in results.values()), results
    # Extras near 0 (a cheap query on a small store) make no inf or huge ratio.
    assert all(math.isfinite(results[k]) for k in growth), results
    assert results["bytes_per_event"] > 0 and results["serve_rss_mb"] > 0
    # serve keeps the text index beside the store, caught up before the queries ran.
    assert 0 < results["text_index_bytes_per_event"] < results["bytes_per_event"]
    assert results["text_index_catch_up_s"] >= 0
