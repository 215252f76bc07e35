"""The three records that flow through sloth-tui: Event, Hook, Execution.

Plain dataclasses with `to_dict()` giving the JSON shapes the CLI, the socket
protocol and the dashboard share. No I/O here.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

from sloth_tui.model.statuses import EVENT_STATUSES as EVENT_STATUSES

if TYPE_CHECKING:  # model/policy imports filters, which imports this module
    from sloth_tui.model.policy import HookPolicy

EventStatus = Literal["pending", "processing", "completed", "failed"]
ExecStatus = Literal["success", "failed", "error", "timeout", "skipped"]
# Which per-run limit stopped a hook, when one did.
LimitName = Literal["timeout", "memory", "instructions", "depth", "host_memory"]

EXEC_STATUSES: tuple[str, ...] = ("success", "failed", "error", "timeout", "skipped")
OK_STATUSES = frozenset({"success", "skipped"})  # a run with one of these worked


def _text_or_none(value: Any) -> str | None:
    """An optional text field: None and "" both mean absent."""
    if value is None or value == "":
        return None
    return str(value)


@dataclass(slots=True)
class Event:
    id: int
    type: str
    category: str
    data: dict[str, Any]
    source: str = "cli"
    ts: float = field(default_factory=time.time)
    parent_id: int | None = None
    depth: int = 0
    status: str = "pending"
    warnings: list[str] = field(default_factory=list)
    # Sloth Runner's context: the stack, agent and run an event belongs to (None = none)
    stack: str | None = None
    agent: str | None = None
    run_id: str | None = None
    # The fleet engine it came from (serve --nats); None: this engine, or no fleet.
    origin: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "type": self.type,
            "category": self.category,
            "data": self.data,
            "source": self.source,
            "status": self.status,
            "ts": self.ts,
            "parent_id": self.parent_id,
            "depth": self.depth,
            "warnings": list(self.warnings),
            "stack": self.stack,
            "agent": self.agent,
            "run_id": self.run_id,
            "origin": self.origin,
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Event:
        return cls(
            id=int(d["id"]),
            type=d["type"],
            category=d["category"],
            data=d.get("data") or {},
            source=d.get("source", "cli"),
            ts=float(d.get("ts", 0.0)),
            parent_id=d.get("parent_id"),
            depth=int(d.get("depth", 0)),
            status=d.get("status", "pending"),
            warnings=list(d.get("warnings") or []),
            stack=_text_or_none(d.get("stack")),
            agent=_text_or_none(d.get("agent")),
            run_id=_text_or_none(d.get("run_id")),
            origin=_text_or_none(d.get("origin")),
        )


@dataclass(slots=True)
class Hook:
    name: str
    events: list[str]
    file: str
    description: str = ""
    enabled: bool = True
    timeout: float = 10.0  # seconds of wall clock per run, http time included
    max_instructions: int | None = None  # Lua VM instructions per run; None = engine default
    max_memory_mb: int | None = None  # Lua heap per run; None = engine default
    run_count: int = 0
    last_run: float | None = None
    created: float = field(default_factory=time.time)
    stack: str | None = None  # set: the hook runs only on events of this stack
    # when, retry, mode/key, throttle, dedupe, auto_disable (model/policy.py)
    policy: HookPolicy = field(default_factory=lambda: _policy(None))
    # Why the engine disabled it (auto_disable), for the operator; None when it did not.
    disabled_reason: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "events": list(self.events),
            "file": self.file,
            "description": self.description,
            "enabled": self.enabled,
            "timeout": self.timeout,
            "max_instructions": self.max_instructions,
            "max_memory_mb": self.max_memory_mb,
            "run_count": self.run_count,
            "last_run": self.last_run,
            "created": self.created,
            "stack": self.stack,
            "policy": self.policy.to_dict(),
            "disabled_reason": self.disabled_reason,
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Hook:
        return cls(
            name=d["name"],
            events=list(d["events"]),
            file=d["file"],
            description=d.get("description", ""),
            enabled=bool(d.get("enabled", True)),
            timeout=float(d.get("timeout", 10.0)),
            max_instructions=d.get("max_instructions"),
            max_memory_mb=d.get("max_memory_mb"),
            run_count=int(d.get("run_count", 0)),
            last_run=d.get("last_run"),
            created=float(d.get("created", 0.0)),
            stack=_text_or_none(d.get("stack")),
            policy=_policy(d.get("policy")),
            disabled_reason=_text_or_none(d.get("disabled_reason")),
        )


def _policy(d: Any) -> HookPolicy:
    """HookPolicy.from_dict, imported late (model/policy imports filters, which imports
    this module)."""
    from sloth_tui.model.policy import HookPolicy

    return HookPolicy.from_dict(d)


@dataclass(slots=True)
class LogLine:
    level: str  # debug | info | warn | error
    ts: float
    message: str

    def to_dict(self) -> dict[str, Any]:
        return {"level": self.level, "ts": self.ts, "message": self.message}


@dataclass(slots=True)
class Execution:
    hook: str
    event_id: int
    status: str  # one of EXEC_STATUSES
    started: float
    duration_ms: float = 0.0
    result: Any = None
    error: str | None = None  # Lua message with its line number
    error_line: int | None = None
    limit: str | None = None  # which limit tripped, when one did
    logs: list[LogLine] = field(default_factory=list)
    # Each host-API call: {"fn": "http.post", ...details}; dry-run calls are marked.
    calls: list[dict[str, Any]] = field(default_factory=list)
    dry_run: bool = False
    id: int | None = None
    event_type: str = ""  # the event's type ("" for runs stored before schema 3)
    # Whose run this is: None for this engine's, "sloth-runner" for one a Sloth Runner
    # master recorded and the bridge mirrored (shown, never re-run here).
    origin: str | None = None
    # Why it ran: event, rerun, retry, recovery or test (model/policy.TRIGGERS); and
    # which attempt it is (1 = the first run; 2 and on = retries).
    trigger: str = "event"
    attempt: int = 1

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "hook": self.hook,
            "event_id": self.event_id,
            "event_type": self.event_type,
            "status": self.status,
            "started": self.started,
            "duration_ms": self.duration_ms,
            "result": self.result,
            "error": self.error,
            "error_line": self.error_line,
            "limit": self.limit,
            "logs": [line.to_dict() for line in self.logs],
            "calls": self.calls,
            "dry_run": self.dry_run,
            "origin": self.origin,
            "trigger": self.trigger,
            "attempt": self.attempt,
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Execution:
        return cls(
            id=d.get("id"),
            hook=d["hook"],
            event_id=int(d["event_id"]),
            status=d["status"],
            started=float(d["started"]),
            duration_ms=float(d.get("duration_ms", 0.0)),
            result=d.get("result"),
            error=d.get("error"),
            error_line=d.get("error_line"),
            limit=d.get("limit"),
            logs=[LogLine(**x) for x in d.get("logs") or []],
            calls=list(d.get("calls") or []),
            dry_run=bool(d.get("dry_run", False)),
            event_type=d.get("event_type") or "",
            origin=_text_or_none(d.get("origin")),
            trigger=str(d.get("trigger") or "event"),
            attempt=int(d.get("attempt") or 1),
        )
