"""Tally: the counters of /metrics that the engine's notices feed (events, runs, durations).

Counting from notices rather than from the store keeps a scrape cheap on any store size
(no GROUP BY over the events table) and the figures exact: every committed event is one
`event` notice, and every finished run one `execution` notice carrying its final status
(a run is published once, when it ended: no pending/running state is ever counted).
The counts start when the listener subscribed (`serve` opens the engine first).

A label value comes from outside (an event type a client made up), so the number of
series is capped: past MAX_TYPE_SERIES distinct (category, type) pairs, further new
pairs are counted under OVERFLOW, and a scrape never grows without bound.
"""

from __future__ import annotations

from typing import Any

from prometheus_client import CollectorRegistry, Counter, Histogram

from sloth_tui.engine.bus import Notice

MAX_TYPE_SERIES = 2000  # distinct (category, type) label pairs kept; the rest share one
OVERFLOW = "_other"  # category and type of the events past the cap

# Seconds. A hook run is typically milliseconds (a Lua function, a webhook call), and a
# run's deadline is at most minutes: the buckets span both.
DURATION_BUCKETS = (
    0.001,
    0.005,
    0.01,
    0.025,
    0.05,
    0.1,
    0.25,
    0.5,
    1.0,
    2.5,
    5.0,
    10.0,
    30.0,
    60.0,
)


class Tally:
    """The notice-fed metrics, registered in `registry` (the listener's own)."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.events = Counter(
            "sloth_events",
            "Events committed to the store since the listener started, by category and type.",
            ["category", "type"],
            registry=registry,
        )
        self.executions = Counter(
            "sloth_executions",
            "Hook runs finished since the listener started, by hook and final status "
            "(success, failed, error, timeout, skipped). Dry runs and runs mirrored from "
            "Sloth Runner are not counted.",
            ["hook", "status"],
            registry=registry,
        )
        self.durations = Histogram(
            "sloth_execution_duration_seconds",
            "How long each hook run took, by hook (runs that ran: a run skipped before "
            "it started has no duration).",
            ["hook"],
            buckets=DURATION_BUCKETS,
            registry=registry,
        )
        self.lost = Counter(
            "sloth_metrics_notices_lost",
            "Engine notices the metrics never saw (their subscription dropped them): "
            "while this is 0, the event and execution counts are exact.",
            registry=registry,
        )
        self._pairs: set[tuple[str, str]] = set()

    def take(self, notice: Notice) -> None:
        """Count one notice; kinds other than event, execution and dropped are ignored."""
        kind = notice.kind
        if kind == "event":
            self._event(notice.payload)
        elif kind == "execution":
            self._execution(notice.payload)
        elif kind == "dropped":
            self.lost.inc(int(notice.payload))

    def _event(self, event: Any) -> None:
        pair = (str(event.category), str(event.type))
        if pair not in self._pairs:
            if len(self._pairs) >= MAX_TYPE_SERIES:
                pair = (OVERFLOW, OVERFLOW)
            self._pairs.add(pair)
        self.events.labels(*pair).inc()

    def _execution(self, execution: Any) -> None:
        # A dry run (test fire, replay) and a mirrored run are not this engine's work.
        if execution.dry_run or execution.origin is not None:
            return
        hook = str(execution.hook)
        self.executions.labels(hook, str(execution.status)).inc()
        # As the dispatcher's _ran(): a gate-skipped run never started.
        if execution.status != "skipped" or execution.duration_ms > 0:
            self.durations.labels(hook).observe(max(0.0, float(execution.duration_ms)) / 1000)
