"""ScrapeCollector: the /metrics figures read at scrape time, each one cheap.

The engine's own counters (EngineAPI.stats(), in memory), the producers' health (one line
each), the store's size (two stat() calls) and the listener's refusals: nothing here
reads the events table, so a scrape costs the same on an empty store and on a full one.
metrics.py takes a Snapshot (the async reads) and hands it here just before rendering.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector

from sloth_tui.model.stats import EngineStats, SourceHealth

Metric = CounterMetricFamily | GaugeMetricFamily


@dataclass(frozen=True, slots=True)
class Snapshot:
    stats: EngineStats
    sources: list[SourceHealth] = field(default_factory=list)
    store_bytes: int = 0
    refusals: dict[tuple[str, str], int] = field(default_factory=dict)


def store_bytes(db_path: Path) -> int:
    """The SQLite file plus its write-ahead log (-wal): what the store takes on disk now.
    A missing file counts 0 (the WAL comes and goes with checkpoints)."""
    total = 0
    for path in (db_path, db_path.with_name(db_path.name + "-wal")):
        with contextlib.suppress(OSError):
            total += os.stat(path).st_size
    return total


class ScrapeCollector(Collector):
    """Renders the last Snapshot given; nothing before the first one."""

    def __init__(self) -> None:
        self.snapshot: Snapshot | None = None

    def collect(self) -> Iterator[Metric]:
        snap = self.snapshot
        if snap is None:
            return
        yield from _engine(snap.stats)
        yield _gauge(
            "sloth_store_size_bytes",
            "The store on disk: the SQLite file plus its -wal.",
            snap.store_bytes,
        )
        yield from _sources(snap.sources)
        refused = CounterMetricFamily(
            "sloth_http_refusals",
            "Requests the HTTP listener refused since it started, by route template and "
            "reason (too_large, bad_json, unauthorized, ...).",
            labels=["route", "reason"],
        )
        for (route, reason), count in sorted(snap.refusals.items()):
            refused.add_metric([_label(route), _label(reason)], count)
        yield refused


def _label(value: str) -> str:
    """A label value the text format can carry: UTF-8 cannot encode a lone surrogate
    (a name read with errors="surrogateescape"), which would fail the whole scrape.
    Quotes, backslashes and newlines are escaped by prometheus_client itself."""
    return value.encode("utf-8", "replace").decode("utf-8")


def _gauge(name: str, help: str, value: float) -> GaugeMetricFamily:
    return GaugeMetricFamily(name, help, value=value)


def _counter(name: str, help: str, value: float) -> CounterMetricFamily:
    return CounterMetricFamily(name, help, value=value)


def _engine(stats: EngineStats) -> Iterator[Metric]:
    yield _counter(
        "sloth_engine_events",
        "Events the engine committed since it started (EngineAPI.stats()).",
        stats.events_total,
    )
    yield _counter(
        "sloth_engine_executions",
        "Hook runs the engine's dispatcher finished since it started, skipped ones included.",
        stats.executions_total,
    )
    yield _gauge(
        "sloth_queue_depth",
        "Events waiting in the dispatcher's queue for their hooks.",
        stats.queue_depth,
    )
    yield _counter(
        "sloth_bus_dropped_notices",
        "Notices dropped for subscribers (dashboards, attached clients) whose bounded "
        "queue was full; a subscriber that leaves takes its count with it.",
        stats.bus_dropped,
    )
    yield _gauge(
        "sloth_bus_subscribers", "Subscribers to the engine's notices now.", stats.subscribers
    )
    yield _counter(
        "sloth_store_commits",
        "Store transactions committed since the engine started.",
        stats.commits,
    )
    yield _gauge(
        "sloth_store_writes_refused",
        "1 while the store refuses writes (the disk holding it is full, it is damaged or "
        "read-only): new events are refused. 0 when writes work. Alert on it.",
        1 if stats.write_fault else 0,
    )
    yield _gauge(
        "sloth_engine_start_time_seconds", "When the engine started (Unix time).", stats.started
    )


def _sources(lines: list[SourceHealth]) -> Iterator[Metric]:
    up = GaugeMetricFamily(
        "sloth_source_up",
        "One per producer: 1 while its state is running, else 0; state says which.",
        labels=["name", "kind", "state"],
    )
    events = CounterMetricFamily(
        "sloth_source_events",
        "Events each producer handed in since it started.",
        labels=["name", "kind"],
    )
    errors = CounterMetricFamily(
        "sloth_source_errors",
        "Events each producer had refused or failed since it started.",
        labels=["name", "kind"],
    )
    for line in lines:
        name, kind = _label(line.name), _label(line.kind)
        up.add_metric([name, kind, _label(line.state)], 1 if line.state == "running" else 0)
        events.add_metric([name, kind], line.events)
        errors.add_metric([name, kind], line.errors)
    yield up
    yield events
    yield errors
