"""(stub: being written; see fleet/__init__.py for this part's job)"""

from __future__ import annotations

from sloth_tui.fleet.parts import FleetContext


class Publisher:
    name = "publisher"

    async def start(self, ctx: FleetContext) -> None:
        self.ctx = ctx

    async def stop(self) -> None:
        return None
