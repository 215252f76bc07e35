"""`hook explain`: why each hook ran on an event, or why not.

SEAM (owner: the explain helper).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from sloth_tui.model.explain import HookVerdict

if TYPE_CHECKING:
    from sloth_tui.engine.engine import Engine
    from sloth_tui.engine.hook_admin import HookRegistry


async def explain_event(
    engine: Engine, registry: HookRegistry, event_id: int, hook: str | None
) -> list[HookVerdict]:
    raise NotImplementedError("SEAM: the explain helper")
