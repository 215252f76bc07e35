"""Taking in a mirror's batch (EngineAPI.mirror): what to write, worked out in one place.

`plan()` is pure: given the batch, the keys already taken in and the engine's door
(`admit`), it returns the store writes of one transaction and what to announce after
the commit. Engine.mirror does the reading, the writing and the announcing.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from sloth_tui.engine.store import WriteOp, cursor_op, event_op, execution_op, mirrored_op
from sloth_tui.engine.store import status_op as status_write
from sloth_tui.model.errors import EventRefused
from sloth_tui.model.mirror import MIRROR_STATUSES, ForeignEvent, MirrorBatch, MirrorResult
from sloth_tui.model.records import Event, Execution, Hook, LogLine

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
    return keys


def plan(batch: MirrorBatch, known: Known, admit: Admit) -> MirrorPlan:
    out = MirrorPlan()
    known = dict(known)
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
        event.ts = foreign.ts
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
        local_id, event_type, _status = known[run.event_key]
        out.writes.append(mirrored_op(run.key, None))
        known[run.key] = (None, None, None)
        if local_id is None:
            continue  # its event was refused: the run has nothing to hang on
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
