"""An observer's view of the fleet's members (a dashboard attached with --attach nats://).

A member's Membership part heartbeats into the members bucket and knows the others. An
observer is no member: it sends nothing, so it reads that bucket (fleet/members.py, the
one reader of its records) every POLL_EVERY seconds while the link is up, for
`fleet_status().members`, the Fleet screen's table. Values that are not records are
skipped there and counted here (`members_refused`): any NATS client may write them.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time

from sloth_tui.fleet.members import as_member, scan_members
from sloth_tui.fleet.parts import FleetContext
from sloth_tui.model.fleet import FleetMember

log = logging.getLogger("sloth_tui.fleet")

POLL_EVERY = 1.0  # seconds between two reads of the members bucket


class MembersWatch:
    """The observer's members (fleet/parts.MembersView), read from the members bucket."""

    name = "members-watch"

    def __init__(self) -> None:
        self._members: list[FleetMember] = []
        self._task: asyncio.Task[None] | None = None

    def members(self) -> list[FleetMember]:
        return list(self._members)

    async def start(self, ctx: FleetContext) -> None:
        self._task = asyncio.create_task(self._poll(ctx), name="fleet-members-watch")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def _poll(self, ctx: FleetContext) -> None:
        while True:
            if ctx.link.connected:
                try:
                    self._members = await self.read(ctx)
                except asyncio.CancelledError:
                    raise
                except Exception as exc:  # the link dropped mid-read: the next poll retries
                    log.debug("fleet: members not read: %s", exc)
            await asyncio.sleep(POLL_EVERY)

    async def read(self, ctx: FleetContext) -> list[FleetMember]:
        found = await scan_members(ctx.link)
        ctx.counters.gauge("members_refused", found.skipped)  # the bucket's now
        now = time.time()
        return sorted((as_member(r, now) for r in found.records.values()), key=lambda m: m.name)
