"""The store's own trouble as events: db.migration, db.query_slow, db.error, state.corrupted.

An engine that serves (lifecycle) sets one of these as its store's watcher
(Store.watcher). The store calls it on the loop, from its write loop or a query, and
must not wait: each event is dispatched in a task of its own, as the engine's own
(source "system"), and a bounded number of those tasks may be under way (past that,
events are dropped and logged: the store is in trouble, and piling up writes about it
only adds to it). The store bounds what it says (once per fault episode, one slow
event per minute, each damaged state key once).

A db.error about a full disk cannot be stored while the disk is full: it is kept, and
stored when the store says writes work again, with how long they did not and how many
were refused (`stored_late`).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from sloth_tui.model.errors import EventRefused, StoreError
from sloth_tui.model.records import Event

log = logging.getLogger("sloth_tui.engine")

MAX_PENDING = 32  # dispatches of store events under way at once

Dispatch = Callable[..., Awaitable[Event]]


class DbEvents:
    """Store.watcher for an engine: StoreWatcher (store.py)."""

    def __init__(self, dispatch: Dispatch) -> None:
        self._dispatch = dispatch
        self._tasks: set[asyncio.Task[None]] = set()
        self._unsaved: dict[str, Any] | None = None  # the db.error the fault kept out

    def store_event(self, type: str, data: dict[str, Any]) -> None:
        if len(self._tasks) >= MAX_PENDING:
            log.warning("%s not recorded: %d store events are being recorded already",
                        type, MAX_PENDING)  # fmt: skip
            return
        task = asyncio.get_running_loop().create_task(self._send(type, data))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def store_recovered(self, refused: int, lasted: float) -> None:
        unsaved, self._unsaved = self._unsaved, None
        if unsaved is not None:
            late = {"stored_late": True, "refused_writes": refused, "lasted": f"{lasted:.0f}s"}
            self.store_event("db.error", {**unsaved, **late})

    async def _send(self, type: str, data: dict[str, Any]) -> None:
        try:
            await self._dispatch(type, data, source="system")
        except StoreError:  # the store refuses writes: that is what the event is about
            if type == "db.error":
                self._unsaved = data
        except EventRefused:  # the engine is stopping
            pass
        except Exception:  # a bug: never let it reach the loop's handler unseen
            log.exception("recording %s failed", type)

    async def settle(self, timeout: float = 2.0) -> None:
        """Wait for the dispatches under way (close), at most `timeout` seconds: one
        waiting for queue room while the engine stops is cancelled, not waited for."""
        if not self._tasks:
            return
        _done, pending = await asyncio.wait(set(self._tasks), timeout=timeout)
        for task in pending:
            task.cancel()
        if pending:
            await asyncio.wait(pending)


def migration_events(
    database: str, found: int, applied: list[int], name: Callable[[int], str]
) -> list[dict[str, Any]]:
    """db.migration data for the versions an open applied; none for a new store (its
    schema is made, not migrated)."""
    if found == 0:
        return []
    return [
        {"database": database, "version": v, "migration_name": name(v), "from_version": v - 1}
        for v in applied
    ]
