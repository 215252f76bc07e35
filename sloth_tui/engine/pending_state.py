"""Hook state as runs see it: committed, plus what finished runs have queued to commit.

A real run's state writes are committed with its execution record when the run ends
(engine/effects.py), so the store alone lags behind: a run that set a key may have
ended while its commit waits for the next round. Reads here see those writes, so the
next run of a hook (the next job of the same batch, say) reads what the last one wrote.

state.incr goes through here too. Its increments are applied in SQL at commit, as
deltas (store.INCR_STATE), so the stored total is right however runs interleave. The
value a run gets back is the committed value plus every increment not yet committed,
those of runs still running included: concurrent runs get distinct values, as they did
when each incr committed at once (a counter used for sequence numbers stays one).

Everything here runs on the engine's event loop, one call at a time; the only await
is a store read, and the code around it is written for acks that land meanwhile.

In a fleet a StateBackend (fleet/state_kv.py, set through FleetPort.use_state) holds
the state instead of the store: reads go to it, and a real run's writes are applied
to it by the run's thread as the run ends, before its record commits (apply), so
nothing is queued here then; only the increments of runs still running are counted.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

Key = tuple[str, str]  # (hook, key)
# One finished run's final write to a key: ("set", value), ("del", None) or ("add", delta).
Op = tuple[str, Any]


def numeric(value: Any) -> float:
    """What state.incr adds to: a stored number, else 0 (as the SQL does)."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        return value
    return 0


class StateBackend(Protocol):
    """Where hook state lives when not in the store (a fleet's KV bucket). Both calls run
    on the engine's loop, each bounded in time; a failure raises (one line)."""

    async def get(self, hook: str, key: str) -> Any:
        """The value, None when there is none."""
        ...

    async def apply(self, hook: str, ops: dict[str, Op]) -> None:
        """One run's final writes: ("set", v), ("del", None), ("add", delta); an add is
        atomic against every other writer."""
        ...


@dataclass(slots=True)
class _Cell:
    base: Any = None  # the committed value, when `loaded`
    loaded: bool = False
    stale: bool = False  # an ack landed while the base was being read: read again
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    queued: deque[Op] = field(default_factory=deque)  # commit order
    running: float = 0  # increments of runs still running
    holders: int = 0  # runs still running with increments here
    users: int = 0  # reads in progress


class PendingState:
    def __init__(self, read: Callable[[str, str], Awaitable[Any]]) -> None:
        self._read = read  # the committed value, from the store
        self._cells: dict[Key, _Cell] = {}
        self.backend: StateBackend | None = None

    def use_backend(self, backend: StateBackend | None) -> None:
        """From now on state lives in `backend` (None: in the store again)."""
        self.backend = backend

    async def get(self, hook: str, key: str) -> Any:
        if self.backend is not None:  # nothing is queued here: the backend is current
            return await self.backend.get(hook, key)
        cell = self._cells.get((hook, key))
        if cell is None:  # nothing pending: the store is current
            return await self._read(hook, key)
        return await self._view((hook, key), cell)

    async def incr(self, hook: str, key: str, by: float, first: bool) -> float:
        """Count `by` as running for one run (first: its first incr of this key)."""
        k = (hook, key)
        cell = self._cells.get(k)
        if cell is None:
            cell = self._cells[k] = _Cell()
        if first:
            cell.holders += 1  # held from here, so the cell stays while the run runs
        try:
            if self.backend is not None:
                value = await self.backend.get(hook, key)
            else:
                value = await self._view(k, cell)
        except BaseException:  # the store failed: this run counts nothing here
            if first:
                cell.holders -= 1
                self._forget(k)
            raise
        # No await from here on: this run's increment and the value it sees go together.
        cell.running += by
        return numeric(value) + cell.running

    async def apply(self, hook: str, ops: dict[str, Op], counted: dict[str, float]) -> None:
        """A run ended (backend set): its writes go to the backend now; its increments
        stop counting as running here once they are there (or failed to get there)."""
        assert self.backend is not None
        try:
            await self.backend.apply(hook, ops)
        finally:
            self.finished(hook, {}, counted)

    def finished(self, hook: str, ops: dict[str, Op], counted: dict[str, float]) -> None:
        """A run ended and its writes are queued for commit: `ops` per key, and the
        increments it counted as running, which its ops now carry."""
        for key, by in counted.items():
            cell = self._cells[(hook, key)]
            cell.holders -= 1
            cell.running = cell.running - by if cell.holders else 0  # no float residue
        for key, op in ops.items():
            self._cells.setdefault((hook, key), _Cell()).queued.append(op)
        for key in counted.keys() - ops.keys():
            self._forget((hook, key))

    def acked(self, hook: str, ops: dict[str, Op], committed: bool) -> None:
        """The commit of a run's `ops` is done (or failed: committed=False)."""
        for key, op in ops.items():
            k = (hook, key)
            cell = self._cells[k]
            cell.queued.popleft()  # commits land in the order they were queued
            if committed:
                kind, value = op
                if kind != "add":  # an absolute value: known from here, whatever was read
                    cell.base, cell.loaded = (value if kind == "set" else None), True
                    cell.stale = True
                elif cell.loaded:
                    cell.base = numeric(cell.base) + value
                else:
                    cell.stale = True
            self._forget(k)

    def _forget(self, k: Key) -> None:
        """Drop a cell nothing refers to: the store holds all it knew."""
        cell = self._cells.get(k)
        if cell is not None and not (cell.queued or cell.holders or cell.users):
            del self._cells[k]

    async def _view(self, k: Key, cell: _Cell) -> Any:
        """The committed value with the queued writes applied."""
        adds: float = 0
        for kind, value in reversed(cell.queued):
            if kind == "add":
                adds += value
            else:  # a set or delete decides; only later adds count
                base = value if kind == "set" else None
                return numeric(base) + adds if adds else base
        if not cell.loaded:
            await self._load(k, cell)
            # Loading awaited: the queue may have moved meanwhile.
            return await self._view(k, cell)
        return numeric(cell.base) + adds if adds or cell.queued else cell.base

    async def _load(self, k: Key, cell: _Cell) -> None:
        cell.users += 1
        try:
            async with cell.lock:  # one read of the store at a time per key
                while not cell.loaded:
                    cell.stale = False
                    value = await self._read(*k)
                    if not cell.stale:  # no commit for this key landed during the read
                        cell.base, cell.loaded = value, True
        finally:
            cell.users -= 1
