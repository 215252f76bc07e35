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
    text_index_waiting: int = 0  # event ids committed, not in the text index yet
    # The store's write failure under way, one line ("": none): the disk is full...
    write_fault: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {f: getattr(self, f) for f in self.__slots__}


@dataclass(frozen=True, slots=True)
class SourceHealth:
    """One line the dashboard and `doctor` can show for a producer."""

    name: str
    kind: str  # the registry key: monitor, watchers, socket, demo, ...
    state: str  # "running", "stopped", "failed"
    detail: str = ""  # a one-line reason or figure, plain text
    # A few words for the dashboard's top bar ("⇄ sloth-runner lag 2s"); "" shows nothing.
    header: str = ""
    # Counted by the wiring (sources/wiring.py) around the engine the source was started
    # with, so no source counts for itself: events it handed in since it started, when
    # the last one was taken (epoch seconds), and how many were refused or failed.
    events: int = 0
    last_event: float | None = None
    errors: int = 0

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "kind": self.kind,
            "state": self.state,
            "detail": self.detail,
            "header": self.header,
            "events": self.events,
            "last_event": self.last_event,
            "errors": self.errors,
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> SourceHealth:
        last = d.get("last_event")
        return cls(
            str(d["name"]),
            str(d["kind"]),
            str(d["state"]),
            str(d.get("detail", "")),
            str(d.get("header", "")),
            int(d.get("events", 0)),  # an older daemon sends none of the three
            float(last) if last is not None else None,
            int(d.get("errors", 0)),
        )


# The actions an operator may ask of a source's item (SourceItem.actions holds some).
SOURCE_ACTIONS = ("enable", "disable", "run")


@dataclass(frozen=True, slots=True)
class SourceItem:
    """One thing of a source an operator can switch or run by hand: a schedule, a check.
    `enabled` None: the item has no switch."""

    source: str  # the SourceHealth name of the source it belongs to
    name: str
    enabled: bool | None
    actions: tuple[str, ...]  # those of SOURCE_ACTIONS this item takes
    detail: str = ""  # a one-line figure (next fire, last result), plain text

    def to_dict(self) -> dict[str, Any]:
        return {
            "source": self.source,
            "name": self.name,
            "enabled": self.enabled,
            "actions": list(self.actions),
            "detail": self.detail,
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> SourceItem:
        enabled = d.get("enabled")
        return cls(
            str(d["source"]),
            str(d["name"]),
            bool(enabled) if enabled is not None else None,
            tuple(str(a) for a in d.get("actions", ())),
            str(d.get("detail", "")),
        )
