"""One real hook run's effects, held until the run ends and committed with its record.

The run's state writes and the events it dispatches are kept here while it runs, then
go to the store in ONE write with its execution row and its hook's run counter
(Dispatcher._commit): one transaction. A crash before that commit leaves no trace
of the run, so recovery runs it again from scratch; after it, the run is complete
and recovery skips it (it skips hooks with an execution row for the event).

http is the one effect outside the store: before a run's first request goes out,
the host commits a mark for (event, hook); the run's own commit deletes it. A mark
found at the next start means a crash cut a run short after it may have called out:
its rerun sees `event.redelivered == true`.

Implements HostAPI for the run (RunContext calls it from the hook's thread); reads,
increments, id reservations and marks hop onto the loop through the ThreadHost.

In a fleet state lives in a KV bucket (pending_state.StateBackend): the run's state
writes go there from its thread as it ends (apply_state, called by state_run.py),
before its record commits, and the store's commit then carries none. A crash between
the two leaves the writes applied and the run unrecorded: its rerun applies them again
(a second increment), the one window a store and a KV bucket cannot close together.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from sloth_tui.engine.pending_state import Op, numeric
from sloth_tui.engine.store import WriteOp, clear_http_mark_op, event_op, state_op
from sloth_tui.model.records import Event, Hook

if TYPE_CHECKING:
    import asyncio

    from sloth_tui.engine.threadhost import ThreadHost


class RunEffects:
    """Not thread-safe: used by the one thread running the hook, then (once the run has
    ended) by the loop for the commit."""

    def __init__(self, host: ThreadHost, hook: str, event: Event, *, redelivered: bool) -> None:
        self._host = host
        self.hook = hook
        self.event = event
        self.redelivered = redelivered
        # The run's final write per key: ("set", value), ("del", None) or ("add", delta).
        self.ops: dict[str, Op] = {}
        self.counted: dict[str, float] = {}  # increments counted as running in the host
        self._seen: dict[str, float] = {}  # what this run's last incr of a key returned
        # Reserved children: (event, its hooks, its encoded data), inserted at commit.
        self.children: list[tuple[Event, list[Hook], str]] = []
        self.marked = False  # an http mark was committed for this run

    # -- HostAPI (from the hook's thread) -------------------------------------------------
    def dispatch(self, type: str, data: dict[str, Any], *, parent: Event, source: str) -> int:
        # The id is taken now, so the hook gets it; the row goes in with the run's commit.
        child = self._host.reserve(type, data, parent=parent, source=source)
        self.children.append(child)
        return child[0].id

    def state_get(self, hook: str, key: str) -> Any:
        op = self.ops.get(key)
        if op is None:
            return self._host.state_get(hook, key)
        kind, value = op
        if kind == "add":  # the run's own increments, as its last incr saw them
            return self._seen[key]
        return value if kind == "set" else None

    def state_set(self, hook: str, key: str, value: Any) -> None:
        self.ops[key] = ("set", value)

    def state_delete(self, hook: str, key: str) -> None:
        self.ops[key] = ("del", None)

    def state_incr(self, hook: str, key: str, by: float) -> float:
        op = self.ops.get(key)
        if op is not None and op[0] != "add":  # set or deleted in this run: known here
            value = numeric(op[1]) + by
            self.ops[key] = ("set", value)
            return value
        first = key not in self.counted
        value = self._host.count(hook, key, by, first=first)
        self.counted[key] = self.counted.get(key, 0) + by
        self.ops[key] = ("add", (op[1] if op else 0) + by)
        self._seen[key] = value
        return value

    def http_started(self) -> None:
        """Called before each real http request: the first one commits the mark."""
        if not self.marked:
            self._host.mark_http(self.event.id, self.hook)
            self.marked = True

    def apply_state(self) -> None:
        """In the run's thread, once it has ended: with a state backend (a fleet), its
        state writes go there now and leave nothing for the store's commit. Raises (one
        line) when they could not be applied; they are dropped all the same."""
        pending = self._host._state  # the engine's one PendingState
        if pending.backend is None or not (self.ops or self.counted):
            return
        ops, counted = self.ops, self.counted
        self.ops, self.counted = {}, {}
        self._host._call(pending.apply, self.hook, ops, counted)

    # -- the commit (on the loop) --------------------------------------------------------
    @property
    def empty(self) -> bool:
        """The run left nothing to commit but its record (no state write, no child, no
        http mark to clear)."""
        return not (self.ops or self.children or self.marked or self.redelivered)

    def write_ops(self) -> list[WriteOp]:
        """What the run's commit writes besides its record."""
        hook = self.hook
        ops = [state_op(hook, key, kind, value) for key, (kind, value) in self.ops.items()]
        ops.extend(event_op(event, encoded) for event, _h, encoded in self.children)
        if self.marked or self.redelivered:  # the run is complete: nothing to warn of now
            ops.append(clear_http_mark_op(self.event.id, hook))
        return ops

    def commit(self, record: list[WriteOp]) -> asyncio.Future[None]:
        """On the loop: queue the run's one write (its effects and `record`); its future."""
        return self._host.commit(self, record)
