"""The dispatcher: a bounded run queue, a pool of workers, and hook runs in threads.

An event reaches the queue only after it is committed, so a crash at any
point leaves it `pending`/`processing` in the store, and `recover()` picks it
up on the next start without repeating executions already recorded.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Protocol

from sloth_tui.engine.bus import Bus
from sloth_tui.engine.policy_after import FollowUps
from sloth_tui.engine.policy_gate import PolicyGate
from sloth_tui.engine.store import Store, WriteOp, run_record_ops
from sloth_tui.model.errors import EventRefused
from sloth_tui.model.policy import NO_POLICY
from sloth_tui.model.records import Event, Execution, Hook


class Effects(Protocol):
    """A real run's buffered effects (engine/effects.py RunEffects)."""

    @property
    def empty(self) -> bool:
        """Nothing to write but the record: it may wait for the end of the batch."""
        ...

    def commit(self, record: list[WriteOp]) -> None:
        """On the loop: write the effects and `record` in one store write."""
        ...


# Runs one hook on one event in a worker thread and never raises. The run's effects,
# when it has any to keep, commit with its record (None: the record alone).
RunFn = Callable[[Hook, Event], tuple[Execution, Effects | None]]

# An event, the hooks to run on it, the future of whoever waits for the runs, and why
# they run: the trigger and attempt every execution of the job is stamped with.
Job = tuple[Event, list[Hook], "asyncio.Future[list[Execution]] | None", str, int]

BATCH = 16  # queued jobs a worker takes at once


class Dispatcher:
    def __init__(
        self,
        store: Store,
        bus: Bus,
        run: RunFn,
        *,
        concurrency: int,
        queue_size: int,
        lookup: Callable[[str], Hook | None] = lambda name: None,
    ) -> None:
        self._store = store
        self._bus = bus
        self._run = run
        # The queue itself is unbounded; `_room` bounds what producers may add. Events
        # dispatched by hooks count against it too, but never wait for room: a hook
        # thread waiting for room that only hook threads free would deadlock. They take
        # it at once or are refused (reserve_room). Recovery alone goes past the bound.
        self._queue: asyncio.Queue[tuple[Job, bool]] = asyncio.Queue()
        self._room = asyncio.Semaphore(queue_size)
        self._queue_size = queue_size
        self._reserved = 0  # room taken by hook-dispatched events not yet queued
        self._loop = asyncio.get_running_loop()  # where pool threads send their commits
        self._pool = ThreadPoolExecutor(max_workers=concurrency, thread_name_prefix="hook")
        self._workers = [
            asyncio.create_task(self._work(), name=f"dispatch-{i}") for i in range(concurrency)
        ]
        self._waiters: set[asyncio.Future[list[Execution]]] = set()  # cancelled on stop
        self._active = 0
        self.executions_total = 0
        # Stopping: set, no run starts any more (hook threads check it before each run)
        # and queued jobs are dropped, their events left unfinished for recovery.
        self._halt = threading.Event()
        # Policies (model/policy.py): the gate before a gated hook's run (pool threads),
        # and the follow-ups after a run (retry, auto_disable; on the loop). `lookup` is
        # the registry's: a retry runs the hook as it is when the retry is due.
        self.gate: PolicyGate[Effects | None] = PolicyGate(
            self._halt, enabled=lambda name: (hook := lookup(name)) is not None and hook.enabled
        )
        self.follow_ups = FollowUps(self._requeue, lookup)
        self._open = asyncio.Event()  # cleared while recovery loads: workers wait
        self._open.set()
        self._reaper: asyncio.Task[None] | None = None

    @property
    def depth(self) -> int:
        # Reserved children count: their parent's commit queues them, after its run.
        return self._queue.qsize() + self._active + self._reserved

    def _job(self, event: Event, hooks: list[Hook], wait: bool, trigger: str, attempt: int) -> Job:
        done = asyncio.get_running_loop().create_future() if wait else None
        if done is not None:
            self._waiters.add(done)
        return event, hooks, done, trigger, attempt

    async def submit(
        self, event: Event, hooks: list[Hook], *, wait: bool = False, trigger: str = "event"
    ) -> asyncio.Future[list[Execution]] | None:
        """Queue work, waiting for room when the queue is full (backpressure).

        With wait=True, returns a future for the executions, done once they are stored.
        `trigger` is what the executions record (model/policy.TRIGGERS).
        """
        await self._room.acquire()
        job = self._job(event, hooks, wait, trigger, 1)
        self._queue.put_nowait((job, True))
        return job[2]

    def submit_nowait(
        self,
        event: Event,
        hooks: list[Hook],
        *,
        wait: bool = False,
        trigger: str = "event",
        attempt: int = 1,
    ) -> asyncio.Future[list[Execution]] | None:
        """Queue work past the bound (recovery, retries; Engine.dispatch with a parent)."""
        job = self._job(event, hooks, wait, trigger, attempt)
        self._queue.put_nowait((job, False))
        return job[2]

    def _requeue(self, event: Event, hook: Hook, attempt: int) -> bool:
        """A retry that is due (FollowUps): queued past the bound, like recovery."""
        if self._halt.is_set():
            return False
        self.submit_nowait(event, [hook], trigger="retry", attempt=attempt)
        return True

    # -- events dispatched by hooks: room taken at the call, queued after the commit ------

    def reserve_room(self) -> None:
        """Take room for a hook-dispatched event now, or refuse it: never wait."""
        if self._room.locked():  # full, or producers already wait for room
            raise EventRefused(
                f"the event queue is full (queue_size = {self._queue_size}): the event was "
                "not dispatched"
            )
        self._room._value -= 1  # what acquire() does when not locked, without awaiting
        self._reserved += 1

    def submit_reserved(self, event: Event, hooks: list[Hook]) -> None:
        """Queue an event whose room reserve_room() took (its parent has committed)."""
        self._reserved -= 1
        self._queue.put_nowait(((event, hooks, None, "event", 1), True))

    def release_room(self) -> None:
        """A reserved event will not be queued after all (its parent's commit failed)."""
        self._reserved -= 1
        self._room.release()

    async def _work(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            if not self._open.is_set():  # recovery first puts the events it recovered
                await self._open.wait()
            item = await self._queue.get()
            if self._halt.is_set():
                self._drop(item)
                continue
            jobs = [self._took(item)]
            # What is already queued goes along: one thread hop for several runs,
            # since a trivial hook costs less than the hop itself.
            while len(jobs) < BATCH and not self._queue.empty():
                jobs.append(self._took(self._queue.get_nowait()))
            self._active += len(jobs)
            try:
                await self._process(loop, jobs)
            finally:
                self._active -= len(jobs)

    def _took(self, item: tuple[Job, bool]) -> Job:
        job, bounded = item
        if bounded:
            self._room.release()
        return job

    def _run_jobs(self, jobs: list[Job]) -> list[list[Execution]]:
        """In a pool thread: every hook of every event of the batch, in order.

        Stopping ends the batch between two runs: the results are then shorter than
        `jobs` (and the last list may be shorter than its hooks)."""
        loop = self._loop
        results: list[list[Execution]] = []
        # Runs that wrote nothing (most): their records go to the loop in one hop at the
        # end of the batch, since a hop costs more than a trivial run.
        plain: list[tuple[Hook, Execution, None]] = []
        gate = self.gate
        try:
            for event, hooks, _done, trigger, attempt in jobs:
                runs: list[Execution] = []
                results.append(runs)
                for hook in hooks:
                    if self._halt.is_set():
                        return results
                    # A hook without a policy (NO_POLICY, shared) costs one identity test.
                    policy = hook.policy
                    if policy is NO_POLICY or not policy.gated:
                        execution, effects = self._run(hook, event)
                    else:
                        gated = gate.run(hook, event, self._run)
                        if gated is None:  # halted while it waited its turn
                            return results
                        execution, effects = gated
                    if trigger != "event":
                        execution.trigger = trigger
                        execution.attempt = attempt
                    if effects is None or effects.empty:
                        plain.append((hook, execution, None))
                    else:
                        # Committed now, not after the batch: the next run (of this batch,
                        # or another thread's) reads this one's state writes
                        # (PendingState), and the loop takes this callback before it
                        # answers that read.
                        try:
                            loop.call_soon_threadsafe(self._commit, hook, execution, effects)
                        except RuntimeError:  # the loop is closed: the engine was torn down
                            return results
                    runs.append(execution)
            return results
        finally:
            if plain:
                with contextlib.suppress(RuntimeError):  # the loop is closed
                    loop.call_soon_threadsafe(self._commit_all, plain)

    def _commit_all(self, runs: list[tuple[Hook, Execution, None]]) -> None:
        for hook, execution, effects in runs:
            self._commit(hook, execution, effects)

    def _commit(self, hook: Hook, execution: Execution, effects: Effects | None) -> None:
        """On the loop: the run's record, its hook's counter and its effects, one write.
        A run the gate skipped is a record alone: the hook did not run."""
        if effects is None:
            if not _ran(execution):
                self._store.execution_later(execution)
            else:
                self._store.record_later(execution, hook.name)
        else:
            effects.commit(run_record_ops(execution, hook.name))

    async def _process(self, loop: asyncio.AbstractEventLoop, jobs: list[Job]) -> None:
        for event, _hooks, _done, _trigger, _attempt in jobs:
            event.status = "processing"
            self._store.set_status_later(event.id, "processing")
        try:
            results = await loop.run_in_executor(self._pool, self._run_jobs, jobs)
        except RuntimeError:  # pool shut down while stopping: the events stay unfinished
            return
        # Shorter when stopping cut the batch (zip stops there): what ran is recorded, and
        # an event with runs missing stays `processing`, for recovery.
        follow_ups = self.follow_ups
        for (event, hooks, done, trigger, _attempt), executions in zip(jobs, results, strict=False):
            for hook, execution in zip(hooks, executions, strict=False):
                if _ran(execution):  # its row and counter are written already (_commit)
                    hook.run_count += 1
                    hook.last_run = execution.started
                self.executions_total += 1
                self._bus.publish("execution", execution)
                policy = hook.policy
                if trigger == "retry" or (
                    policy is not NO_POLICY
                    and (policy.retry is not None or policy.auto_disable is not None)
                ):
                    follow_ups.ran(hook, event, execution)
            if len(executions) == len(hooks):
                await self._finish(event, executions, done)

    async def _finish(
        self,
        event: Event,
        executions: list[Execution],
        done: asyncio.Future[list[Execution]] | None,
    ) -> None:
        ok = self.follow_ups.settled(event, executions)
        event.status = "completed" if ok else "failed"
        self._store.set_status_later(event.id, event.status)
        self._bus.publish("event_status", event)
        if done is not None:
            self._waiters.discard(done)
            if not done.done():
                await self._store.flush()
                done.set_result(executions)

    async def drain(self, timeout: float) -> bool:
        """Wait until queued work is done (recovered work too); False if `timeout` passed
        first."""
        deadline = time.monotonic() + timeout
        while self.depth or not self._open.is_set():
            if time.monotonic() > deadline:
                return False
            await asyncio.sleep(0.01)
        return True

    # -- recovery -------------------------------------------------------------------

    def hold(self) -> None:
        """Workers take nothing until put_first(): recovery loads in the background while
        new events are queued, and the recovered ones must still run first."""
        self._open.clear()

    def put_first(self, jobs: Sequence[Job]) -> None:
        """Queue `jobs` ahead of everything queued so far, and let the workers go."""
        later: list[tuple[Job, bool]] = []
        while not self._queue.empty():
            later.append(self._queue.get_nowait())
        for job in jobs:
            self._queue.put_nowait((job, False))  # past the bound, like the rest of recovery
        for item in later:
            self._queue.put_nowait(item)
        self._open.set()

    # -- disabling a hook ------------------------------------------------------------

    async def drop_runs_of(self, hook_name: str, why: str) -> int:
        """Take the queued (not yet started) runs of `hook_name` off the queue; each is
        recorded as a `skipped` execution saying `why`. Returns how many went.

        Runs already handed to a thread go ahead. An event left with no run to do is
        finished as if it had run (skipped counts as done)."""
        kept: list[tuple[Job, bool]] = []
        emptied: list[tuple[Event, list[Execution], asyncio.Future[list[Execution]] | None]] = []
        dropped: list[Execution] = []
        now = time.time()
        while not self._queue.empty():
            item = self._queue.get_nowait()
            (event, hooks, done, trigger, attempt), bounded = item
            if not any(h.name == hook_name for h in hooks):
                kept.append(item)
                continue
            # A new list: the matcher's cached lists are shared, never mutated.
            rest = [h for h in hooks if h.name != hook_name]
            skipped = [
                Execution(
                    hook_name,
                    event.id,
                    "skipped",
                    now,
                    error=why,
                    event_type=event.type,
                    trigger=trigger,
                    attempt=attempt,
                )
                for h in hooks
                if h.name == hook_name
            ]
            dropped.extend(skipped)
            if rest:
                kept.append(((event, rest, done, trigger, attempt), bounded))
            else:
                if bounded:
                    self._room.release()
                emptied.append((event, skipped, done))
        for item in kept:
            self._queue.put_nowait(item)
        for execution in dropped:
            self._store.execution_later(execution)
            self._bus.publish("execution", execution)
            if execution.trigger == "retry":
                self.follow_ups.retry_done(execution.event_id)
        for event, skipped, done in emptied:
            await self._finish(event, skipped, done)
        return len(dropped)

    # -- stopping --------------------------------------------------------------------

    @property
    def halted(self) -> bool:
        return self._halt.is_set()

    @property
    def idle(self) -> bool:
        """No run under way (queued jobs aside)."""
        return self._active == 0

    def halt(self) -> None:
        """Start no more runs. Queued jobs are dropped as they come (a producer waiting
        for room gets it, and its reply); their events stay unfinished for recovery.
        Runs waiting their turn at the gate (mode queued) leave the same way. Runs under
        way go on to their end, each within its deadline. Pending retries are dropped
        (timers cancelled; engine/policy_after.py): nothing retries them later."""
        if self._halt.is_set():
            return
        self._halt.set()
        self.gate.wake()  # runs waiting their turn (mode queued) leave, unfinished
        self.follow_ups.halt()  # pending retries are dropped
        self._open.set()  # recovery still loading: what it had not queued stays pending
        while not self._queue.empty():
            self._drop(self._queue.get_nowait())
        # Every worker may be busy with a long run: one more task keeps dropping.
        if self._reaper is None:
            self._reaper = asyncio.create_task(self._work(), name="dispatch-reaper")

    def resume(self) -> None:
        """Run again after halt() (the engine runs system.shutdown's hooks so)."""
        self._halt.clear()
        self.follow_ups.resume()

    def _drop(self, item: tuple[Job, bool]) -> None:
        event, _hooks, done, _trigger, _attempt = self._took(item)
        if done is not None:
            self._waiters.discard(done)
            if not done.done():
                done.set_exception(_stopped(event))
                done.add_done_callback(_retrieved)

    async def settle(self, timeout: float) -> bool:
        """After halt(): wait until no run is under way (at most `timeout`). The loop keeps
        answering meanwhile: hook threads call into it (state, event.dispatch)."""
        deadline = time.monotonic() + timeout
        while self._active:
            if time.monotonic() > deadline:
                return False
            await asyncio.sleep(0.01)
        return True

    async def stop(self, timeout: float | None = None) -> None:
        """Halt, then cancel the workers and join the pool: at most `timeout` seconds for
        runs under way (None: as long as they take; their deadlines bound them)."""
        self.halt()
        tasks = [*self._workers, *([self._reaper] if self._reaper is not None else [])]
        if timeout is not None:
            await self.settle(timeout)
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        # Runs not started are dropped (their events stay unfinished, for recovery); the
        # ones running are waited for off the loop: a hook in a host call (state.set,
        # event.dispatch) waits for this loop to answer it, so blocking it would deadlock.
        self._pool.shutdown(wait=False, cancel_futures=True)
        if timeout is None:
            await asyncio.to_thread(self._pool.shutdown, wait=True)
        for waiter in self._waiters:
            if not waiter.done():
                waiter.set_exception(_stopped(None))
                waiter.add_done_callback(_retrieved)


def _ran(execution: Execution) -> bool:
    """Whether the hook ran (its run counter moves): a run the gate skipped never started
    and has no duration; one cancelled by mode restart did start, and counts."""
    return execution.status != "skipped" or execution.duration_ms > 0


def _stopped(event: Event | None) -> EventRefused:
    which = "the event" if event is None else f"event {event.id}"
    return EventRefused(
        f"the engine stopped before the hooks of {which} ran; they run at its next start"
    )


def _retrieved(future: asyncio.Future[list[Execution]]) -> None:
    """Nobody may wait for a dropped job's future: mark its exception as seen."""
    if not future.cancelled():
        future.exception()
