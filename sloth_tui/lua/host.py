"""What a running hook may ask of the engine.

The Lua runtime calls these from a worker thread; the engine implements them
(hopping onto its event loop where it must). Kept here, on the runtime's side,
so the dependency points engine -> lua.

Contract, as the runtime uses it:
- Calls come from the thread running the hook, several threads at once; the
  hook waits for the answer, and the wait is not bounded by the hook's
  deadline, so answer promptly (store the event, do not run its hooks inline).
- Values are plain JSON data (dict/list/str/int/float/bool/None) both ways.
- Any exception is caught: from dispatch it becomes `nil, err` in Lua (the
  EventRefused message as is, others as "dispatch failed: ..."); from a state
  method it becomes a Lua error at the hook's line ("state.get: <message>").
- In a dry run only state_get is called: writes stay in the run's overlay.
- A real run from the engine gets a host of its own (engine/effects.py RunEffects):
  its writes and dispatches are held until the run ends, then committed in one
  transaction with the run's execution record. Reads see the run's own writes.
  Such a host also has `http_started()`, called before each real http request (the
  worker calls it when present): it durably notes that the run calls out, and a
  failure there stops the request.
"""

from __future__ import annotations

from typing import Any, Protocol

from sloth_tui.model.records import Event


class HostAPI(Protocol):
    def dispatch(self, type: str, data: dict[str, Any], *, parent: Event, source: str) -> int:
        """Store an event caused by `parent`; return its id (the engine's per-run host
        takes the id now and inserts the event with the run's commit).

        Raises sloth_tui.model.errors.EventRefused with a readable message (bad name,
        bad data, chain deeper than the limit, engine stopping).
        """
        ...

    def state_get(self, hook: str, key: str) -> Any:
        """The stored value for (hook, key), or None."""
        ...

    def state_set(self, hook: str, key: str, value: Any) -> None:
        """Store a JSON value (never None: state.set(k, nil) calls state_delete)."""
        ...

    def state_delete(self, hook: str, key: str) -> None:
        """Forget (hook, key); no error when absent."""
        ...

    def state_incr(self, hook: str, key: str, by: float) -> float:
        """Atomically add `by` (a non-number counts as 0) and return the new value."""
        ...
