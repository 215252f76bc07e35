"""An observer's view of the fleet's members (a dashboard attached with --attach nats://).

A member's Membership part heartbeats into the members bucket and knows the others. An
observer is no member: it sends nothing, so it follows that bucket with one watch per
connection (fleet/kv_watch.py), for `fleet_status().members`, the Fleet screen's table.
Values that are not records are skipped (fleet/members.py reads them) and counted in
`members_refused`, a gauge of the bucket as it is now: any NATS client may write them.

One watch, not a scan a second: each scan was a consumer made and deleted on the
server, and nats-server 2.9 sometimes answers a new last-per-subject consumer with one
subject's message in place of others changed meanwhile, so with members beating every
0.2 s about 1 scan in 75 missed a member (session 22). A watch sees every change, and a
member missed at its start is back with its next heartbeat.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time

from sloth_tui.fleet.kv_watch import watch_entries
from sloth_tui.fleet.members import MembersTable, as_member
from sloth_tui.fleet.parts import FleetContext
from sloth_tui.model.fleet import FleetMember

log = logging.getLogger("sloth_tui.fleet")

RETRY_AFTER = 1.0  # seconds before a failed watch starts again (while the link is up)


class MembersWatch:
    """The observer's members (fleet/parts.MembersView), followed in the members bucket."""

    name = "members-watch"

    def __init__(self) -> None:
        self._table = MembersTable()  # the bucket as the last complete read left it
        self._ctx: FleetContext | None = None
        self._task: asyncio.Task[None] | None = None

    def members(self) -> list[FleetMember]:
        now = time.time()  # each state as of now, not as of the last change
        return sorted(
            (as_member(r, now) for r in self._table.records.values()), key=lambda m: m.name
        )

    async def start(self, ctx: FleetContext) -> None:
        self._ctx = ctx
        ctx.link.on_connect(self._on_connect)

    async def stop(self) -> None:
        await self._cancel()

    async def _cancel(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def _on_connect(self) -> None:
        """A (re)connection: the watch starts over (its consumer was the old link's)."""
        await self._cancel()
        assert self._ctx is not None
        self._task = asyncio.create_task(self._follow(self._ctx), name="fleet-members-watch")

    async def _follow(self, ctx: FleetContext) -> None:
        while True:
            try:
                await self._watch(ctx)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # the link dropped mid-watch: a reconnect starts anew
                log.debug("fleet: the members watch ended: %s", exc)
            await asyncio.sleep(RETRY_AFTER)
            while not ctx.link.connected:  # the next connection's _on_connect takes over
                await asyncio.sleep(RETRY_AFTER)

    async def _watch(self, ctx: FleetContext) -> None:
        """The bucket's values into fresh tables, shown once all are in (no half-read
        table meanwhile), then each change as it comes."""
        kv = await ctx.link.kv("members")
        table = MembersTable()
        shown = False
        async with contextlib.aclosing(watch_entries(kv)) as entries:
            async for entry in entries:
                if entry is not None:
                    table.take(entry)
                elif not shown:  # the values there were are all read
                    shown = True
                    self._table = table
                if shown:
                    ctx.counters.gauge("members_refused", len(table.refused))
