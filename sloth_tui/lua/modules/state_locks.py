"""Locks for `state.lock(key, ttl)`, and the run scope that ties them to one hook run.

Hooks run in the worker threads of ONE engine process, so the lock table is a dict
behind a mutex, shared by the runs of that engine (no fleet yet: two engines on two
hosts do not exclude each other; a fleet needs the store, or a leader, to hold them).
Keys are global across hooks, so two different hooks exclude each other by agreeing
on a key ("rollback:payments").

- Never blocking: a hook must not wait for another (the holder may be waiting on the
  engine, which may be waiting on the pool): a held lock is an answer, not a wait.
- TTLs on the monotonic clock (injectable): a wall-clock jump neither frees nor
  freezes a lock. An expired lock is free; its former holder can no longer unlock it.
- Bounded: keys, locks per run, and locks in the table.

The engine runs each real hook run inside its scope (engine/state_run.py: enter/leave): the
scope names the run (hook, event) and the table, and its locks are released when the
run ends, however it ends (success, error, timeout, a runtime failure). The scope lives
in a thread-local because a run is one synchronous call in one pool thread, and the
host protocol (lua/host.py) is shared by every producer of runs; a run with no scope
(a tool, a test host) simply has no locks. The scope also carries the run's opt-in
state events (state.py records the changes, the engine emits them at the run's end).
"""

from __future__ import annotations

import itertools
import math
import secrets
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

TTL_MAX = 3600.0  # seconds: a longer lock is a lease, and wants a store behind it
KEY_MAX = 256  # characters in a lock key
HELD_PER_RUN = 16  # locks one run may hold at once
TABLE_MAX = 10_000  # locks held at once in the engine, all hooks together
LOCK_EVENTS_PER_RUN = 32  # state.locked events one run emits (each unlock pairs with one)
STATE_EVENTS_PER_RUN = 32  # opt-in state.created/updated/deleted events per run


@dataclass(slots=True)
class _Held:
    lock_id: str
    owner: RunScope
    expires: float  # on the table's clock


class RunScope:
    """One real hook run, as the locks and the opt-in state events see it. A plain
    class with slots: one is made per run, so it costs what a run can spare (a
    dataclass with five containers cost microseconds per trivial run)."""

    __slots__ = (
        "announced", "changes", "event_id", "freed", "held", "hook", "lock_events", "lost",
        "state_events", "table",
    )  # fmt: skip

    def __init__(
        self, table: LockTable, hook: str, event_id: int, state_events: tuple[str, ...] = ()
    ) -> None:
        self.table = table
        self.hook = hook
        self.event_id = event_id
        # Key prefixes whose state.set/delete emit state.* events (config: state_events).
        self.state_events = state_events
        self.held: dict[str, str] = {}  # key -> lock_id, this run's
        self.lost: set[str] = set()  # its keys that expired and were dropped
        # lock_id -> the key as its state.locked showed it, for the locks that announced
        # themselves (only those announce their unlock).
        self.announced: dict[str, str] = {}
        self.lock_events = 0
        # Opt-in keys this run set or deleted: key -> the value before its first write.
        self.changes: dict[str, Any] = {}
        # (key, lock_id) of the locks the run's end released (running() fills it).
        self.freed: list[tuple[str, str]] = []

    def watches(self, key: str) -> bool:
        prefixes = self.state_events
        return bool(prefixes) and key.startswith(prefixes)


class LockTable:
    """Thread-safe: every run's thread calls it."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self.clock = clock
        self._locks: dict[str, _Held] = {}
        self._mutex = threading.Lock()
        self._ids = itertools.count(1)
        self._tag = secrets.token_hex(3)  # ids differ between engine lifetimes

    def acquire(self, key: str, ttl: float, run: RunScope) -> tuple[str | None, str]:
        """(lock_id, "") when taken (or already this run's: its ttl is renewed), else
        (None, why). Never waits."""
        with self._mutex:
            now = self.clock()
            held = self._locks.get(key)
            if held is not None and held.expires <= now:
                self._drop(key, held)
                held = None
            if held is not None:
                if held.owner is run:
                    held.expires = now + ttl
                    return held.lock_id, ""
                left = math.ceil(held.expires - now)
                who = held.owner
                return None, (
                    f"{key!r} is held by {who.hook} (run on event {who.event_id}) for {left}s more"
                )
            if len(run.held) >= HELD_PER_RUN:
                return None, f"this run holds {HELD_PER_RUN} locks already (the limit)"
            if len(self._locks) >= TABLE_MAX:
                self._expire(now)
                if len(self._locks) >= TABLE_MAX:
                    return None, f"{TABLE_MAX} locks are held already (the engine's limit)"
            lock_id = f"lock-{self._tag}-{next(self._ids)}"
            self._locks[key] = _Held(lock_id, run, now + ttl)
            run.held[key] = lock_id
            return lock_id, ""

    def release(self, key: str, run: RunScope) -> tuple[str | None, str]:
        """(lock_id, "") when this run held `key` (now free), else (None, why)."""
        with self._mutex:
            held = self._locks.get(key)
            run.held.pop(key, None)
            expired = f"{key!r}: this run's lock had expired (its ttl passed)"
            if held is not None and held.owner is run:
                del self._locks[key]
                if held.expires <= self.clock():
                    return None, expired
                return held.lock_id, ""
            if key in run.lost:
                run.lost.discard(key)
                return None, expired
            if held is not None and held.expires > self.clock():
                return None, f"{key!r} is held by {held.owner.hook}, not by this run"
            return None, f"{key!r} is not locked by this run"

    def release_run(self, run: RunScope) -> list[tuple[str, str]]:
        """At the run's end: every lock it still holds goes. (key, lock_id) of those."""
        if not run.held:  # most runs take no lock: no mutex for them
            return []
        with self._mutex:
            freed = []
            for key, lock_id in run.held.items():
                held = self._locks.get(key)
                if held is not None and held.owner is run:
                    del self._locks[key]
                    freed.append((key, lock_id))
            run.held.clear()
            return freed

    def holder(self, key: str) -> str | None:
        """Who holds `key` now (a hook name), for tests and diagnostics."""
        with self._mutex:
            held = self._locks.get(key)
            if held is None or held.expires <= self.clock():
                return None
            return held.owner.hook

    def __len__(self) -> int:
        with self._mutex:
            return len(self._locks)

    def _drop(self, key: str, held: _Held) -> None:
        """An expired lock goes; its run learns it at its unlock."""
        del self._locks[key]
        if held.owner.held.pop(key, None) is not None:
            held.owner.lost.add(key)

    def _expire(self, now: float) -> None:
        for key, held in [(k, h) for k, h in self._locks.items() if h.expires <= now]:
            self._drop(key, held)


_local = threading.local()


def current() -> RunScope | None:
    """The scope of the real run this thread is running, if any."""
    scope: RunScope | None = getattr(_local, "scope", None)
    return scope


def enter(scope: RunScope) -> RunScope | None:
    """The engine's hot path (engine/state_run.py): set `scope`, return the outer one."""
    outer: RunScope | None = getattr(_local, "scope", None)
    _local.scope = scope
    return outer


def leave(scope: RunScope, outer: RunScope | None) -> None:
    _local.scope = outer
    scope.freed = scope.table.release_run(scope)


@contextmanager
def running(scope: RunScope) -> Iterator[RunScope]:
    """Run a hook inside `scope`; its locks are released on the way out, however the
    run ends (scope.freed says which were still held)."""
    outer = current()
    _local.scope = scope
    try:
        yield scope
    finally:
        _local.scope = outer
        scope.freed = scope.table.release_run(scope)
