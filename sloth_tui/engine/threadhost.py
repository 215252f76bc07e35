"""The engine's side of HostAPI: hook threads call in, work hops onto the event loop.

A hook thread never builds the awaitable itself: it hands a coroutine function and its
arguments over, and the call is made on the loop (Store.write, for one, touches the
store's rounds and makes a future of the running loop, so it only works there). The
hook thread then waits for the answer, at most CALL_TIMEOUT. The other way round the
loop never blocks on a hook thread (Dispatcher.stop joins its pool off the loop), so
the two cannot wait on each other.

A real run writes nothing while it runs: run() gives it a RunEffects (effects.py) that
holds its state writes and events until the dispatcher commits them with its record;
reads go through PendingState (pending_state.py), which sees what finished runs have
queued to commit. The one thing committed mid-run is the http mark (mark_http).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import threading
import time
from collections.abc import Awaitable, Callable
from typing import Any, ParamSpec, Protocol, TypeVar

from sloth_tui.engine.effects import RunEffects
from sloth_tui.engine.pending_state import PendingState
from sloth_tui.engine.store import Store, WriteOp
from sloth_tui.lua.limits import Limits
from sloth_tui.lua.worker import ManyRun, Touch
from sloth_tui.model.errors import EventRefused
from sloth_tui.model.records import Event, Execution, Hook

log = logging.getLogger("sloth_tui.engine")

CALL_TIMEOUT = 30.0

P = ParamSpec("P")
T = TypeVar("T")


class DispatchFn(Protocol):
    """Engine.dispatch, as the host uses it."""

    def __call__(
        self, type: str, data: dict[str, Any] | None = ..., *, source: str, parent: Event | None
    ) -> Awaitable[Event]: ...


class Children(Protocol):
    """The engine's side of the events a run dispatches (Engine implements it)."""

    async def reserve_child(
        self, type: str, data: dict[str, Any], *, source: str, parent: Event
    ) -> tuple[Event, list[Hook], str]:
        """Check the event and take its id (and its room in the queue); store nothing."""
        ...

    def child_committed(self, event: Event, hooks: list[Hook]) -> None:
        """Its row is committed: publish it and queue it for its hooks."""
        ...

    def child_dropped(self, event: Event, hooks: list[Hook]) -> None:
        """Its parent's commit failed: give back what reserve_child took."""
        ...


class Runner(Protocol):
    """HookRuntime.run, as the host uses it for real runs."""

    def __call__(
        self, hook: Hook, event: Event, *, limits: Limits, host: RunEffects, redelivered: bool
    ) -> Execution: ...


# HookRuntime.run_many, as the host uses it.
ManyRunner = Callable[[list[ManyRun], Touch], list[Execution]]


class ThreadHost:
    """HostAPI for hooks run in worker threads, answered on `loop`.

    Real runs go through a RunEffects per run (begin()), which buffers their writes
    for one commit with their record; the HostAPI methods here answer dry runs (reads)
    and any caller that runs hooks directly (writes commit at once).

    Without `dispatch` the host is read-only (an engine that runs no hooks, only dry
    runs): state reads work; dispatch and state writes are refused.
    """

    def __init__(
        self,
        store: Store,
        loop: asyncio.AbstractEventLoop,
        dispatch: DispatchFn | None = None,
        children: Children | None = None,
    ) -> None:
        self._store = store
        self._loop = loop
        self._dispatch = dispatch
        self._children = children
        self._state = PendingState(store.state_get)
        # http marks left by runs a crash cut short, read once before the first run.
        self._marks: set[tuple[int, str]] | None = None
        self._marks_lock = threading.Lock()
        # Runs whose commit failed since the last one logged: a full disk fails every
        # run's, so the first is said in full and the rest as one count (_committed).
        self._unstored = 0

    def _call(self, fn: Callable[P, Awaitable[T]], *args: P.args, **kwargs: P.kwargs) -> T:
        """Run fn(*args, **kwargs) on the loop and wait for its result in this thread."""
        loop = self._loop
        try:
            on_loop_thread = asyncio.get_running_loop() is loop
        except RuntimeError:  # no loop in this thread: the normal case
            on_loop_thread = False
        if on_loop_thread:  # waiting here would block the very loop that must answer
            raise RuntimeError("host call made on the engine's event loop thread")
        if not loop.is_running():
            raise EventRefused("the engine is stopping")

        async def call() -> T:
            return await fn(*args, **kwargs)

        coro = call()
        try:
            future = asyncio.run_coroutine_threadsafe(coro, loop)
        except RuntimeError:  # the loop closed meanwhile
            coro.close()
            raise EventRefused("the engine is stopping") from None
        try:
            return future.result(CALL_TIMEOUT)
        except TimeoutError as exc:
            # Since 3.11 the wait's timeout and a timeout the call raised itself (the
            # fleet KV's own) are the same class: only the first is the engine's silence.
            if future.done() and not future.cancelled() and future.exception() is exc:
                raise
            future.cancel()
            raise TimeoutError(f"the engine did not answer within {CALL_TIMEOUT:g} s") from None
        except concurrent.futures.CancelledError:  # the loop cancelled it while stopping
            raise EventRefused("the engine is stopping") from None

    def _writable(self) -> DispatchFn:
        if self._dispatch is None:
            raise EventRefused("this engine is read-only: another engine owns the data dir")
        return self._dispatch

    def dispatch(self, type: str, data: dict[str, Any], *, parent: Event, source: str) -> int:
        event = self._call(self._writable(), type, data, source=source, parent=parent)
        return event.id

    def state_get(self, hook: str, key: str) -> Any:
        return self._call(self._state.get, hook, key)

    # Direct writes (not a real run's: those go through RunEffects) commit at once.
    def state_set(self, hook: str, key: str, value: Any) -> None:
        self._writable()
        self._call(self._store.write_state, hook, key, "set", value)

    def state_delete(self, hook: str, key: str) -> None:
        self._writable()
        self._call(self._store.write_state, hook, key, "del", None)

    def state_incr(self, hook: str, key: str, by: float) -> float:
        self._writable()
        return self._call(self._incr_now, hook, key, by)

    async def _incr_now(self, hook: str, key: str, by: float) -> float:
        value = await self._state.incr(hook, key, by, first=True)
        ops = {key: ("add", by)}
        self._state.finished(hook, ops, {key: by})
        try:
            await self._store.write_state(hook, key, "add", by)
        except BaseException:
            self._state.acked(hook, ops, committed=False)
            raise
        self._state.acked(hook, ops, committed=True)
        return value

    # -- real runs: one RunEffects each -------------------------------------------------

    def run(
        self, runtime: Runner, hook: Hook, event: Event, limits: Limits
    ) -> tuple[Execution, RunEffects]:
        """In a pool thread: run `hook` for real; its effects wait in the RunEffects for
        RunEffects.commit, which the dispatcher calls with the run's record."""
        effects = RunEffects(self, hook.name, event, redelivered=self._redelivered(hook, event))
        execution = runtime(
            hook, event, limits=limits, host=effects, redelivered=effects.redelivered
        )
        return execution, effects

    def run_many(
        self,
        runtime: ManyRunner,
        pairs: list[tuple[Hook, Event]],
        limits: Callable[[Hook], Limits],
        entered: Callable[[int], None],
    ) -> list[tuple[Execution, RunEffects | None]]:
        """In a pool thread: several real runs in one Lua call (HookRuntime.run_many),
        the results of a prefix of `pairs`. A run gets its RunEffects at its first host
        call (`entered(i)` is told first); a run that made none has no effects (None).

        Returns [] (nothing ran) while http marks left by a crash are pending, or before
        they are known: whether a run is a redelivery is known, and its mark taken, only
        as it starts, so the caller runs them one by one (run())."""
        if self._marks is None or self._marks:
            return []
        made: dict[int, RunEffects] = {}

        def touch(index: int) -> RunEffects:
            effects = made.get(index)
            if effects is None:
                entered(index)
                hook, event = pairs[index]
                effects = made[index] = RunEffects(self, hook.name, event, redelivered=False)
            return effects

        executions = runtime([(h, e, limits(h), False) for h, e in pairs], touch)
        return [(execution, made.get(i)) for i, execution in enumerate(executions)]

    def _redelivered(self, hook: Hook, event: Event) -> bool:
        if self._marks is not None and not self._marks:  # the common case, without the lock
            return False
        with self._marks_lock:
            if self._marks is None:  # before this engine's first run: no mark is its own
                try:
                    self._marks = self._call(self._store.http_marks)
                except Exception:  # stopping: this run's commit will not happen anyway
                    return False
            if not self._marks:
                return False
            try:
                self._marks.remove((event.id, hook.name))  # a rerun later is no redelivery
            except KeyError:
                return False
            return True

    def count(self, hook: str, key: str, by: float, *, first: bool) -> float:
        """A running run's state.incr: counted now, committed with the run."""
        return self._call(self._state.incr, hook, key, by, first)

    def reserve(
        self, type: str, data: dict[str, Any], *, parent: Event, source: str
    ) -> tuple[Event, list[Hook], str]:
        children = self._children
        if children is None:
            raise EventRefused("this engine is read-only: another engine owns the data dir")
        return self._call(children.reserve_child, type, data, source=source, parent=parent)

    def mark_http(self, event_id: int, hook: str) -> None:
        """Committed before the request goes out: a crash after it is known at restart."""
        self._writable()
        self._call(self._store.mark_http, event_id, hook, time.time())

    def commit(self, effects: RunEffects, record: list[WriteOp]) -> asyncio.Future[None]:
        """On the loop: the run's effects and its record, in one write (one transaction);
        its future."""
        future = self._store.write(*effects.write_ops(), *record)
        self._state.finished(effects.hook, effects.ops, effects.counted)
        future.add_done_callback(lambda f: self._committed(effects, f))
        return future

    def _committed(self, effects: RunEffects, future: asyncio.Future[None]) -> None:
        error = future.exception() if not future.cancelled() else None
        ok = not future.cancelled() and error is None
        self._state.acked(effects.hook, effects.ops, committed=ok)
        if not ok:
            if self._unstored == 0:
                log.error(
                    "hook %s on event %d: its run could not be stored (%s); its state "
                    "writes and events are dropped, and the event runs again at the next "
                    "start",
                    effects.hook, effects.event.id, error or "cancelled",
                )  # fmt: skip
            self._unstored += 1
        elif self._unstored:
            if self._unstored > 1:  # the first was said on its own
                log.error(
                    "%d more hook runs could not be stored after that one; their events "
                    "run again at the next start",
                    self._unstored - 1,
                )
            self._unstored = 0
        children = self._children
        if children is None:
            return
        for child, hooks, _encoded in effects.children:
            if ok:
                children.child_committed(child, hooks)
            else:
                children.child_dropped(child, hooks)
