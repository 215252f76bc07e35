"""EngineFleetPort: the engine's side of engine/api.FleetPort, for sloth_tui/fleet."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from typing import TYPE_CHECKING

from sloth_tui.engine import fleet_outbox
from sloth_tui.model.fleet import FleetStatus, OutboxItem
from sloth_tui.model.records import Execution

if TYPE_CHECKING:
    from sloth_tui.engine.engine import Engine
    from sloth_tui.engine.pending_state import StateBackend


class EngineFleetPort:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def report_fleet(self, status: Callable[[], FleetStatus]) -> None:
        self.engine._fleet_status = status

    def report_claims(self, claim: Callable[[str, float], Awaitable[bool]]) -> None:
        self.engine._claim_once = claim

    async def outbox_enable(self) -> None:
        await fleet_outbox.enable(self.engine.store)

    async def outbox_take(self, limit: int) -> list[OutboxItem]:
        return await fleet_outbox.take(self.engine.store, limit)

    async def outbox_done(self, seqs: Sequence[int]) -> None:
        await fleet_outbox.done(self.engine.store, seqs)

    async def outbox_depth(self) -> int:
        return await fleet_outbox.depth(self.engine.store)

    async def fleet_ids(self, local_ids: Sequence[int]) -> dict[int, str]:
        return await fleet_outbox.fleet_keys(self.engine.store, local_ids)

    async def local_ids(self, keys: Sequence[str]) -> dict[str, int]:
        known = await self.engine.store.mirrored(keys)
        return {key: local for key, (local, _t, _s) in known.items() if local is not None}

    async def run_hook(self, event_id: int, hook: str) -> Execution | None:
        from sloth_tui.engine.fleet_runs import run_hook

        return await run_hook(self.engine, event_id, hook)

    async def own_runs_since(self, since: float) -> list[tuple[str, int, int, str | None]]:
        from sloth_tui.engine.fleet_runs import own_runs_since

        return await own_runs_since(self.engine, since)

    def use_state(self, backend: StateBackend | None) -> None:
        from sloth_tui.engine.threadhost import ThreadHost

        runtime = self.engine._runtime
        host = runtime.host if runtime is not None else None
        if not isinstance(host, ThreadHost):  # not started, or read-only: no runs here
            raise RuntimeError("the engine runs no hooks: no state to move")
        host._state.use_backend(backend)
