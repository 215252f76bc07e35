"""Which events a hook failed on last: what `hook retry` and the Executions screen re-run.

Works through the engine API only (executions, paged), so an Engine and a RemoteEngine
answer alike.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sloth_tui.model.errors import NotFound
from sloth_tui.model.records import OK_STATUSES, Execution

SCAN_PAGE = 1000  # executions read per query while looking for failed runs
SCAN_MAX = 100_000  # executions read at most, however few failures they hold


async def failed_runs(engine: Any, hook: str, since: float | None, limit: int) -> list[Execution]:
    """The latest real run of `hook` on each event, where that run did not succeed:
    oldest first, the newest `limit` of them, none started before `since`."""
    latest_seen: set[int] = set()
    failed: list[Execution] = []
    before_id = None
    scanned = 0
    while len(failed) < limit and scanned < SCAN_MAX:
        page = await engine.executions(
            hook=hook, include_dry_runs=False, before_id=before_id, limit=SCAN_PAGE
        )
        if not page:
            break
        for ex in page:
            if since is not None and ex.started < since:
                return failed[::-1]
            if ex.event_id and ex.event_id not in latest_seen:
                latest_seen.add(ex.event_id)
                if ex.status not in OK_STATUSES:
                    failed.append(ex)
                    if len(failed) == limit:
                        return failed[::-1]
        scanned += len(page)
        before_id = page[-1].id
    return failed[::-1]


@dataclass(slots=True)
class RetryReport:
    retried: list[tuple[Execution, Execution]] = field(default_factory=list)  # (failed, new)
    gone: list[int] = field(default_factory=list)  # events no longer in the store

    @property
    def still_failing(self) -> int:
        return sum(new.status not in OK_STATUSES for _old, new in self.retried)


async def retry_runs(engine: Any, hook: str, failed: list[Execution]) -> RetryReport:
    """Re-run `hook`, for real, on the event of each failed run, in the order given.
    Any engine error but a missing event stops the retries and is raised."""
    report = RetryReport()
    for old in failed:
        try:
            _event, runs = await engine.rerun(old.event_id, [hook])
        except NotFound:  # trimmed or deleted since: nothing to run on
            report.gone.append(old.event_id)
            continue
        report.retried.append((old, runs[0]))
    return report
