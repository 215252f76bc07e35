"""Why a hook ran on an event, or why not: one HookVerdict per hook (`hook explain`).

A verdict holds each check the engine makes for a hook and an event, in the order it
makes them (pattern, stack, enabled, condition: the checks before a run is queued; then
mode, throttle and dedupe, decided as the run starts), the event's chain depth, and the
outcome: the runs recorded for the event by the hook, or why there is none.

`would_run` is the first group's answer: the hook existed when the event came, and its
pattern, stack, enabled state and condition all let it through. A hook that would run
has at least one execution on the event once the event is finished (a run that mode,
throttle or dedupe held back is recorded too, as `skipped` with the reason).

Everything here travels the socket (EXPLAIN: to_dict/from_dict) and is rendered by the
CLI and the dashboard from the same `rows()`, so both say the same thing.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any

from sloth_tui.model.records import Execution


@dataclass(frozen=True, slots=True)
class RunSeen:
    """One recorded run of the hook on the event (dry runs are not part of it)."""

    id: int
    status: str  # success | failed | error | timeout | skipped
    trigger: str  # event | rerun | retry | recovery | test
    attempt: int  # 1 = the first run; 2 and on = retries
    started: float
    duration_ms: float
    error: str | None  # the run's error, or a skipped run's reason
    origin: str | None = None  # "sloth-runner" for a run a Sloth Runner master recorded

    @classmethod
    def of(cls, ex: Execution) -> RunSeen:
        return cls(
            ex.id or 0,
            ex.status,
            ex.trigger,
            ex.attempt,
            ex.started,
            ex.duration_ms,
            ex.error,
            ex.origin,
        )

    def phrase(self) -> str:
        """`success`, `error (retry, attempt 2)`, `skipped (rerun)`."""
        tags = [] if self.trigger == "event" else [self.trigger]
        if self.attempt > 1:
            tags.append(f"attempt {self.attempt}")
        return self.status + (f" ({', '.join(tags)})" if tags else "")


@dataclass(frozen=True, slots=True)
class HookVerdict:
    hook: str
    would_run: bool  # the checks made before a run is queued all pass (see above)
    outcome: str  # one line: what ran (naming each run's status), or why nothing did
    event_id: int = 0
    event_type: str = ""
    patterns: tuple[str, ...] = ()
    matched: str | None = None  # the first of the hook's patterns the type matches
    stack: str | None = None  # the hook's stack rule (None: every stack)
    event_stack: str | None = None
    enabled: bool = True
    disabled_reason: str | None = None
    existed: bool = True  # the hook was added before the event came
    when: str = ""  # the hook's condition ("" = none)
    failing_term: str | None = None  # the condition's first term the event fails
    mode: str = "parallel"
    key: str = ""  # the data path mode, throttle and dedupe count per ("" = per hook)
    key_value: str = ""  # its value on this event (model/policy.MISSING_KEY without it)
    limit: str = ""  # throttle or dedupe state before the event ("" = neither is set)
    policy: tuple[str, ...] = ()  # HookPolicy.describe(): every setting, one line each
    depth: int = 0  # the event's place in its chain (0 = dispatched by a producer)
    max_depth: int = 8
    runs: tuple[RunSeen, ...] = ()  # oldest first

    @property
    def stack_ok(self) -> bool:
        return self.stack is None or self.stack == self.event_stack

    @property
    def condition_ok(self) -> bool:
        return self.failing_term is None

    def to_dict(self) -> dict[str, Any]:
        out = {f.name: getattr(self, f.name) for f in fields(self)}
        out["patterns"] = list(self.patterns)
        out["policy"] = list(self.policy)
        out["runs"] = [{f.name: getattr(r, f.name) for f in fields(r)} for r in self.runs]
        return out

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> HookVerdict:
        # Only the fields this version knows: a newer daemon may send more.
        known = {f.name for f in fields(cls)}
        values = {k: v for k, v in d.items() if k in known}
        values["patterns"] = tuple(d.get("patterns") or ())
        values["policy"] = tuple(d.get("policy") or ())
        run_fields = {f.name for f in fields(RunSeen)}
        values["runs"] = tuple(
            RunSeen(**{k: v for k, v in r.items() if k in run_fields}) for r in d.get("runs") or ()
        )
        return cls(**values)

    def rows(self) -> list[tuple[str, str, bool | None]]:
        """(label, text, passed) per check, in the engine's order; passed is None for a
        line that is information rather than a check. Outside text is raw here: the CLI
        escapes it and the dashboard shows it as plain text."""
        rows: list[tuple[str, str, bool | None]] = []
        patterns = ", ".join(self.patterns) or "(none)"
        if self.matched is not None:
            rows.append(("pattern", f"{self.matched} matches {self.event_type}", True))
        else:
            rows.append(("pattern", f"none of {patterns} matches {self.event_type}", False))
        event_stack = "no stack" if self.event_stack is None else f"stack {self.event_stack}"
        if self.stack is None:
            rows.append(("stack", f"any (the event has {event_stack})", True))
        elif self.stack_ok:
            rows.append(("stack", f"only {self.stack}: the event's", True))
        else:
            rows.append(("stack", f"only {self.stack}; the event has {event_stack}", False))
        if self.enabled:
            rows.append(("enabled", "yes", True))
        else:
            rows.append(("enabled", f"no: {self.disabled_reason or 'disabled by hand'}", False))
        if not self.existed:
            rows.append(("added", "after the event came", False))
        if not self.when:
            rows.append(("condition", "none (every matching event)", True))
        elif self.failing_term is None:
            rows.append(("condition", f"holds: {self.when}", True))
        else:
            rows.append(("condition", f"fails at {self.failing_term} (of {self.when})", False))
        mode = self.mode
        if self.key:
            mode += f" per {self.key} (this event: {self.key_value})"
        rows.append(("mode", mode, None))
        if self.limit:
            rows.append(("limit", self.limit, None))
        others = [p for p in self.policy if p.startswith(("retry", "auto-disable"))]
        if others:
            rows.append(("policy", "; ".join(others), None))
        depth = f"{self.depth} of at most {self.max_depth}"
        if self.depth >= self.max_depth:
            depth += ": at the limit, events its runs dispatch are refused"
        rows.append(("depth", depth, None))
        for run in self.runs:
            line = f"#{run.id} {run.phrase()}"
            if run.error:
                line += f": {run.error}"
            if run.origin:
                line += f" ({run.origin}'s run)"
            rows.append(("run", line, run.status in ("success", "skipped")))
        if self.runs and not self.would_run:
            # Explained as it is now: it was let through when the event came.
            rows.append(("note", "it ran then: the hook was changed since", None))
        rows.append(("outcome", self.outcome, None))
        return rows


def outcome_of(runs: tuple[RunSeen, ...]) -> str:
    """The outcome line for recorded runs: every run's status, in order."""
    if len(runs) == 1:
        (run,) = runs
        if run.status == "skipped":
            return f"skipped: {run.error or 'no reason recorded'}"
        return f"ran: {run.phrase()}"
    return f"ran {len(runs)} times: " + ", ".join(r.phrase() for r in runs)
