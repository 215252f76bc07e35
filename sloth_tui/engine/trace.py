"""`event trace`: the tree an event belongs to, read from the store.

SEAM (owner: the trace helper).
"""

from __future__ import annotations

from sloth_tui.engine.store import Store
from sloth_tui.model.trace import Trace


async def trace_event(store: Store, event_id: int) -> Trace:
    raise NotImplementedError("SEAM: the trace helper")
