"""What a running hook may ask of the engine.

The Lua runtime calls these from a worker thread; the engine implements them
(hopping onto its event loop where it must). Kept here, on the runtime's side,
so the dependency points engine -> lua.
"""

from __future__ import annotations

from typing import Any, Protocol

from sloth_tui.engine.records import Event


class HostAPI(Protocol):
    def dispatch(self, type: str, data: dict[str, Any], *, parent: Event, source: str) -> int:
        """Store an event caused by `parent`; return its id once committed.

        Raises sloth_tui.engine.errors.EventRefused with a readable message (bad name,
        bad data, chain deeper than the limit, engine stopping).
        """
        ...

    def state_get(self, hook: str, key: str) -> Any: ...

    def state_set(self, hook: str, key: str, value: Any) -> None: ...

    def state_delete(self, hook: str, key: str) -> None: ...

    def state_incr(self, hook: str, key: str, by: float) -> float: ...
