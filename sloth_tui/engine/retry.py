"""Which events a hook failed on last: what `hook retry` and the Executions screen re-run.

Works through the engine API only (executions, paged), so an Engine and a RemoteEngine
answer alike.
"""

from __future__ import annotations

from typing import Any

from sloth_tui.engine.records import Execution

GOOD = ("success", "skipped")
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
                if ex.status not in GOOD:
                    failed.append(ex)
                    if len(failed) == limit:
                        return failed[::-1]
        scanned += len(page)
        before_id = page[-1].id
    return failed[::-1]
