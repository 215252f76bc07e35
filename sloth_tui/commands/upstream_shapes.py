"""Sloth Runner's JSON shapes and time formats, for the commands spelt as upstream's.

Upstream (chalkan3-sloth/sloth-runner, internal/hooks/types.go) marshals Go structs:
times are RFC 3339 (`time.Time`), durations Go's `Duration.String()` (`15ms`, `1.5s`),
and ids UUID strings. sloth-tui's ids are integers (events) and names (hooks), so:

- an event's `id` is our integer as a decimal string ("42"): upstream's consumers treat
  ids as opaque strings, and `events get 42` takes it back;
- a hook's `id` is its name, which is what identifies a hook here.

The keys upstream has keep its names and meaning; sloth-tui's extra facts are added
under keys upstream does not use, so `jq .enabled` and `jq -r .data.task.error` work.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sloth_tui.model.records import OK_STATUSES, Event, Execution, Hook


def rfc3339(ts: float) -> str:
    """Epoch seconds as Go's RFC3339Nano in local time: `2026-12-01T23:06:19.5+01:00`,
    `Z` for a zero offset, trailing zeros of the fraction dropped."""
    moment = dt.datetime.fromtimestamp(ts).astimezone()
    text = moment.strftime("%Y-%m-%dT%H:%M:%S")
    if moment.microsecond:
        text += f".{moment.microsecond:06d}".rstrip("0")
    offset = moment.utcoffset() or dt.timedelta(0)
    if not offset:
        return text + "Z"
    minutes = int(offset.total_seconds()) // 60
    sign = "+" if minutes >= 0 else "-"
    hours, mins = divmod(abs(minutes), 60)
    return f"{text}{sign}{hours:02d}:{mins:02d}"


def go_duration(ms: float) -> str:
    """Milliseconds as Go's Duration.String(): 0s, 850µs, 15ms, 1.5s, 1m2.5s."""
    ns = round(ms * 1_000_000)
    if ns == 0:
        return "0s"
    if ns < 1_000:
        return f"{ns}ns"
    if ns < 1_000_000:
        return f"{_trim(ns / 1_000)}µs"
    if ns < 1_000_000_000:
        return f"{_trim(ns / 1_000_000)}ms"
    seconds = ns / 1_000_000_000
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    text = f"{_trim(secs)}s"
    if hours or minutes:
        text = f"{int(minutes)}m{text}"
    if hours:
        text = f"{int(hours)}h{text}"
    return text


def _trim(value: float) -> str:
    return f"{value:.9f}".rstrip("0").rstrip(".")


def hook_json(hook: Hook) -> dict[str, Any]:
    """`hook get NAME` as upstream prints it (hooks.Hook), plus sloth-tui's fields.

    `event_type` is the hook's patterns joined by commas: one pattern, as every hook
    added with upstream's single `--event`, gives exactly upstream's value."""
    out: dict[str, Any] = {
        "id": hook.name,
        "name": hook.name,
        "description": hook.description,
        "event_type": ",".join(hook.events),
        "file_path": hook.file,
    }
    if hook.stack:
        out["stack"] = hook.stack
    out["enabled"] = hook.enabled
    out["created_at"] = rfc3339(hook.created)
    # sloth-tui keeps no separate update time: the creation time stands in.
    out["updated_at"] = rfc3339(hook.created)
    if hook.last_run:
        out["last_run"] = rfc3339(hook.last_run)
    out["run_count"] = hook.run_count
    # sloth-tui's own: every pattern, and the per-run limits.
    out["events"] = list(hook.events)
    out["timeout"] = hook.timeout
    out["max_instructions"] = hook.max_instructions
    out["max_memory_mb"] = hook.max_memory_mb
    return out


def succeeded(ex: Execution) -> bool:
    return ex.status in OK_STATUSES


def output_text(ex: Execution) -> str:
    """What upstream calls a run's output: here the hook's log lines, one per line."""
    return "\n".join(line.message for line in ex.logs)


def processed_at(event: Event, executions: list[Execution]) -> float | None:
    """When the event finished processing: the end of its last real run, or its own
    time when no hook ran; None while it is pending or processing."""
    if event.status not in ("completed", "failed"):
        return None
    ends = [ex.started + ex.duration_ms / 1000 for ex in executions if not ex.dry_run]
    return max([event.ts, *ends])


def event_error(event: Event, executions: list[Execution]) -> str:
    """Upstream's event `error`: here the errors of the runs that failed."""
    if event.status != "failed":
        return ""
    return "; ".join(
        f"{ex.hook}: {ex.error or ex.status}"
        for ex in executions
        if not ex.dry_run and not succeeded(ex)
    )


def event_json(event: Event, executions: list[Execution]) -> dict[str, Any]:
    """`events get ID` as upstream prints it (hooks.Event), with the `hook_executions`
    its docs show, plus sloth-tui's source and parent."""
    out: dict[str, Any] = {
        "id": str(event.id),
        "type": event.type,
        "timestamp": rfc3339(event.ts),
        "data": event.data,
        "status": event.status,
    }
    if error := event_error(event, executions):
        out["error"] = error
    out["created_at"] = rfc3339(event.ts)
    if (done := processed_at(event, executions)) is not None:
        out["processed_at"] = rfc3339(done)
    for key in ("stack", "agent", "run_id"):
        if value := getattr(event, key):
            out[key] = value
    out["hook_executions"] = [execution_json(ex) for ex in executions if not ex.dry_run]
    out["source"] = event.source
    out["category"] = event.category
    out["parent_id"] = None if event.parent_id is None else str(event.parent_id)
    return out


def execution_json(ex: Execution) -> dict[str, Any]:
    """One run in the shape of upstream's docs (`events get`'s hook_executions)."""
    out: dict[str, Any] = {
        "hook_id": ex.hook,
        "hook_name": ex.hook,
        "status": "success" if succeeded(ex) else "failed",
        "success": succeeded(ex),
        "duration": go_duration(ex.duration_ms),
        "duration_ms": int(ex.duration_ms),
        "executed_at": rfc3339(ex.started),
    }
    if output := output_text(ex):
        out["output"] = output
    if ex.error:
        out["error"] = ex.error
    return out


def hook_logs_json(hook: Hook, runs: list[Execution]) -> dict[str, Any]:
    """`hook logs NAME -f json`: upstream's LogsOutput, plus each run's event id."""
    ok = sum(1 for ex in runs if succeeded(ex))
    entries = []
    for ex in runs:
        entry: dict[str, Any] = {
            "hook_name": hook.name,
            "hook_id": hook.name,
            "event_type": ex.event_type or ",".join(hook.events),
            "timestamp": rfc3339(ex.started),
            "success": succeeded(ex),
            "duration": go_duration(ex.duration_ms),
            "duration_ms": int(ex.duration_ms),
        }
        if output := output_text(ex):
            entry["output"] = output
        if ex.error:
            entry["error"] = ex.error
        entry["event_id"] = str(ex.event_id) if ex.event_id else None
        entry["status"] = ex.status
        entries.append(entry)
    return {
        "hook": hook.name,
        "total_shown": len(runs),
        "success_count": ok,
        "failed_count": len(runs) - ok,
        "executions": entries,
    }
