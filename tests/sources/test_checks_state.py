"""Probe results -> events: a change of state is one event, a repeat is none (made-up
results and a hand-moved clock, so no real time passes)."""

from __future__ import annotations

from typing import Any

import pytest

from sloth_tui.engine.events import catalog_warnings
from sloth_tui.sources.check_base import ProbeResult
from sloth_tui.sources.check_config import parse_checks
from sloth_tui.sources.check_state import CheckState, fmt_duration, fmt_ms

OK = ProbeResult(True, 12.0, detail="200 OK")
FAST = ProbeResult(True, 100.0)
SLOW = ProbeResult(True, 900.0)
EDGE = ProbeResult(True, 700.0)  # below slow_ms (800) but above 80% of it
DOWN = ProbeResult(False, 3.0, error="127.0.0.1:9: connection refused")


class Clock:
    def __init__(self) -> None:
        self.now = 1_800_000_000.0

    def __call__(self) -> float:
        return self.now


def state(kind: str = "http", **extra: Any) -> tuple[CheckState, Clock]:
    entry: dict[str, Any] = {"name": "api", "kind": kind, "service": "api-server", **extra}
    if kind == "http":
        entry.setdefault("url", "http://127.0.0.1/healthz")
    else:
        entry.setdefault("host", "127.0.0.1")
        if kind == "tcp":
            entry.setdefault("port", 9)
    clock = Clock()
    return CheckState(parse_checks([entry], "config.toml")[0], clock), clock


def types(events: list[tuple[str, dict[str, Any]]]) -> list[str]:
    return [t for t, _ in events]


def test_passed_once_then_quiet_failed_once_then_quiet() -> None:
    s, _ = state()
    assert types(s.feed(OK)) == ["health.check_passed"]
    assert [types(s.feed(OK)) for _ in range(5)] == [[]] * 5
    assert types(s.feed(DOWN)) == ["health.check_failed"]
    assert [types(s.feed(DOWN)) for _ in range(5)] == [[]] * 5
    assert s.consecutive_failures == 6 and s.state == "down"


def test_recovery_tells_the_downtime_and_passes_again() -> None:
    s, clock = state()
    s.feed(OK)
    clock.now += 10
    failed = s.feed(DOWN)
    assert failed == [
        (
            "health.check_failed",
            {
                "service": "api-server",
                "check_name": "api",
                "error": "127.0.0.1:9: connection refused",
                "consecutive_failures": 1,
                "response_time_ms": 3.0,
            },
        )
    ]
    clock.now += 252
    back = s.feed(OK)
    assert types(back) == ["health.recovered", "health.check_passed"]
    assert back[0][1]["downtime_duration"] == "4m12s" and back[0][1]["downtime_s"] == 252.0
    assert back[0][1]["from"] == "failed"
    assert back[1][1]["response_time"] == "12ms"


def test_failures_below_the_threshold_are_not_news() -> None:
    s, clock = state(failures=3)
    s.feed(OK)
    assert types(s.feed(DOWN)) == [] and types(s.feed(DOWN)) == []
    assert types(s.feed(OK)) == []  # two blips, then fine: nothing happened
    assert types(s.feed(DOWN)) == [] and types(s.feed(DOWN)) == []
    clock.now += 60
    failed = s.feed(DOWN)
    assert types(failed) == ["health.check_failed"]
    assert failed[0][1]["consecutive_failures"] == 3
    clock.now += 30
    # the downtime counts from the first failure of the run: 90 s, not 30
    assert s.feed(OK)[0][1]["downtime_duration"] == "1m30s"


def test_a_check_failing_from_the_start_says_so_once() -> None:
    s, _ = state(failures=2)
    assert types(s.feed(DOWN)) == []
    assert types(s.feed(DOWN)) == ["health.check_failed"]
    assert types(s.feed(DOWN)) == []
    assert types(s.feed(OK)) == ["health.recovered", "health.check_passed"]


def test_degraded_with_hysteresis_then_recovered() -> None:
    s, clock = state(slow_ms=800)
    assert types(s.feed(FAST)) == ["health.check_passed"]
    degraded = s.feed(SLOW)
    assert degraded == [
        (
            "health.degraded",
            {
                "service": "api-server",
                "check_name": "api",
                "metrics": "response_time=900ms",
                "threshold": "response_time=800ms",
                "response_time_ms": 900.0,
                "threshold_ms": 800,
            },
        )
    ]
    assert types(s.feed(SLOW)) == []  # the same episode
    assert types(s.feed(EDGE)) == []  # under the line but not 20% under it: still degraded
    clock.now += 125
    recovered = s.feed(FAST)
    assert types(recovered) == ["health.recovered"]
    assert recovered[0][1]["from"] == "degraded"
    assert recovered[0][1]["downtime_duration"] == "2m5s"
    assert types(s.feed(SLOW)) == ["health.degraded"]  # a new episode


def test_slow_from_the_first_probe_is_passed_and_degraded() -> None:
    s, _ = state(slow_ms=800)
    assert types(s.feed(SLOW)) == ["health.check_passed", "health.degraded"]


def test_slow_ms_zero_never_degrades() -> None:
    s, _ = state(slow_ms=0)
    s.feed(OK)
    assert [types(s.feed(ProbeResult(True, 4000.0))) for _ in range(3)] == [[], [], []]


def test_tcp_targets_add_network_events() -> None:
    s, clock = state("tcp", slow_ms=800, failures=2)
    s.feed(FAST)
    last_ok = clock.now
    clock.now += 5
    s.feed(DOWN)
    down = s.feed(DOWN)
    assert types(down) == ["health.check_failed", "network.down"]
    net = down[1][1]
    assert net["interface"] == "127.0.0.1:9" and net["remote_host"] == "127.0.0.1"
    assert net["last_successful_ping"] == "2027-01-15T08:00:00Z" and last_ok == 1_800_000_000
    assert types(s.feed(DOWN)) == []
    clock.now += 195
    up = s.feed(FAST)
    assert types(up) == ["health.recovered", "network.up", "health.check_passed"]
    assert up[1][1]["downtime_duration"] == "3m15s"
    slow = s.feed(SLOW)
    assert types(slow) == ["health.degraded", "network.latency_high"]
    assert slow[1][1] | {"latency_ms": 0} == {
        "remote_host": "127.0.0.1",
        "port": 9,
        "check_name": "api",
        "latency": "900ms",
        "threshold": "800ms",
        "latency_ms": 0,
        "threshold_ms": 800,
    }
    assert types(s.feed(SLOW)) == []
    sustained = s.feed(SLOW)  # the third slow probe in a row: a slowdown, not a spike
    assert types(sustained) == ["network.slow"]
    assert sustained[0][1]["bandwidth"] is None and sustained[0][1]["slow_probes"] == 3
    assert [types(s.feed(SLOW)) for _ in range(4)] == [[]] * 4  # once per episode


def test_an_http_check_sends_no_network_events() -> None:
    s, _ = state("http", slow_ms=800)
    seen = [t for r in (SLOW, SLOW, SLOW, DOWN, OK) for t in types(s.feed(r))]
    assert not [t for t in seen if t.startswith("network.")]


def test_every_event_has_the_catalogs_fields() -> None:
    s, _ = state("tcp", slow_ms=800)
    seen: dict[str, dict[str, Any]] = {}
    for result in (FAST, SLOW, SLOW, SLOW, FAST, DOWN, OK):
        seen.update(s.feed(result))
    assert set(seen) == {
        "health.check_passed",
        "health.check_failed",
        "health.degraded",
        "health.recovered",
        "network.down",
        "network.up",
        "network.latency_high",
        "network.slow",
    }
    for event_type, data in seen.items():
        assert catalog_warnings(event_type, data) == [], event_type


@pytest.mark.parametrize(
    ("seconds", "text"),
    [(0.25, "250ms"), (1, "1s"), (59.9, "59s"), (60, "1m0s"), (252, "4m12s"), (3723, "1h2m3s")],
)
def test_durations_read_as_the_catalogs_samples(seconds: float, text: str) -> None:
    assert fmt_duration(seconds) == text


def test_response_times_read_as_the_catalogs_samples() -> None:
    assert (fmt_ms(42.4), fmt_ms(3.25), fmt_ms(850)) == ("42ms", "3.2ms", "850ms")


def test_summary_says_what_the_target_does() -> None:
    s, _ = state(failures=2)
    assert s.summary() == "no probe yet"
    s.feed(OK)
    assert s.summary() == "up, 12ms"
    s.feed(DOWN)
    assert s.summary().startswith("up, last probe failed (1 of 2): 127.0.0.1:9")
    s.feed(DOWN)
    assert s.summary() == "down (2 failures): 127.0.0.1:9: connection refused"
