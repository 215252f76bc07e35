"""The dispatcher: a bounded run queue, a pool of workers, and hook runs in threads.

An event reaches the queue only after it is committed, so a crash at any
point leaves it `pending`/`processing` in the store, and `recover()` picks it
up on the next start without repeating executions already recorded.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

from sloth_tui.engine.bus import Bus
from sloth_tui.engine.records import OK_STATUSES, Event, Execution, Hook
from sloth_tui.engine.store import INSERT_EXECUTION, Store, execution_row

UPDATE_STATUS = "UPDATE events SET status = ? WHERE id = ?"
UPDATE_HOOK_RUN = "UPDATE hooks SET run_count = run_count + 1, last_run = ? WHERE name = ?"

# Runs one hook on one event in a worker thread and never raises.
RunFn = Callable[[Hook, Event], Execution]

# An event, the hooks to run on it, and the future of whoever waits for the runs.
Job = tuple[Event, list[Hook], "asyncio.Future[list[Execution]] | None"]

BATCH = 16  # queued jobs a worker takes at once


class Dispatcher:
    def __init__(
        self, store: Store, bus: Bus, run: RunFn, *, concurrency: int, queue_size: int
    ) -> None:
        self._store = store
        self._bus = bus
        self._run = run
        # The queue itself is unbounded; `_room` bounds what producers may add. Events
        # dispatched by hooks skip the bound: a hook thread waiting for room that only
        # hook threads free would deadlock. Chain depth bounds those instead.
        self._queue: asyncio.Queue[tuple[Job, bool]] = asyncio.Queue()
        self._room = asyncio.Semaphore(queue_size)
        self._pool = ThreadPoolExecutor(max_workers=concurrency, thread_name_prefix="hook")
        self._workers = [
            asyncio.create_task(self._work(), name=f"dispatch-{i}") for i in range(concurrency)
        ]
        self._waiters: set[asyncio.Future[list[Execution]]] = set()  # cancelled on stop
        self._active = 0
        self.executions_total = 0

    @property
    def depth(self) -> int:
        return self._queue.qsize() + self._active

    def _job(self, event: Event, hooks: list[Hook], wait: bool) -> Job:
        done = asyncio.get_running_loop().create_future() if wait else None
        if done is not None:
            self._waiters.add(done)
        return event, hooks, done

    async def submit(
        self, event: Event, hooks: list[Hook], *, wait: bool = False
    ) -> asyncio.Future[list[Execution]] | None:
        """Queue work, waiting for room when the queue is full (backpressure).

        With wait=True, returns a future for the executions, done once they are stored.
        """
        await self._room.acquire()
        job = self._job(event, hooks, wait)
        self._queue.put_nowait((job, True))
        return job[2]

    def submit_nowait(
        self, event: Event, hooks: list[Hook], *, wait: bool = False
    ) -> asyncio.Future[list[Execution]] | None:
        """Queue work past the bound (hook-dispatched events, recovery)."""
        job = self._job(event, hooks, wait)
        self._queue.put_nowait((job, False))
        return job[2]

    async def _work(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            jobs = [self._took(await self._queue.get())]
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
        """In a pool thread: every hook of every event of the batch, in order."""
        return [[self._run(hook, event) for hook in hooks] for event, hooks, _done in jobs]

    async def _process(self, loop: asyncio.AbstractEventLoop, jobs: list[Job]) -> None:
        for event, _hooks, _done in jobs:
            event.status = "processing"
            self._store.write_later((UPDATE_STATUS, ("processing", event.id)))
        try:
            results = await loop.run_in_executor(self._pool, self._run_jobs, jobs)
        except RuntimeError:  # pool shut down while stopping: the events stay unfinished
            return
        for (event, hooks, done), executions in zip(jobs, results, strict=True):
            for hook, execution in zip(hooks, executions, strict=True):
                hook.run_count += 1
                hook.last_run = execution.started
                self._store.write_later(
                    (INSERT_EXECUTION, execution_row(execution)),
                    (UPDATE_HOOK_RUN, (execution.started, hook.name)),
                )
                self.executions_total += 1
                self._bus.publish("execution", execution)
            await self._finish(event, executions, done)

    async def _finish(
        self,
        event: Event,
        executions: list[Execution],
        done: asyncio.Future[list[Execution]] | None,
    ) -> None:
        ok = all(e.status in OK_STATUSES for e in executions)
        event.status = "completed" if ok else "failed"
        self._store.write_later((UPDATE_STATUS, (event.status, event.id)))
        self._bus.publish("event_status", event)
        if done is not None:
            self._waiters.discard(done)
            if not done.done():
                await self._store.flush()
                done.set_result(executions)

    async def drain(self, timeout: float) -> bool:
        """Wait until queued work is done; False if `timeout` passed first."""
        deadline = time.monotonic() + timeout
        while self.depth:
            if time.monotonic() > deadline:
                return False
            await asyncio.sleep(0.01)
        return True

    async def stop(self) -> None:
        for task in self._workers:
            task.cancel()
        for task in self._workers:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        # Runs not started are dropped (their events stay unfinished, for recovery); the
        # ones running are waited for off the loop: a hook in a host call (state.set,
        # event.dispatch) waits for this loop to answer it, so blocking it would deadlock.
        self._pool.shutdown(wait=False, cancel_futures=True)
        await asyncio.to_thread(self._pool.shutdown, wait=True)
        for waiter in self._waiters:
            if not waiter.done():
                waiter.cancel()
