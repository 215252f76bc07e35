"""Figures the engine reports: per-hook run statistics and the engine's own counters."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(slots=True)
class HookStats:
    hook: str
    runs: int
    failures: int
    avg_ms: float
    p50_ms: float
    p95_ms: float
    last_run: float | None

    @property
    def success_rate(self) -> float | None:
        return None if not self.runs else (self.runs - self.failures) / self.runs

    def to_dict(self) -> dict[str, Any]:
        return {
            "hook": self.hook,
            "runs": self.runs,
            "failures": self.failures,
            "success_rate": self.success_rate,
            "avg_ms": self.avg_ms,
            "p50_ms": self.p50_ms,
            "p95_ms": self.p95_ms,
            "last_run": self.last_run,
        }


@dataclass(slots=True)
class EngineStats:
    started: float
    events_total: int  # dispatched since start
    executions_total: int
    queue_depth: int
    bus_dropped: int
    subscribers: int
    commits: int

    def to_dict(self) -> dict[str, Any]:
        return {f: getattr(self, f) for f in self.__slots__}


@dataclass(frozen=True, slots=True)
class SourceHealth:
    """One line the dashboard and `doctor` can show for a producer."""

    name: str
    kind: str  # the registry key: monitor, watchers, socket, demo, ...
    state: str  # "running", "stopped", "failed"
    detail: str = ""  # a one-line reason or figure, plain text

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "kind": self.kind, "state": self.state, "detail": self.detail}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> SourceHealth:
        return cls(str(d["name"]), str(d["kind"]), str(d["state"]), str(d.get("detail", "")))
