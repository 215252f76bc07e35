"""Records <-> SQLite rows: column lists, insert statements and converters."""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from typing import Any

from sloth_tui.engine.schema import EVENT_COLUMNS, INSERT_EVENT
from sloth_tui.model.errors import HookError
from sloth_tui.model.policy import NO_POLICY, HookPolicy
from sloth_tui.model.records import Event, Execution, Hook, LogLine

log = logging.getLogger("sloth_tui.store")

__all__ = ["EVENT_COLUMNS", "INSERT_EVENT"]  # re-exported for the store


def event_row(event: Event, encoded: str | None = None) -> tuple[Any, ...]:
    return (
        event.id,
        event.type,
        event.category,
        event.source,
        event.ts,
        event.parent_id,
        event.depth,
        event.status,
        encoded if encoded is not None else json.dumps(event.data, separators=(",", ":")),
        json.dumps(event.warnings) if event.warnings else None,
        event.stack,
        event.agent,
        event.run_id,
        event.origin,
    )


def event_from_row(row: Sequence[Any]) -> Event:
    return Event(
        id=row[0],
        type=row[1],
        category=row[2],
        source=row[3],
        ts=row[4],
        parent_id=row[5],
        depth=row[6],
        status=row[7],
        data=json.loads(row[8]),
        warnings=json.loads(row[9]) if row[9] else [],
        stack=row[10],
        agent=row[11],
        run_id=row[12],
        origin=row[13],
    )


EXEC_COLUMNS = (
    "id, hook, event_id, status, started, duration_ms, result, error, error_line, lim, "
    "logs, calls, dry_run, event_type, origin, trigger, attempt"
)
INSERT_EXECUTION = (
    "INSERT INTO executions (hook, event_id, status, started, duration_ms, result, error, "
    "error_line, lim, logs, calls, dry_run, event_type, origin, trigger, attempt) "
    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
)


def _dumps(value: Any) -> str:
    # The common results by identity (True == 1, so no dict lookup): json.dumps with
    # options builds an encoder per call, a fifth of a trivial hook run's engine time.
    if value is True:
        return "true"
    if value is None:
        return "null"
    if value is False:
        return "false"
    return json.dumps(value, separators=(",", ":"), default=str)


def execution_row(ex: Execution) -> tuple[Any, ...]:
    logs, calls = ex.logs, ex.calls
    return (
        ex.hook,
        ex.event_id,
        ex.status,
        ex.started,
        ex.duration_ms,
        _dumps(ex.result),
        ex.error,
        ex.error_line,
        ex.limit,
        _dumps([line.to_dict() for line in logs]) if logs else "[]",
        _dumps(calls) if calls else "[]",
        int(ex.dry_run),
        ex.event_type or None,
        ex.origin,
        None if ex.trigger == "event" else ex.trigger,  # NULL: the common case, smaller
        None if ex.attempt == 1 else ex.attempt,
    )


def execution_from_row(row: Sequence[Any]) -> Execution:
    return Execution(
        id=row[0],
        hook=row[1],
        event_id=row[2],
        status=row[3],
        started=row[4],
        duration_ms=row[5],
        result=json.loads(row[6]) if row[6] is not None else None,
        error=row[7],
        error_line=row[8],
        limit=row[9],
        logs=[LogLine(**x) for x in json.loads(row[10])],
        calls=json.loads(row[11]),
        dry_run=bool(row[12]),
        event_type=row[13] or "",
        origin=row[14],
        trigger=row[15] or "event",
        attempt=row[16] or 1,
    )


HOOK_COLUMNS = (
    "name, events, file, description, enabled, timeout, run_count, last_run, created, "
    "max_instructions, max_memory_mb, stack, policy, disabled_reason"
)


def hook_from_row(row: Sequence[Any]) -> Hook:
    return Hook(
        name=row[0],
        events=json.loads(row[1]),
        file=row[2],
        description=row[3],
        enabled=bool(row[4]),
        timeout=row[5],
        run_count=row[6],
        last_run=row[7],
        created=row[8],
        max_instructions=row[9],
        max_memory_mb=row[10],
        stack=row[11],
        policy=_policy(row[12]),
        disabled_reason=row[13],
    )


def policy_json(policy: HookPolicy) -> str | None:
    """hooks.policy: the settings that differ from the defaults; NULL for none."""
    settings = policy.to_dict()
    return json.dumps(settings, separators=(",", ":")) if settings else None


def _policy(text: str | None) -> HookPolicy:
    """A stored policy. One this version cannot read (written by a newer one, or
    edited by hand) is dropped with a warning rather than failing every hook load."""
    if not text:
        return NO_POLICY
    try:
        return HookPolicy.from_dict(json.loads(text))
    except (ValueError, HookError) as exc:
        log.warning("a stored hook policy cannot be read (%s); it is ignored", exc)
        return NO_POLICY


def percentile(sorted_values: Sequence[float], pct: float) -> float:
    if not sorted_values:
        return 0.0
    index = min(len(sorted_values) - 1, max(0, round(pct / 100 * (len(sorted_values) - 1))))
    return float(sorted_values[index])
