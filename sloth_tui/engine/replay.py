"""`hook replay`: edited code, in dry run, over the hook's recent real events.

SEAM (owner: the replay helper).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from sloth_tui.model.replay import ReplayReport

if TYPE_CHECKING:
    from sloth_tui.engine.engine import Engine
    from sloth_tui.engine.hook_admin import HookRegistry


async def replay_hook(
    engine: Engine, registry: HookRegistry, name: str, *, code: str | None, last: int
) -> ReplayReport:
    raise NotImplementedError("SEAM: the replay helper")
