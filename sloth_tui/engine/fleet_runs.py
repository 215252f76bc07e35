"""Running one hook on one stored event for the fleet (FleetPort.run_hook).

(stub: being written by the runner's author; see engine/api.FleetPort.run_hook)
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from sloth_tui.model.records import Execution

if TYPE_CHECKING:
    from sloth_tui.engine.engine import Engine


async def run_hook(engine: Engine, event_id: int, hook: str) -> Execution | None:
    raise NotImplementedError("fleet run_hook is not written yet")
