"""Each real hook run inside its RunScope: locks released, state events emitted, at its end.

The dispatcher calls this for every real run (engine.py wires it in place of the bare
`host.run`). Around the run it sets the run's scope (lua/modules/state_locks.py), so
`state.lock` knows the run and its locks go when the run ends, however it ends. Then,
in the same pool thread, before the dispatcher commits the run:

- a lock the run still held, and whose state.locked went out, gets its state.unlocked
  (reason "the run ended"), and a line in the run's calls;
- each key of a `state_events` prefix the run set or deleted gets ONE event from the
  value before the run to its final write (effects.ops): state.created, updated or
  deleted; none when the value did not change, and never one per state.incr.

Both go through the run's RunEffects as children of its event, committed with its
record (as event.dispatch's are): no store write, no wait for queue room.

Last, in a fleet, the run's state writes go to the fleet's KV bucket (RunEffects.
apply_state), still before its record commits; when they cannot, the run is recorded
as an error saying so (its writes are lost, as a run's whose commit fails).
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable
from typing import Any

from sloth_tui.engine.effects import RunEffects
from sloth_tui.lua.convert import clip
from sloth_tui.lua.limits import MAX_CALLS
from sloth_tui.lua.modules.state_locks import LockTable, RunScope, enter, leave
from sloth_tui.model.records import Event, Execution, Hook

VALUE_MAX = 1024  # characters of a state value an event carries (JSON text for a table)

RealRun = Callable[[Hook, Event], tuple[Execution, RunEffects]]
# Several real runs (ThreadHost.run_many): the results of a prefix of the pairs (none:
# run them one by one), and the second argument is called with a run's index just
# before that run's first host call.
RealRuns = Callable[
    [list[tuple[Hook, Event]], Callable[[int], None]], list[tuple[Execution, RunEffects | None]]
]


def shown_value(value: Any) -> Any:
    """A state value as an event field: scalars as they are (the catalog's fields are
    scalars), a table as its JSON text, text clipped to VALUE_MAX."""
    if value is None or isinstance(value, bool | int):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else str(value)  # event data is strict JSON
    if not isinstance(value, str):
        value = json.dumps(value, ensure_ascii=False, separators=(",", ":"), default=str)
    return clip(value, VALUE_MAX)


class ScopedRuns:
    """The dispatcher's RunFn. Thread-safe: called from every pool thread."""

    def __init__(
        self,
        run: RealRun,
        *,
        run_many: RealRuns | None = None,
        state_events: tuple[str, ...] = (),
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._run = run
        self._run_many = run_many
        self.state_events = state_events
        self.locks = LockTable(clock)  # one per engine: every hook's runs share it

    def __call__(self, hook: Hook, event: Event) -> tuple[Execution, RunEffects]:
        scope = RunScope(self.locks, hook.name, event.id, self.state_events)
        outer = enter(scope)  # running(scope), without a context manager's cost per run
        try:
            execution, effects = self._run(hook, event)
        finally:
            leave(scope, outer)
        self._ended(scope, hook, event, execution, effects)
        return execution, effects

    def many(self, pairs: list[tuple[Hook, Event]]) -> list[tuple[Execution, RunEffects | None]]:
        """Runs of hooks without a gate, several per Lua call (ThreadHost.run_many): the
        results of a prefix of `pairs`, at least one. A run gets its scope when it first
        calls the host (most never do: their effects are None). One run, as __call__
        makes it, without run_many (a test's engine) or when it ran none."""
        if self._run_many is None:
            return [self(*pairs[0])]
        entered: list[tuple[int, RunScope, RunScope | None]] = []

        def enter_run(index: int) -> None:
            hook, event = pairs[index]
            scope = RunScope(self.locks, hook.name, event.id, self.state_events)
            entered.append((index, scope, enter(scope)))

        try:
            results = self._run_many(pairs, enter_run)
        finally:
            for _index, scope, outer in reversed(entered):
                leave(scope, outer)
        if not results:  # http marks are pending: see ThreadHost.run_many
            return [self(*pairs[0])]
        for index, scope, _outer in entered:
            if index < len(results):
                execution, effects = results[index]
                if effects is not None:
                    self._ended(scope, *pairs[index], execution, effects)
        return results

    def _ended(
        self,
        scope: RunScope,
        hook: Hook,
        event: Event,
        execution: Execution,
        effects: RunEffects,
    ) -> None:
        """After a run with effects: what its scope left (state events, locks freed), and
        its state writes to the fleet's bucket (in a fleet)."""
        if scope.freed or scope.changes:
            self._after(scope, hook, event, execution, effects)
        try:
            effects.apply_state()
        except Exception as exc:  # NATS down, timed out, stopping
            why = " ".join(str(exc).split()) or type(exc).__name__
            execution.status = "error"
            execution.error = f"state not saved to the fleet: {why}"

    def _after(
        self,
        scope: RunScope,
        hook: Hook,
        event: Event,
        execution: Execution,
        effects: RunEffects,
    ) -> None:
        source = f"hook:{hook.name}"

        def emit(kind: str, data: dict[str, Any]) -> str | None:
            try:
                effects.dispatch(kind, data, parent=event, source=source)
            except Exception as exc:  # stopping, chain too deep, queue full
                return str(exc) or type(exc).__name__
            return None

        for _key, lock_id in scope.freed:
            shown = scope.announced.pop(lock_id, None)
            if shown is None:  # its state.locked did not go out: neither does this
                continue
            data = {"state_key": shown, "lock_id": lock_id, "unlocked_by": hook.name}
            data["reason"] = "the run ended"
            error = emit("state.unlocked", data)
            if len(execution.calls) < MAX_CALLS:
                call: dict[str, Any] = {"fn": "state.unlock", "key": shown, "lock_id": lock_id}
                call["at_run_end"] = True
                if error:
                    call["event_error"] = error
                execution.calls.append(call)
        for key, old in scope.changes.items():
            op = effects.ops.get(key)
            if op is None or op[0] == "add":  # only increments: not a change we announce
                continue
            new = op[1] if op[0] == "set" else None
            base = {"state_key": key, "namespace": hook.name}
            if old is None and new is None:
                continue
            if old is None:
                emit("state.created", {**base, "value": shown_value(new)})
            elif new is None:
                emit("state.deleted", {**base, "old_value": shown_value(old)})
            elif old != new:
                emit(
                    "state.updated",
                    {**base, "old_value": shown_value(old), "new_value": shown_value(new)},
                )
