"""An edited hook replayed, in dry run, over recent real events: recorded vs new outcome.

The engine (engine/replay.py) fills these in; `hook replay` and the editor's replay view
show them; the socket carries them as to_dict()/from_dict(). The fields (stable):

ReplayReport
    hook: str              the hook's name
    last: int              how many events were asked for (after the cap, MAX_LAST)
    matched: int           events selected: the last `last` the hook would run on
    replayed: int          how many of them were run (< matched when time ran out)
    stopped: str | None    why it stopped early ("the 60 s replay budget ran out"), or None
    edited: bool           True: the code given (an edit); False: the hook's file as it is
    rows: list[ReplayRow]  differing rows first (worse before merely changed), then
                           newest event first
    same, changed, worse   counts (properties; also in to_dict)
    summary: str           one line (property; also in to_dict), says so for 0 events

ReplayRow: one event
    event_id, event_type, event_ts
    recorded: Outcome | None   the latest real (not dry) run of the hook on the event;
                               None: the hook did not run on it ("not run")
    new: Outcome               the edited code's dry run on it
    logs: LineDiff             log lines ("level: message") added and removed
    calls: LineDiff            host calls ("http.post https://x", "event.dispatch t")
                               added and removed, compared by fn and main argument
    status_changed: bool, changed: bool (status, error, logs or calls differ; a row
    not run before counts as changed), worse: bool (recorded success/skipped -> new
    failed/error/timeout), duration_delta_ms: float | None (new - recorded)
    what_changed(): str        "success -> error; +1 call; -2 log lines" ("" when same)

Outcome: status, duration_ms, error (cut), logs and calls (counts), attempt, trigger,
execution_id (the recorded run's id; None for a new outcome).

LineDiff: added, removed (the lines, at most MAX_LINES each, each cut to MAX_LINE_CHARS)
and n_added, n_removed (the true counts).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

OK_STATUSES = frozenset({"success", "skipped"})
MAX_LINES = 10  # lines of a LineDiff kept for display (the counts stay exact)
MAX_LINE_CHARS = 160
MAX_ERROR_CHARS = 300
NOT_RUN = "not run"


def cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


@dataclass(frozen=True, slots=True)
class Outcome:
    status: str  # success | failed | error | timeout | skipped
    duration_ms: float = 0.0
    error: str | None = None
    logs: int = 0  # log lines written
    calls: int = 0  # host calls made (or, in dry run, recorded)
    attempt: int = 1
    trigger: str = "event"
    execution_id: int | None = None  # the stored run's id (recorded outcomes only)

    @property
    def ok(self) -> bool:
        return self.status in OK_STATUSES

    def to_dict(self) -> dict[str, Any]:
        return {
            "status": self.status,
            "duration_ms": self.duration_ms,
            "error": self.error,
            "logs": self.logs,
            "calls": self.calls,
            "attempt": self.attempt,
            "trigger": self.trigger,
            "execution_id": self.execution_id,
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Outcome:
        error = d.get("error")
        exec_id = d.get("execution_id")
        return cls(
            status=str(d["status"]),
            duration_ms=float(d.get("duration_ms") or 0.0),
            error=None if error is None else str(error),
            logs=int(d.get("logs") or 0),
            calls=int(d.get("calls") or 0),
            attempt=int(d.get("attempt") or 1),
            trigger=str(d.get("trigger") or "event"),
            execution_id=None if exec_id is None else int(exec_id),
        )


@dataclass(frozen=True, slots=True)
class LineDiff:
    added: tuple[str, ...] = ()
    removed: tuple[str, ...] = ()
    n_added: int = 0
    n_removed: int = 0

    def __bool__(self) -> bool:
        return bool(self.n_added or self.n_removed)

    @classmethod
    def of(cls, added: list[str], removed: list[str]) -> LineDiff:
        """Kept short for display and the socket; the counts stay exact."""
        return cls(
            tuple(cut(line, MAX_LINE_CHARS) for line in added[:MAX_LINES]),
            tuple(cut(line, MAX_LINE_CHARS) for line in removed[:MAX_LINES]),
            len(added),
            len(removed),
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "added": list(self.added),
            "removed": list(self.removed),
            "n_added": self.n_added,
            "n_removed": self.n_removed,
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any] | None) -> LineDiff:
        d = d or {}
        added = tuple(str(x) for x in d.get("added") or ())
        removed = tuple(str(x) for x in d.get("removed") or ())
        return cls(
            added,
            removed,
            int(d.get("n_added", len(added))),
            int(d.get("n_removed", len(removed))),
        )


@dataclass(frozen=True, slots=True)
class ReplayRow:
    event_id: int
    event_type: str
    event_ts: float
    recorded: Outcome | None  # None: the hook did not run on this event
    new: Outcome
    logs: LineDiff = field(default_factory=LineDiff)
    calls: LineDiff = field(default_factory=LineDiff)

    @property
    def status_changed(self) -> bool:
        return self.recorded is not None and self.recorded.status != self.new.status

    @property
    def changed(self) -> bool:
        if self.recorded is None:
            return True
        return (
            self.status_changed
            or self.recorded.error != self.new.error
            or bool(self.logs)
            or bool(self.calls)
        )

    @property
    def worse(self) -> bool:
        """Recorded ok (success or skipped), now not: the edit breaks this event."""
        return self.recorded is not None and self.recorded.ok and not self.new.ok

    @property
    def duration_delta_ms(self) -> float | None:
        if self.recorded is None:
            return None
        return self.new.duration_ms - self.recorded.duration_ms

    def what_changed(self) -> str:
        """One short line: "success -> error; +1 call, -1 call; +2 log lines"."""
        parts = []
        if self.recorded is None:
            parts.append(f"{NOT_RUN} -> {self.new.status}")
        elif self.status_changed:
            parts.append(f"{self.recorded.status} -> {self.new.status}")
        elif self.recorded.error != self.new.error:
            parts.append("error changed")
        for diff, noun in ((self.calls, "call"), (self.logs, "log line")):
            bits = []
            if diff.n_added:
                bits.append(f"+{diff.n_added} {_plural(diff.n_added, noun)}")
            if diff.n_removed:
                bits.append(f"-{diff.n_removed} {_plural(diff.n_removed, noun)}")
            if bits:
                parts.append(", ".join(bits))
        return "; ".join(parts)

    def to_dict(self) -> dict[str, Any]:
        return {
            "event_id": self.event_id,
            "event_type": self.event_type,
            "event_ts": self.event_ts,
            "recorded": None if self.recorded is None else self.recorded.to_dict(),
            "new": self.new.to_dict(),
            "logs": self.logs.to_dict(),
            "calls": self.calls.to_dict(),
            # derived, for --json readers; from_dict recomputes them
            "status_changed": self.status_changed,
            "changed": self.changed,
            "worse": self.worse,
            "duration_delta_ms": self.duration_delta_ms,
            "what_changed": self.what_changed(),
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> ReplayRow:
        recorded = d.get("recorded")
        return cls(
            event_id=int(d["event_id"]),
            event_type=str(d.get("event_type") or ""),
            event_ts=float(d.get("event_ts") or 0.0),
            recorded=None if recorded is None else Outcome.from_dict(recorded),
            new=Outcome.from_dict(d["new"]),
            logs=LineDiff.from_dict(d.get("logs")),
            calls=LineDiff.from_dict(d.get("calls")),
        )


@dataclass(slots=True)
class ReplayReport:
    hook: str
    rows: list[ReplayRow] = field(default_factory=list)
    last: int = 0
    matched: int = 0
    replayed: int = 0
    stopped: str | None = None
    edited: bool = False

    @property
    def worse(self) -> int:
        return sum(1 for r in self.rows if r.worse)

    @property
    def changed(self) -> int:
        return sum(1 for r in self.rows if r.changed)

    @property
    def same(self) -> int:
        return len(self.rows) - self.changed

    @property
    def summary(self) -> str:
        what = "the edited code" if self.edited else "its current code"
        if self.matched == 0:
            return f"no stored event matches hook {self.hook}'s patterns yet: nothing to replay"
        line = (
            f"{what} over the last {self.matched} {_plural(self.matched, 'event')} of hook "
            f"{self.hook}: {self.same} same, {self.changed} changed, {self.worse} worse"
        )
        if self.stopped:
            line += f" (stopped after {self.replayed} of {self.matched}: {self.stopped})"
        return line

    def to_dict(self) -> dict[str, Any]:
        return {
            "hook": self.hook,
            "last": self.last,
            "matched": self.matched,
            "replayed": self.replayed,
            "stopped": self.stopped,
            "edited": self.edited,
            "same": self.same,
            "changed": self.changed,
            "worse": self.worse,
            "summary": self.summary,
            "rows": [r.to_dict() for r in self.rows],
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> ReplayReport:
        stopped = d.get("stopped")
        return cls(
            hook=str(d["hook"]),
            rows=[ReplayRow.from_dict(r) for r in d.get("rows") or []],
            last=int(d.get("last") or 0),
            matched=int(d.get("matched") or 0),
            replayed=int(d.get("replayed") or 0),
            stopped=None if stopped is None else str(stopped),
            edited=bool(d.get("edited", False)),
        )


def _plural(n: int, noun: str) -> str:
    return noun if n == 1 else noun + "s"
