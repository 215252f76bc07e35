"""What a mirror (the Sloth Runner bridge) hands the engine: foreign rows, keyed.

Another engine's store is read by a producer and its new rows are given to
EngineAPI.mirror() in batches. Each row carries a key unique across every mirror
("sloth-runner:event:<uuid>"); the engine stores each key once, so a batch sent twice
(after a crash, a retry, a replaced file) adds nothing the second time. The batch also
carries the mirror's cursor, which the engine stores in the same transaction as the
rows: a mirror restarted at any moment resumes exactly where its last commit ended.

The fleet's intake (sloth_tui/fleet/intake.py) takes other engines' events and runs in
through the same door, keyed by fleet id ("<engine>:<local id there>"), with the fields
marked "fleet" below: the event's own source, its origin engine, its parent (by key) and
depth, a run's full record. Those fields are for callers in the engine's process: the
wire form (to_dict/from_dict, the socket's `mirror` op) leaves them out, so a socket
client still cannot pass its events off as another source or another engine.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sloth_tui.model.records import Execution

MIRROR_STATUSES = ("pending", "processing", "completed", "failed")
# The sources a mirror may give its events: the socket accepts no other (a client must
# not pass its events off as the engine's own, such as "system").
MIRROR_SOURCES = frozenset({"sloth-runner"})


@dataclass(frozen=True, slots=True)
class ForeignEvent:
    """An event as the other engine stored it."""

    key: str
    type: str
    data: dict[str, Any]
    ts: float  # when it happened there (epoch seconds)
    status: str = "completed"  # the other engine's status (one of MIRROR_STATUSES)
    stack: str | None = None
    agent: str | None = None
    run_id: str | None = None
    # fleet: stored as given (None: the batch's source / this engine / no parent)
    source: str | None = None
    origin: str | None = None  # the engine it came from
    parent_key: str | None = None  # its parent's key; parent_id None when not taken in
    depth: int = 0

    def to_dict(self) -> dict[str, Any]:
        return {
            "key": self.key,
            "type": self.type,
            "data": self.data,
            "ts": self.ts,
            "status": self.status,
            "stack": self.stack,
            "agent": self.agent,
            "run_id": self.run_id,
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> ForeignEvent:
        return cls(
            key=str(d["key"]),
            type=d["type"],
            data=d["data"],
            ts=float(d["ts"]),
            status=str(d.get("status") or "completed"),
            stack=d.get("stack"),
            agent=d.get("agent"),
            run_id=d.get("run_id"),
        )


@dataclass(frozen=True, slots=True)
class ForeignExecution:
    """A hook run the other engine recorded for one of its events."""

    key: str
    event_key: str  # the ForeignEvent.key of the event it ran on
    hook: str
    success: bool
    started: float
    duration_ms: float
    output: str = ""
    error: str | None = None
    # fleet: the run as its engine recorded it (status, logs, calls, trigger, attempt...;
    # its `origin` names that engine); stored instead of the summary above when given.
    record: Execution | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "key": self.key,
            "event_key": self.event_key,
            "hook": self.hook,
            "success": self.success,
            "started": self.started,
            "duration_ms": self.duration_ms,
            "output": self.output,
            "error": self.error,
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> ForeignExecution:
        return cls(
            key=str(d["key"]),
            event_key=str(d["event_key"]),
            hook=str(d["hook"]),
            success=bool(d["success"]),
            started=float(d["started"]),
            duration_ms=float(d["duration_ms"]),
            output=str(d.get("output") or ""),
            error=None if d.get("error") is None else str(d["error"]),
        )


@dataclass(frozen=True, slots=True)
class MirrorBatch:
    """New foreign rows, status changes of rows already mirrored, and the cursor after them."""

    source: str  # the events' source here, e.g. "sloth-runner"
    cursor_name: str  # which mirror this is (one cursor per followed file)
    cursor: str  # opaque to the engine: stored as given when the batch is whole
    events: tuple[ForeignEvent, ...] = ()
    executions: tuple[ForeignExecution, ...] = ()
    statuses: tuple[tuple[str, str], ...] = ()  # (event key, its status there now)
    run_hooks: bool = False  # True: this engine's hooks also run on the new events
    # fleet: keys that name this engine's OWN events (key -> local id), so that a parent
    # or a run can hang on them; they are never stored as mirrored rows.
    local_keys: tuple[tuple[str, int], ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {
            "source": self.source,
            "cursor_name": self.cursor_name,
            "cursor": self.cursor,
            "events": [e.to_dict() for e in self.events],
            "executions": [x.to_dict() for x in self.executions],
            "statuses": [list(s) for s in self.statuses],
            "run_hooks": self.run_hooks,
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> MirrorBatch:
        return cls(
            source=str(d["source"]),
            cursor_name=str(d["cursor_name"]),
            cursor=str(d["cursor"]),
            events=tuple(ForeignEvent.from_dict(e) for e in d.get("events") or ()),
            executions=tuple(ForeignExecution.from_dict(x) for x in d.get("executions") or ()),
            statuses=tuple((str(k), str(s)) for k, s in d.get("statuses") or ()),
            run_hooks=bool(d.get("run_hooks", False)),
        )


@dataclass(frozen=True, slots=True)
class MirrorResult:
    """What a batch changed. `missing`: event keys that executions of the batch ran on but
    that are not mirrored yet; those executions wait, and the cursor was not stored."""

    events_added: int = 0
    events_known: int = 0
    executions_added: int = 0
    executions_known: int = 0
    statuses_changed: int = 0
    refused: tuple[tuple[str, str], ...] = ()  # (key, one-line reason): kept out for good
    missing: tuple[str, ...] = field(default=())

    @property
    def cursor_stored(self) -> bool:
        return not self.missing

    def to_dict(self) -> dict[str, Any]:
        return {
            "events_added": self.events_added,
            "events_known": self.events_known,
            "executions_added": self.executions_added,
            "executions_known": self.executions_known,
            "statuses_changed": self.statuses_changed,
            "refused": [list(r) for r in self.refused],
            "missing": list(self.missing),
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> MirrorResult:
        return cls(
            events_added=int(d.get("events_added", 0)),
            events_known=int(d.get("events_known", 0)),
            executions_added=int(d.get("executions_added", 0)),
            executions_known=int(d.get("executions_known", 0)),
            statuses_changed=int(d.get("statuses_changed", 0)),
            refused=tuple((str(k), str(r)) for k, r in d.get("refused") or ()),
            missing=tuple(str(k) for k in d.get("missing") or ()),
        )
