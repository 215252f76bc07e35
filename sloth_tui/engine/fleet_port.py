"""EngineFleetPort: the engine's side of engine/api.FleetPort, for sloth_tui/fleet."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

from sloth_tui.engine import fleet_outbox
from sloth_tui.model.fleet import FleetStatus, OutboxItem
from sloth_tui.model.records import Execution

if TYPE_CHECKING:
    from sloth_tui.engine.engine import Engine


class EngineFleetPort:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def report_fleet(self, status: Callable[[], FleetStatus]) -> None:
        self.engine._fleet_status = status

    async def outbox_enable(self) -> None:
        await fleet_outbox.enable(self.engine.store)

    async def outbox_take(self, limit: int) -> list[OutboxItem]:
        return await fleet_outbox.take(self.engine.store, limit)

    async def outbox_done(self, seqs: Sequence[int]) -> None:
        await fleet_outbox.done(self.engine.store, seqs)

    async def outbox_depth(self) -> int:
        return await fleet_outbox.depth(self.engine.store)

    async def local_ids(self, keys: Sequence[str]) -> dict[str, int]:
        known = await self.engine.store.mirrored(keys)
        return {key: local for key, (local, _t, _s) in known.items() if local is not None}

    async def run_hook(self, event_id: int, hook: str) -> Execution | None:
        from sloth_tui.engine.fleet_runs import run_hook

        return await run_hook(self.engine, event_id, hook)
