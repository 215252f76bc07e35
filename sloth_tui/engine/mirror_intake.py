"""Taking in a mirror's batch (EngineAPI.mirror): what to write, worked out in one place.

`plan()` is pure: given the batch, the keys already taken in and the engine's door
(`admit`), it returns the store writes of one transaction and what to announce after
the commit. Engine.mirror does the reading, the writing and the announcing.

Fleet batches (fleet/intake.py) add to this: an event keeps its own `source`, `origin`,
`depth` and its parent (by key: a parent taken in before, or one of this engine's own
events named in `batch.local_keys`; a parent not here leaves parent_id None). A run with
a full `record` is stored as its engine recorded it, and moves its event's status here:
a `pending` event becomes `completed` (the run worked: success, skipped) or `failed`
(failed, error, timeout), and a `completed` one becomes `failed` when a run failed; the
update is conditional in SQL, so a status this engine's own dispatcher set meanwhile
(`processing`, or its own verdict) is never overwritten by a stale read.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace

from sloth_tui.engine.store import (
    WriteOp,
    cursor_op,
    event_op,
    execution_op,
    mirrored_op,
    run_verdict_op,
)
from sloth_tui.engine.store import status_op as status_write
from sloth_tui.model.errors import EventRefused
from sloth_tui.model.mirror import MIRROR_STATUSES, ForeignEvent, MirrorBatch, MirrorResult
from sloth_tui.model.records import OK_STATUSES, Event, Execution, Hook, LogLine

# (foreign event) -> (the Event with its local id, the hooks it matches, its data's JSON);
# raises EventRefused for a row the engine's door refuses.
Admit = Callable[[ForeignEvent], tuple[Event, list[Hook], str]]
# key -> (local event id or None, that event's type and status here, or None)
Known = dict[str, tuple[int | None, str | None, str | None]]


@dataclass(slots=True)
class MirrorPlan:
    writes: list[WriteOp] = field(default_factory=list)
    new_events: list[tuple[Event, list[Hook]]] = field(default_factory=list)
    executions: list[Execution] = field(default_factory=list)
    status_changes: list[int] = field(default_factory=list)  # local ids of changed events
    result: MirrorResult = field(default_factory=MirrorResult)


def keys_of(batch: MirrorBatch) -> list[str]:
    """Every key the plan needs to know about."""
    keys = [e.key for e in batch.events]
    keys += [x.key for x in batch.executions]
    keys += [x.event_key for x in batch.executions]
    keys += [k for k, _ in batch.statuses]
    keys += [e.parent_key for e in batch.events if e.parent_key is not None]
    return keys


def run_verdict(execution: Execution) -> str:
    """The status a fleet run gives its event: completed when it worked, else failed."""
    return "completed" if execution.status in OK_STATUSES else "failed"


def _storable(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:  # a lone surrogate: SQLite could not take the row
        return False
    return True


def plan(batch: MirrorBatch, known: Known, admit: Admit) -> MirrorPlan:
    out = MirrorPlan()
    known = dict(known)
    for key, own_id in batch.local_keys:  # this engine's own events, by their fleet ids
        known.setdefault(key, (own_id, None, None))
    events_added = events_known = runs_added = runs_known = 0
    refused: list[tuple[str, str]] = []
    for foreign in batch.events:
        if foreign.key in known:
            events_known += 1
            continue
        try:
            event, hooks, encoded = admit(foreign)
        except EventRefused as exc:
            # Kept out for good (a type name this engine cannot store, say): its key is
            # taken so that it is not read again and again; the reason is reported.
            refused.append((foreign.key, str(exc)))
            out.writes.append(mirrored_op(foreign.key, None))
            known[foreign.key] = (None, None, None)
            continue
        if foreign.source is not None and not _storable(foreign.source):
            refused.append((foreign.key, "source is not valid UTF-8 text"))
            out.writes.append(mirrored_op(foreign.key, None))
            known[foreign.key] = (None, None, None)
            continue
        event.ts = foreign.ts
        _fleet_fields(event, foreign, known)
        if not batch.run_hooks:
            hooks = []  # shown, not run: the other engine ran its own hooks
            event.status = foreign.status if foreign.status in MIRROR_STATUSES else "completed"
        out.writes.append(event_op(event, encoded))
        out.writes.append(mirrored_op(foreign.key, event.id))
        known[foreign.key] = (event.id, event.type, event.status)
        out.new_events.append((event, hooks))
        events_added += 1
    missing: list[str] = []
    for run in batch.executions:
        if run.key in known:
            runs_known += 1
            continue
        if run.event_key not in known:
            missing.append(run.event_key)  # its event comes first, then the run
            continue
        local_id, event_type, status_here = known[run.event_key]
        out.writes.append(mirrored_op(run.key, None))
        known[run.key] = (None, None, None)
        if local_id is None:
            continue  # its event was refused: the run has nothing to hang on
        if run.record is not None:
            execution = replace(
                run.record,
                id=None,
                event_id=local_id,
                event_type=run.record.event_type or event_type or "",
                origin=run.record.origin or batch.source,
                dry_run=False,
            )
            out.writes.append(execution_op(execution))
            out.executions.append(execution)
            runs_added += 1
            verdict = run_verdict(execution)
            out.writes.append(run_verdict_op(local_id, verdict))
            if _status_may_change(status_here, verdict) and local_id not in out.status_changes:
                out.status_changes.append(local_id)
                known[run.event_key] = (local_id, event_type, status_here and verdict)
            continue
        execution = Execution(
            hook=run.hook,
            event_id=local_id,
            status="success" if run.success else "failed",
            started=run.started,
            duration_ms=run.duration_ms,
            error=run.error or None,
            logs=[LogLine("info", run.started, run.output)] if run.output else [],
            event_type=event_type or "",
            origin=batch.source,
        )
        out.writes.append(execution_op(execution))
        out.executions.append(execution)
        runs_added += 1
    changed = 0
    if not batch.run_hooks:  # with run_hooks, the status is this engine's own
        for key, status in batch.statuses:
            local, _type, current = known.get(key, (None, None, None))
            if local is not None and status in MIRROR_STATUSES and status != current:
                out.writes.append(status_write(local, status))
                out.status_changes.append(local)
                changed += 1
    if not missing:
        out.writes.append(cursor_op(batch.cursor_name, batch.cursor))
    out.result = MirrorResult(
        events_added=events_added,
        events_known=events_known,
        executions_added=runs_added,
        executions_known=runs_known,
        statuses_changed=changed,
        refused=tuple(refused),
        missing=tuple(dict.fromkeys(missing)),
    )
    return out


def _fleet_fields(event: Event, foreign: ForeignEvent, known: Known) -> None:
    """A fleet event's own source, origin, depth and parent (by key) on its local copy."""
    if foreign.source is not None:
        event.source = foreign.source
    event.origin = foreign.origin
    event.depth = foreign.depth
    if foreign.parent_key is not None:
        parent = known.get(foreign.parent_key)
        event.parent_id = parent[0] if parent is not None else None


def _status_may_change(current: str | None, verdict: str) -> bool:
    """Whether run_verdict_op may change an event now `current` (None: not known here, as
    for this engine's own events: the SQL decides)."""
    if current is None:
        return True
    return current == "pending" or (verdict == "failed" and current == "completed")
