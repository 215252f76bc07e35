"""What a check's probe results mean as events: a pure state machine, fed one result at a time.

Like the monitor's alarms, events mark changes of state, not samples: a target that
stays down for an hour is one `health.check_failed`, not one per probe.

States: unknown (nothing seen yet), up, degraded (passing, but at or above slow_ms), down.

- A failed probe counts; at `failures` consecutive ones the check is down:
  `health.check_failed` (tcp: `network.down`). Further failures say nothing more.
- A passing probe after down: `health.recovered` with the downtime (tcp: `network.up`).
- `health.check_passed` is sent on the first pass after start and the first pass after
  down, not on every probe: it marks "this check passes now", which is what a hook
  wants; the pass of every probe is in the source's health() line instead. A failure
  below `failures` followed by a pass is not news and says nothing.
- A passing probe at or above slow_ms: `health.degraded` (tcp: `network.latency_high`).
  It stays degraded until a probe answers below HYSTERESIS of slow_ms (so a target
  hovering at the line does not flap), then `health.recovered` with from = "degraded".
  A tcp target still slow after SUSTAINED probes in a row is `network.slow`, once per
  episode: latency_high is a spike, slow is a slowdown that stayed. (A connect probe
  measures no bandwidth: that event's `bandwidth` and `expected_bandwidth` are null;
  its `latency` and `threshold` say what was seen.)

Event fields follow the catalog (`sloth-tui event types --category health` and
`network`), durations written as its samples are ("42ms", "3m15s"); each event also
carries the numbers (`response_time_ms`, `downtime_s`...) and `check_name`.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from sloth_tui.sources.check_base import ProbeResult
from sloth_tui.sources.check_config import CheckSettings

HYSTERESIS = 0.8  # degraded until a probe answers below 80% of slow_ms
SUSTAINED = 3  # slow probes in a row before a tcp target is network.slow

Clock = Callable[[], float]
Emitted = list[tuple[str, dict[str, Any]]]


def fmt_ms(ms: float) -> str:
    """42 -> "42ms", as the catalog's samples write a response time."""
    return f"{ms:.0f}ms" if ms >= 10 else f"{ms:.1f}ms"


def fmt_duration(seconds: float) -> str:
    """252 -> "4m12s", 0.4 -> "400ms", as the catalog's samples write a downtime."""
    if seconds < 1:
        return fmt_ms(max(seconds, 0.0) * 1000)
    whole = int(seconds)
    hours, rest = divmod(whole, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours}h{minutes}m{secs}s"
    return f"{minutes}m{secs}s" if minutes else f"{secs}s"


def _iso(ts: float | None) -> str | None:
    if ts is None:
        return None
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(ts))


@dataclass(slots=True)
class CheckState:
    """One check's state; `feed` turns a probe result into the events it means."""

    cfg: CheckSettings
    clock: Clock = time.time
    state: str = "unknown"  # unknown, up, degraded, down
    consecutive_failures: int = 0
    probes: int = 0
    last: ProbeResult | None = None
    last_success: float | None = None  # clock time of the last passing probe
    failing_since: float | None = None  # first failure of the current run of failures
    degraded_since: float | None = None
    slow_streak: int = 0
    slow_told: bool = False  # network.slow sent for this degraded episode
    _out: Emitted = field(default_factory=list)

    def feed(self, result: ProbeResult) -> Emitted:
        """The events this result means (often none)."""
        self._out = []
        self.probes += 1
        self.last = result
        now = self.clock()
        if result.ok:
            self._passed(result, now)
        else:
            self._failed(result, now)
        return self._out

    # -- transitions ------------------------------------------------------------------------

    def _failed(self, result: ProbeResult, now: float) -> None:
        self.consecutive_failures += 1
        self.slow_streak = 0
        if self.failing_since is None:
            self.failing_since = now
        if self.consecutive_failures < self.cfg.failures or self.state == "down":
            return
        self.state = "down"
        self.degraded_since = None
        self._emit(
            "health.check_failed",
            error=result.error,
            consecutive_failures=self.consecutive_failures,
            response_time_ms=result.response_ms,
        )
        if self.cfg.kind == "tcp":
            self._emit_net(
                "network.down",
                interface=self.cfg.target,
                last_successful_ping=_iso(self.last_success),
                error=result.error,
            )

    def _passed(self, result: ProbeResult, now: float) -> None:
        was_down = self.state == "down"
        if was_down:
            downtime = now - (self.failing_since if self.failing_since is not None else now)
            self._emit(
                "health.recovered",
                downtime_duration=fmt_duration(downtime),
                downtime_s=round(downtime, 3),
                **{"from": "failed"},
            )
            if self.cfg.kind == "tcp":
                self._emit_net(
                    "network.up",
                    interface=self.cfg.target,
                    downtime_duration=fmt_duration(downtime),
                    downtime_s=round(downtime, 3),
                )
        self.consecutive_failures = 0
        self.failing_since = None
        self.last_success = now
        if self.state in ("unknown", "down"):
            self.state = "up"
            self._emit(
                "health.check_passed",
                response_time=fmt_ms(result.response_ms),
                response_time_ms=result.response_ms,
            )
        slow_ms = self.cfg.slow_ms
        if not slow_ms:
            return
        if self.state == "degraded":
            self._still_degraded(result, now)
        elif result.response_ms >= slow_ms:
            self._degraded(result, now)

    def _degraded(self, result: ProbeResult, now: float) -> None:
        self.state = "degraded"
        self.degraded_since = now
        self.slow_streak = 1
        self.slow_told = False
        ms, slow_ms = result.response_ms, self.cfg.slow_ms
        self._emit(
            "health.degraded",
            metrics=f"response_time={fmt_ms(ms)}",
            threshold=f"response_time={fmt_ms(slow_ms)}",
            response_time_ms=ms,
            threshold_ms=slow_ms,
        )
        if self.cfg.kind == "tcp":
            self._emit_net(
                "network.latency_high",
                latency=fmt_ms(ms),
                threshold=fmt_ms(slow_ms),
                latency_ms=ms,
                threshold_ms=slow_ms,
            )
        self._maybe_slow(result)

    def _still_degraded(self, result: ProbeResult, now: float) -> None:
        ms, slow_ms = result.response_ms, self.cfg.slow_ms
        if ms < slow_ms * HYSTERESIS:
            since = self.degraded_since if self.degraded_since is not None else now
            self.state = "up"
            self.degraded_since = None
            self.slow_streak = 0
            self._emit(
                "health.recovered",
                downtime_duration=fmt_duration(now - since),
                downtime_s=round(now - since, 3),
                **{"from": "degraded"},
            )
            return
        self.slow_streak = self.slow_streak + 1 if ms >= slow_ms else 0
        self._maybe_slow(result)

    def _maybe_slow(self, result: ProbeResult) -> None:
        if self.cfg.kind != "tcp" or self.slow_told or self.slow_streak < SUSTAINED:
            return
        self.slow_told = True
        self._emit_net(
            "network.slow",
            interface=self.cfg.target,
            bandwidth=None,
            expected_bandwidth=None,
            latency=fmt_ms(result.response_ms),
            threshold=fmt_ms(self.cfg.slow_ms),
            slow_probes=self.slow_streak,
        )

    # -- events -----------------------------------------------------------------------------

    def _emit(self, event_type: str, **data: Any) -> None:
        self._out.append(
            (event_type, {"service": self.cfg.service, "check_name": self.cfg.name, **data})
        )

    def _emit_net(self, event_type: str, **data: Any) -> None:
        self._out.append(
            (
                event_type,
                {
                    "remote_host": self.cfg.host,
                    "port": self.cfg.port,
                    "check_name": self.cfg.name,
                    **data,
                },
            )
        )

    # -- for health() and `check run` ----------------------------------------------------

    def summary(self) -> str:
        """One line: the state and the last result."""
        last = self.last
        if last is None:
            return "no probe yet"
        if self.state == "down":
            return f"down ({self.consecutive_failures} failures): {last.error}"
        if not last.ok:
            return (
                f"{self.state}, last probe failed ({self.consecutive_failures} of "
                f"{self.cfg.failures}): {last.error}"
            )
        return f"{self.state}, {fmt_ms(last.response_ms)}"
