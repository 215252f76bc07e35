"""Any label value a source name or a refused route could carry renders into a scrape the
Prometheus parser reads back, value for value (hypothesis: markup, control characters,
unicode, lone surrogates, huge)."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families

from sloth_tui.http.metrics_scrape import ScrapeCollector, Snapshot
from sloth_tui.model.stats import EngineStats, SourceHealth

STATS = EngineStats(
    started=1.0,
    events_total=0,
    executions_total=0,
    queue_depth=0,
    bus_dropped=0,
    subscribers=0,
    commits=0,
)

texts = st.one_of(
    st.text(),
    st.text(alphabet=st.sampled_from('"\\\n\r\t{}=,# \x00\x1b\u2028\udc80🦥'), max_size=40),
    st.text(min_size=5000, max_size=20_000),
)


def render(snapshot: Snapshot) -> str:
    registry = CollectorRegistry(auto_describe=False)
    collector = ScrapeCollector()
    registry.register(collector)
    collector.snapshot = snapshot
    return generate_latest(registry).decode("utf-8")


def utf8(value: str) -> str:
    return value.encode("utf-8", "replace").decode("utf-8")


@settings(max_examples=150, deadline=None)
@given(name=texts, kind=texts, state=texts, route=texts, reason=texts)
def test_any_label_value_round_trips(
    name: str, kind: str, state: str, route: str, reason: str
) -> None:
    text = render(
        Snapshot(
            stats=STATS,
            sources=[SourceHealth(name, kind, state, events=3)],
            refusals={(route, reason): 4},
        )
    )
    found = {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }
    up = (
        "sloth_source_up",
        tuple(sorted({"name": utf8(name), "kind": utf8(kind), "state": utf8(state)}.items())),
    )
    assert found[up] == (1 if state == "running" else 0)
    events = (
        "sloth_source_events_total",
        tuple(sorted({"name": utf8(name), "kind": utf8(kind)}.items())),
    )
    assert found[events] == 3
    refused = (
        "sloth_http_refusals_total",
        tuple(sorted({"route": utf8(route), "reason": utf8(reason)}.items())),
    )
    assert found[refused] == 4
    # Nothing a value held became a series of its own.
    assert {n for n, _l in found} <= {
        "sloth_engine_events_total",
        "sloth_engine_executions_total",
        "sloth_queue_depth",
        "sloth_bus_dropped_notices_total",
        "sloth_bus_subscribers",
        "sloth_store_commits_total",
        "sloth_store_writes_refused",
        "sloth_engine_start_time_seconds",
        "sloth_store_size_bytes",
        "sloth_source_up",
        "sloth_source_events_total",
        "sloth_source_errors_total",
        "sloth_http_refusals_total",
    }
