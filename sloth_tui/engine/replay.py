"""`hook replay`: edited code, in dry run, over the hook's recent real events.

Which events: the last `last` stored events the hook would run on today: a type its
patterns match, its stack (when it has one) and its `when` condition. Events the
condition excludes are left out (the hook would not run on them, so there is nothing to
compare). Mode, throttle and dedupe are not applied: each event is run on its own.

How: newest event first (when the time budget runs out, the most recent ones are the
ones replayed), one at a time in a worker thread, through the engine's runtime in dry
run (http, dispatch, state writes, locks and file edits recorded, never performed) and
with a read-only host, so even a call that slipped past the dry-run rules could not
write. Nothing is stored: no execution, no state, no event, no bus message. The hook's
per-run deadline applies to each run; no new run starts once `budget` seconds are spent.

What each is compared with: the latest real (not dry-run, not mirrored) execution of
the hook on that event, model/replay.py.
"""

from __future__ import annotations

import asyncio
import json
import re
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from sloth_tui.engine.threadhost import ThreadHost
from sloth_tui.lua.runtime import HookRuntime
from sloth_tui.model.errors import HookError
from sloth_tui.model.filters import Filter, Term
from sloth_tui.model.records import Event, Execution, Hook
from sloth_tui.model.replay import (
    MAX_ERROR_CHARS,
    LineDiff,
    Outcome,
    ReplayReport,
    ReplayRow,
    cut,
)

if TYPE_CHECKING:
    from sloth_tui.engine.engine import Engine
    from sloth_tui.engine.hook_admin import HookRegistry

# Events one replay may cover: at most this many slim rows (see _fit) fit in one line
# of the socket, whatever their errors hold.
MAX_LAST = 500
REPLAY_BUDGET = 60.0  # seconds of runs, after which no new run starts
ROWS_BUDGET = 256 * 1024  # bytes of rows kept whole in the report (see _fit)
SLIM_ERROR_CHARS = 60
# What identifies a call for "added/removed": its fn and main argument.
_MAIN_ARG = ("url", "type", "key", "name", "path", "dest", "src")


def check_last(last: int) -> int:
    if isinstance(last, bool) or not isinstance(last, int) or not 1 <= last <= MAX_LAST:
        raise HookError(f"replay: --last is a whole number from 1 to {MAX_LAST}, not {last}")
    return last


async def replay_hook(
    engine: Engine,
    registry: HookRegistry,
    name: str,
    *,
    code: str | None,
    last: int,
    budget: float = REPLAY_BUDGET,
    clock: Callable[[], float] = time.monotonic,
) -> ReplayReport:
    """NotFound for an unknown hook; HookError for a bad `last`. Never raises for what
    the code does: a syntax error is every row's new outcome."""
    last = check_last(last)
    hook = await registry.get_hook(name)  # NotFound, one line
    report = ReplayReport(hook.name, last=last, edited=code is not None)
    events = await _events(engine, hook, last)
    report.matched = len(events)
    if not events:
        return report
    loop = asyncio.get_running_loop()
    # No dispatch function: a host that reads state and refuses every write.
    host = ThreadHost(engine.store, loop)
    # The engine's runtime when it runs hooks (its workers are warm); a read-only engine
    # has none, and gets one of its own as test_hook does.
    runtime = registry._runtime or HookRuntime(host, registry.limits)
    limits = registry.limits_for(hook)
    started = clock()
    rows = []
    for event in events:
        if clock() - started >= budget:
            report.stopped = f"the {budget:g} s replay budget ran out"
            break
        recorded = await _recorded(engine, hook.name, event.id)
        new = await asyncio.to_thread(
            runtime.run, hook, event, dry_run=True, code=code, limits=limits, host=host
        )
        rows.append(compare(event, recorded, new))
    report.replayed = len(rows)
    rows.sort(key=lambda r: (not r.worse, not r.changed, -r.event_id))
    report.rows = _fit(rows)
    return report


async def _events(engine: Engine, hook: Hook, last: int) -> list[Event]:
    """The last `last` events the hook would run on, newest first."""
    extra: tuple[Term, ...] = ()
    if hook.stack is not None:
        extra += (Term("stack", _literal_glob(hook.stack)),)
    if hook.policy.condition is not None:
        extra += hook.policy.condition.terms
    found: dict[int, Event] = {}
    for pattern in dict.fromkeys(hook.events):
        flt = Filter((Term("type", pattern), *extra))
        for event in await engine.store.query_events(flt, limit=last):
            # stack: the matcher's rule is equality; the filter's term is a glob
            if hook.stack is None or event.stack == hook.stack:
                found[event.id] = event
    return [found[i] for i in sorted(found, reverse=True)[:last]]


def _literal_glob(text: str) -> str:
    """A glob matching exactly `text` (the filter's globs have no escape character; a
    one-character set is the literal: `[*]`)."""
    return re.sub(r"([*?[])", r"[\1]", text)


async def _recorded(engine: Engine, hook: str, event_id: int) -> Execution | None:
    """The latest real run of this engine's (a mirrored Sloth Runner run is not one)."""
    runs = await engine.store.executions(
        hook=hook, event_id=event_id, include_dry_runs=False, limit=20
    )
    return next((r for r in runs if r.origin is None), None)


def compare(event: Event, recorded: Execution | None, new: Execution) -> ReplayRow:
    """One row: the two outcomes and what differs between them."""
    if recorded is None:
        logs = LineDiff.of(_log_lines(new), [])
        calls = LineDiff.of(_call_keys(new), [])
    else:
        logs = _diff(_log_lines(recorded), _log_lines(new))
        calls = _diff(_call_keys(recorded), _call_keys(new))
    return ReplayRow(
        event_id=event.id,
        event_type=event.type,
        event_ts=event.ts,
        recorded=None if recorded is None else outcome(recorded),
        new=outcome(new),
        logs=logs,
        calls=calls,
    )


def outcome(execution: Execution) -> Outcome:
    return Outcome(
        status=execution.status,
        duration_ms=execution.duration_ms,
        error=None if execution.error is None else cut(execution.error, MAX_ERROR_CHARS),
        logs=len(execution.logs),
        calls=len(execution.calls),
        attempt=execution.attempt,
        trigger=execution.trigger,
        execution_id=None if execution.dry_run else execution.id,
    )


def _diff(old: list[str], new: list[str]) -> LineDiff:
    """As multisets: a line written twice now and once before is one line added."""
    return LineDiff.of(_minus(new, old), _minus(old, new))


def _minus(lines: list[str], other: list[str]) -> list[str]:
    """The lines of `lines` that `other` lacks, in order, each occurrence counted."""
    left = Counter(other)
    out = []
    for line in lines:
        if left[line] > 0:
            left[line] -= 1
        else:
            out.append(line)
    return out


def _log_lines(execution: Execution) -> list[str]:
    return [f"{line.level}: {line.message}" for line in execution.logs]


def _call_keys(execution: Execution) -> list[str]:
    return [call_key(call) for call in execution.calls]


def call_key(call: dict[str, Any]) -> str:
    """ "http.post https://x", "event.dispatch deploy.done": a real call and its dry-run
    record compare equal (the dry one says dry_run and lacks the response)."""
    fn = str(call.get("fn", "?"))
    for arg in _MAIN_ARG:
        value = call.get(arg)
        if value is not None:
            text = value if isinstance(value, str) else json.dumps(value, default=str)
            return f"{fn} {text}"
    return fn


def _fit(rows: list[ReplayRow]) -> list[ReplayRow]:
    """The report travels the socket as one line (remote/protocol.MAX_LINE, 1 MiB): rows
    past ROWS_BUDGET bytes keep their counts but not their lines, and a short error. The
    first rows, the differing ones, keep everything. MAX_LAST keeps the slim ones under."""
    spent = 0
    out = []
    for row in rows:
        size = _size(row)
        if spent + size > ROWS_BUDGET:
            row = _slim(row)
            size = _size(row)
        spent += size
        out.append(row)
    return out


def _size(row: ReplayRow) -> int:
    text = json.dumps(row.to_dict(), ensure_ascii=False, separators=(",", ":"), default=str)
    return len(text.encode("utf-8", "surrogatepass")) + 1


def _slim(row: ReplayRow) -> ReplayRow:
    recorded = row.recorded
    return replace(
        row,
        recorded=None if recorded is None else _short_error(recorded),
        new=_short_error(row.new),
        logs=LineDiff((), (), row.logs.n_added, row.logs.n_removed),
        calls=LineDiff((), (), row.calls.n_added, row.calls.n_removed),
    )


def _short_error(outcome: Outcome) -> Outcome:
    if outcome.error is None:
        return outcome
    return replace(outcome, error=cut(outcome.error, SLIM_ERROR_CHARS))
