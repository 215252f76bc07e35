"""The dispatcher: a bounded run queue, a pool of workers, and hook runs in threads.

An event reaches the queue only after it is committed, so a crash at any
point leaves it `pending`/`processing` in the store, and `recover()` picks it
up on the next start without repeating executions already recorded.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Protocol

from sloth_tui.engine.bus import Bus
from sloth_tui.engine.policy_after import FollowUps
from sloth_tui.engine.policy_gate import PolicyGate
from sloth_tui.engine.store import (
    UPDATE_STATUS,
    Store,
    WriteOp,
    execution_row,
    run_record_ops,
    runs_ops,
    statuses_ops,
)
from sloth_tui.lua.worker import files_checked_per_batch
from sloth_tui.model.errors import EventRefused
from sloth_tui.model.policy import NO_POLICY
from sloth_tui.model.records import Event, Execution, Hook


class Effects(Protocol):
    """A real run's buffered effects (engine/effects.py RunEffects)."""

    @property
    def empty(self) -> bool:
        """Nothing to write but the record: it may wait for the end of the batch."""
        ...

    def commit(self, record: list[WriteOp]) -> asyncio.Future[None]:
        """On the loop: write the effects and `record` in one store write; its future."""
        ...


# Runs one hook on one event in a worker thread and never raises. The run's effects,
# when it has any to keep, commit with its record (None: the record alone).
RunFn = Callable[[Hook, Event], tuple[Execution, Effects | None]]
# Runs several (no gate) in a worker thread, in one Lua call where it can
# (ScopedRuns.many): the results of a prefix of the pairs, at least one. Never raises.
RunManyFn = Callable[[list[tuple[Hook, Event]]], Sequence[tuple[Execution, Effects | None]]]

# An event, the hooks to run on it, the future of whoever waits for the runs, and why
# they run: the trigger and attempt every execution of the job is stamped with.
Job = tuple[Event, list[Hook], "asyncio.Future[list[Execution]] | None", str, int]
# A run that wrote nothing but its record: the hook, the execution, and its row.
PlainRun = tuple[Hook, Execution, tuple[Any, ...]]

# Queued jobs a worker takes at once: one thread hop and one landing for them all
# (16 -> 64: ~11.4k -> ~13.5k trivial runs/s). Runs of the batch not yet started when
# one of its runs stalls are taken by the next lanes (_steal): a big batch does not
# hold runs up behind a slow one.
BATCH = 64
# Lanes: worker k > 0 takes work only while worker k-1 has been on one run this long.
# Short runs then stay on one lane: each run hands the GIL over (lupa frees it for the
# Lua call), and among 8 busy threads those handoffs cost a trivial run 97 µs of CPU in
# hook threads instead of 60 (issue 19: ~8.4k -> ~9.2k runs/s). Runs that block (an http
# call) or take long spill to every lane within a few STALLs, as before. Measured per
# run, not per batch: a batch of 64 quick runs may take longer than STALL, and opening
# lanes for it cost ~8% (13.9k against 15.1k runs/s).
STALL = 0.005
# Runs of events without gated hooks that go to Lua in one call, at most (_run_jobs).
TOGETHER = 32
# A batch's events are written `processing` only once its runs have taken this long:
# quicker runs take an event from `pending` to its final status in one write, not two
# (one UPDATE less per event, and one less change to the unfinished-events index).
# Both statuses mean "not finished" to recovery; the store tells a long run's event
# apart within this time. In memory (event.status) it is `processing` at once.
PROCESSING_AFTER = 0.02


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
        stall: float = STALL,
        run_many: RunManyFn | None = None,
    ) -> None:
        self._store = store
        self._bus = bus
        self._run = run
        self._run_many = run_many
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
        # Per lane (worker): when its batch started (None: idle), and a wake-up for the
        # lane above when it starts one (_spill).
        self._stall = stall
        self._busy_since: list[float | None] = [None] * concurrency
        self._batches: list[deque[Job] | None] = [None] * concurrency  # runs not started
        self._together = [1] * concurrency  # events per Lua call, per lane (_run_jobs)
        self._started = [asyncio.Event() for _ in range(concurrency)]
        self._workers = [
            asyncio.create_task(self._work(i), name=f"dispatch-{i}") for i in range(concurrency)
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
        # What the next store round gets (_gather, called as the writer takes a round):
        # the records of runs without effects, the runs that count on their hook's
        # counter (hook, start), each event's latest status (an event that finishes
        # before its `processing` went out is written once, finished), and the callers
        # of wait=True to answer once that write commits.
        self._rows: list[tuple[Any, ...]] = []  # execution rows (rows.execution_row)
        self._ran: list[tuple[str, float]] = []
        self._statuses: dict[int, str] = {}
        # Events one of whose runs' own commit failed before their batch landed: the
        # batch leaves them unfinished (_effects_committed).
        self._unrecorded: set[int] = set()
        self._answers: list[tuple[asyncio.Future[list[Execution]], list[Execution]]] = []
        store.gather_before_rounds(self._gather)
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

    def _take_room(self) -> bool:
        """Room for one event taken now, as acquire() takes it when not locked, without
        awaiting; False when the queue is full or producers already wait for room."""
        room = self._room
        if room._value <= 0 or room._waiters:  # Semaphore.locked(), without its scan
            return False
        room._value -= 1
        return True

    def submit_if_room(self, event: Event, hooks: list[Hook]) -> bool:
        """submit() of an event nobody waits on, when there is room (the common case):
        no coroutine. False: no room now, so nothing was queued; submit() waits for it."""
        if not self._take_room():
            return False
        self._queue.put_nowait((self._job(event, hooks, False, "event", 1), True))
        return True

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
        if not self._take_room():
            raise EventRefused(
                f"the event queue is full (queue_size = {self._queue_size}): the event was "
                "not dispatched"
            )
        self._reserved += 1

    def submit_reserved(self, event: Event, hooks: list[Hook]) -> None:
        """Queue an event whose room reserve_room() took (its parent has committed)."""
        self._reserved -= 1
        self._queue.put_nowait((self._job(event, hooks, False, "event", 1), True))

    def release_room(self) -> None:
        """A reserved event will not be queued after all (its parent's commit failed)."""
        self._reserved -= 1
        self._room.release()

    async def _work(self, lane: int | None) -> None:
        """A worker on `lane`; None: the reaper (halt), which drops at once and, after a
        resume, works beside the lanes without their bookkeeping."""
        loop = asyncio.get_running_loop()
        while True:
            if not self._open.is_set():  # recovery first puts the events it recovered
                await self._open.wait()
            batch = None
            if lane:
                await self._spill(lane)
                batch = self._steal(lane)
            if batch is None:
                item = await self._queue.get()
                if self._halt.is_set():
                    self._drop(item)
                    continue
                if not self._open.is_set():  # held while this worker waited for work
                    self._put_back(item)
                    continue
                batch = deque((self._took(item),))
                # What is already queued goes along: one thread hop for several runs,
                # since a trivial hook costs less than the hop itself.
                while len(batch) < BATCH and not self._queue.empty():
                    batch.append(self._took(self._queue.get_nowait()))
                self._active += len(batch)
            if lane is not None:
                self._busy_since[lane] = loop.time()
                self._batches[lane] = batch
                self._started[lane].set()
            try:
                await self._process(loop, batch, lane)
            finally:
                if lane is not None:
                    self._busy_since[lane] = None
                    self._batches[lane] = None

    async def _spill(self, lane: int) -> None:
        """Return once the lane below has been on one run for `stall` (see STALL)."""
        below = lane - 1
        while True:
            since = self._busy_since[below]
            if since is None:  # idle: it takes the next work itself
                started = self._started[below]
                started.clear()
                await started.wait()
                continue
            wait = since + self._stall - self._loop.time()
            if wait <= 0:
                return
            await asyncio.sleep(wait)  # then look again: the same batch, or a new one

    def _steal(self, lane: int) -> deque[Job] | None:
        """Runs not yet started in the batch of a stalled lane below (_spill let this one
        open): the back half of the one with the most. Runs queued behind a slow one in
        its batch then need not wait for it. None when there are none (the queue next)."""
        if self._halt.is_set():
            return None
        stalled_before = self._loop.time() - self._stall
        most: deque[Job] | None = None
        for below in range(lane):
            batch, since = self._batches[below], self._busy_since[below]
            if not batch or since is None or since > stalled_before:
                continue
            if most is None or len(batch) > len(most):
                most = batch
        if most is None:
            return None
        stolen: deque[Job] = deque()
        for _ in range((len(most) + 1) // 2):
            try:  # that lane's thread takes from the front meanwhile: each pop is atomic
                stolen.appendleft(most.pop())
            except IndexError:
                break
        return stolen or None

    def _took(self, item: tuple[Job, bool]) -> Job:
        job, bounded = item
        if bounded:
            self._room.release()
        return job

    def _run_jobs(self, batch: deque[Job], landed: asyncio.Future[None], lane: int | None) -> None:
        """In a pool thread: every hook of every event of the batch, in order, taking
        events from the front of `batch` (a stalled lane's neighbour takes from the back:
        _steal); then one hop to the loop (_landed) with what ran, which resolves `landed`.

        Events whose hooks have no gate go together, several runs per Lua call (run_many):
        one event at first, twice as many after each call whose runs all ran quickly (no
        host call, no clock read: see Worker.run_many), up to TOGETHER; back to one after
        any other; the lane keeps the count from one batch to the next. Runs that call
        out, or block, so go one event at a time, and the rest of the batch stays where a
        stalled lane's neighbour can take it.

        Stopping ends the batch between two calls: the events not started are left in
        `batch`, and the last event's list of runs may be shorter than its hooks."""
        done: list[tuple[Job, list[Execution]]] = []
        # Runs that wrote nothing (most): their records go to the loop with the batch's
        # end, in one hop, since a hop costs more than a trivial run.
        plain: list[PlainRun] = []
        files_checked_per_batch(batch)  # the batch's runs share a look at each hook file
        # How many go together carries over from the lane's last batch (the reaper: 1).
        together = 1 if lane is None else self._together[lane]
        try:
            while batch:
                try:
                    job = batch.popleft()
                except IndexError:  # the last one was stolen meanwhile
                    break
                if self._run_many is None or _gated(job[1]):
                    together = 1
                    if not self._run_alone(job, done, plain, lane):
                        return
                    continue
                jobs = [job]
                while len(jobs) < together:
                    try:
                        job = batch.popleft()
                    except IndexError:
                        break
                    if _gated(job[1]):
                        batch.appendleft(job)  # alone, next
                        break
                    jobs.append(job)
                quick = self._run_together(jobs, batch, done, plain, lane)
                if quick is None:  # stopping, or the loop is closed
                    return
                together = min(together * 2, TOGETHER) if quick else 1
        finally:
            if lane is not None:
                self._together[lane] = together
            files_checked_per_batch(None)
            # Also when the worker task was cancelled meanwhile (a stop): what ran is
            # recorded all the same, by this callback.
            with contextlib.suppress(RuntimeError):  # the loop is closed
                self._loop.call_soon_threadsafe(self._landed, batch, done, plain, landed)

    def _run_alone(
        self,
        job: Job,
        done: list[tuple[Job, list[Execution]]],
        plain: list[PlainRun],
        lane: int | None,
    ) -> bool:
        """One event's hooks, one run at a time (gated hooks go through the gate). False:
        stop the batch (stopping, or the loop is closed)."""
        event, hooks, _done, _trigger, _attempt = job
        runs: list[Execution] = []
        done.append((job, runs))
        for hook in hooks:
            if self._halt.is_set():
                return False
            if lane is not None:  # a lane stalls on one slow run, not a long batch
                self._busy_since[lane] = self._loop.time()
            # A hook without a policy (NO_POLICY, shared) costs one identity test.
            policy = hook.policy
            if policy is NO_POLICY or not policy.gated:
                execution, effects = self._run(hook, event)
            else:
                # A gated run may wait its turn a long time: it looks at its file when it
                # starts, and the next runs look again after it.
                files_checked_per_batch(None)
                gated = self.gate.run(hook, event, self._run)
                files_checked_per_batch(object())
                if gated is None:  # halted while it waited its turn
                    return False
                execution, effects = gated
            if not self._record_run(job, hook, execution, effects, runs, plain):
                return False
        return True

    def _run_together(
        self,
        jobs: list[Job],
        batch: deque[Job],
        done: list[tuple[Job, list[Execution]]],
        plain: list[PlainRun],
        lane: int | None,
    ) -> bool | None:
        """The runs of `jobs` (no gate), as many per call as run_many takes. True when the
        first call took them all (they were quick); None: stop the batch, with the events
        not started put back in `batch`."""
        assert self._run_many is not None
        pairs = [(hook, job[0]) for job in jobs for hook in job[1]]
        owners = [k for k, job in enumerate(jobs) for _hook in job[1]]
        runs_of: list[list[Execution] | None] = [None] * len(jobs)
        pos = 0
        quick = True
        while pos < len(pairs):
            if self._halt.is_set():
                first = owners[pos] if runs_of[owners[pos]] is None else owners[pos] + 1
                batch.extendleft(reversed(jobs[first:]))  # not started: left for recovery
                return None
            if lane is not None:  # a lane stalls on one slow call
                self._busy_since[lane] = self._loop.time()
            got = self._run_many(pairs[pos:])
            quick = quick and len(got) == len(pairs) - pos
            for execution, effects in got:
                k, hook = owners[pos], pairs[pos][0]
                pos += 1
                runs = runs_of[k]
                if runs is None:
                    runs = runs_of[k] = []
                    done.append((jobs[k], runs))
                if not self._record_run(jobs[k], hook, execution, effects, runs, plain):
                    return None
        return quick

    def _record_run(
        self,
        job: Job,
        hook: Hook,
        execution: Execution,
        effects: Effects | None,
        runs: list[Execution],
        plain: list[PlainRun],
    ) -> bool:
        """In the pool thread, after a run: its record to buffer (plain), or its effects to
        commit now. False when the loop is closed (the engine was torn down)."""
        trigger = job[3]
        if trigger != "event":
            execution.trigger = trigger
            execution.attempt = job[4]
        if effects is None or effects.empty:
            # Its row is made here, not on the loop: the loop's time is what producers
            # wait on, and a pool thread has the GIL when the loop waits on the writer.
            plain.append((hook, execution, execution_row(execution)))
        else:
            # Committed now, not after the batch: the next run (of this batch, or another
            # thread's) reads this one's state writes (PendingState), and the loop takes
            # this callback before it answers that read.
            try:
                self._loop.call_soon_threadsafe(self._commit, job[0], hook, execution, effects)
            except RuntimeError:
                return False
        runs.append(execution)
        return True

    def _commit(self, event: Event, hook: Hook, execution: Execution, effects: Effects) -> None:
        """On the loop: a run's effects with its record and its hook's counter, one write."""
        committed = effects.commit(run_record_ops(execution, hook.name))
        committed.add_done_callback(functools.partial(self._effects_committed, event))

    def _effects_committed(self, event: Event, committed: asyncio.Future[None]) -> None:
        """A run's own commit failed (a full disk, a damaged store): its event must not
        be finished without the run's record, so that the next start runs it again. If
        its batch has landed, its final status is buffered for the next round (then it
        is buffered unfinished instead: a write queued now would go before the buffer's)
        or queued already (then a write queued after it marks it unfinished again, held
        through a full disk as that status is). If its batch has not landed, the batch
        leaves it unfinished when it lands (_landed)."""
        if not committed.cancelled() and committed.exception() is None:
            return
        if event.status not in FINAL:
            self._unrecorded.add(event.id)
        elif event.id in self._statuses:
            self._statuses[event.id] = "processing"
        else:
            self._store.write_later((UPDATE_STATUS, ("processing", event.id)), keep=True)

    async def _process(
        self, loop: asyncio.AbstractEventLoop, batch: deque[Job], lane: int | None
    ) -> None:
        events = [job[0] for job in batch]
        for event in events:
            event.status = "processing"
        landed = loop.create_future()
        try:
            self._pool.submit(self._run_jobs, batch, landed, lane)
        except RuntimeError:  # pool shut down while stopping: the events stay unfinished
            self._active -= len(batch)
            batch.clear()
            return
        slow = loop.call_later(PROCESSING_AFTER, self._processing, events)
        try:
            await landed
        finally:
            slow.cancel()

    def _processing(self, events: list[Event]) -> None:
        """A batch still running after PROCESSING_AFTER: its unfinished events are written
        `processing` (an event the batch finished meanwhile keeps its final status)."""
        statuses = self._statuses
        for event in events:
            if event.status == "processing":
                statuses[event.id] = "processing"
        self._store.wake()

    def _landed(
        self,
        batch: deque[Job],
        done: list[tuple[Job, list[Execution]]],
        plain: list[PlainRun],
        landed: asyncio.Future[None],
    ) -> None:
        """On the loop, once per batch: buffer the records of what ran and the status of
        each event whose runs all ran, for the store's next round (_gather). (Runs with
        effects were committed already, in writes queued before that one.)

        When stopping cut the batch, what ran is recorded, an event with runs missing
        stays `processing`, and the events left in `batch` stay as they were: all of
        them for recovery."""
        self._active -= len(done) + len(batch)
        batch.clear()
        rows, ran = self._rows, self._ran
        for hook, execution, row in plain:
            rows.append(row)
            if _ran(execution):
                ran.append((hook.name, execution.started))
        statuses = self._statuses
        notices: list[Event] = []
        follow_ups = self.follow_ups
        # Runs once per batch, its loops once per run: no notice is made for nobody.
        publish = self._bus.publish if self._bus.subscriber_count else None
        total = 0
        for (event, hooks, waiter, trigger, _attempt), executions in done:
            total += len(executions)
            for hook, execution in zip(hooks, executions, strict=False):
                if _ran(execution):
                    hook.run_count += 1
                    # The latest start (runs end out of order), as the store keeps it.
                    if hook.last_run is None or execution.started > hook.last_run:
                        hook.last_run = execution.started
                if publish is not None:
                    publish("execution", execution)
                policy = hook.policy
                if trigger == "retry" or (
                    policy is not NO_POLICY
                    and (policy.retry is not None or policy.auto_disable is not None)
                ):
                    follow_ups.ran(hook, event, execution)
            if len(executions) == len(hooks):
                ok = follow_ups.settled(event, executions)
                if self._unrecorded and event.id in self._unrecorded:
                    self._unrecorded.discard(event.id)  # a run's own commit failed
                    event.status = "processing"  # unfinished: the next start reruns it
                else:
                    event.status = statuses[event.id] = "completed" if ok else "failed"
                notices.append(event)
                if waiter is not None:
                    self._waiters.discard(waiter)
                    self._answers.append((waiter, executions))
        self.executions_total += total
        self._store.wake()
        if publish is not None:
            for event in notices:
                publish("event_status", event)
        if not landed.done():  # cancelled: the worker task was stopped meanwhile
            landed.set_result(None)

    def _finish(
        self,
        event: Event,
        executions: list[Execution],
        done: asyncio.Future[list[Execution]] | None,
    ) -> None:
        """An event finished outside a batch (drop_runs_of)."""
        ok = self.follow_ups.settled(event, executions)
        event.status = self._statuses[event.id] = "completed" if ok else "failed"
        if done is not None:
            self._waiters.discard(done)
            self._answers.append((done, executions))
        self._store.wake()
        self._bus.publish("event_status", event)

    def _gather(self) -> None:
        """Called by the store as its writer takes a round (and by Store.flush): what
        the batches landed since the last round buffered, as ONE write: the execution
        rows (one multi-row INSERT), one counter update per hook, then the statuses
        (one UPDATE per status and chunk of ids). One transaction, so an event is never
        marked finished before its executions are recorded."""
        if not (self._rows or self._statuses):
            return
        ops = runs_ops(self._rows, self._ran)
        by_status: dict[str, list[int]] = {}
        for event_id, status in self._statuses.items():
            by_status.setdefault(status, []).append(event_id)
        for status, ids in by_status.items():
            ops.extend(statuses_ops(ids, status))
        answers = self._answers
        self._rows, self._ran, self._statuses, self._answers = [], [], {}, []
        # Kept: on a full disk they are held and stored once space returns, or the
        # events would be unfinished and run again at the next start (held_writes.py).
        if answers:  # answered once all of it is committed (the round's commit)
            self._store.write_kept(*ops).add_done_callback(functools.partial(_answer, answers))
        elif ops:
            self._store.write_later(*ops, keep=True)

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

    def _put_back(self, item: tuple[Job, bool]) -> None:
        """`item` back at the front of the queue: a worker parked on the queue before a
        hold() took it (the engine's own hold comes before any worker runs; a later one
        must hold all the same, and put_first's jobs still go ahead of it)."""
        later = [item]
        while not self._queue.empty():
            later.append(self._queue.get_nowait())
        for queued in later:
            self._queue.put_nowait(queued)

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

    def _unstarted_in_batches(self, hook_name: str) -> list[tuple[Job, bool]]:
        """The runs not yet started of every batch that holds one for `hook_name`, taken
        out (from the back, as _steal does, while the batch's thread takes from the
        front): they go back to the queue, ahead of the rest, as past-the-bound items
        (their room was freed when their batch took them)."""
        taken: list[tuple[Job, bool]] = []
        for batch in self._batches:
            # tuple(): one C call, so the batch's thread cannot change it meanwhile.
            if not batch or not any(h.name == hook_name for j in tuple(batch) for h in j[1]):
                continue
            out: list[Job] = []
            while True:
                try:
                    out.append(batch.pop())
                except IndexError:
                    break
            self._active -= len(out)  # no longer in a batch: _landed will not count them
            taken.extend((job, False) for job in reversed(out))
        return taken

    async def drop_runs_of(self, hook_name: str, why: str) -> int:
        """Take the runs of `hook_name` not yet started off the queue and out of the
        lanes' batches; each is recorded as a `skipped` execution saying `why`. Returns
        how many went.

        Runs under way go ahead. An event left with no run to do is finished as if it had
        run (skipped counts as done)."""
        kept: list[tuple[Job, bool]] = []
        emptied: list[tuple[Event, list[Execution], asyncio.Future[list[Execution]] | None]] = []
        dropped: list[Execution] = []
        now = time.time()
        items = self._unstarted_in_batches(hook_name)
        while not self._queue.empty():
            items.append(self._queue.get_nowait())
        for item in items:
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
            self._rows.append(execution_row(execution))  # next round, before any status
            self._bus.publish("execution", execution)
            if execution.trigger == "retry":
                self.follow_ups.retry_done(execution.event_id)
        if dropped:
            self._store.wake()
        for event, skipped, done in emptied:
            self._finish(event, skipped, done)
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
            self._reaper = asyncio.create_task(self._work(None), name="dispatch-reaper")

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


FINAL = frozenset({"completed", "failed"})  # an event's statuses once its hooks ran


def _gated(hooks: list[Hook]) -> bool:
    """Some hook has a gate (mode, throttle, dedupe...): its runs go one at a time."""
    return any(h.policy is not NO_POLICY and h.policy.gated for h in hooks)


def _ran(execution: Execution) -> bool:
    """Whether the hook ran (its run counter moves): a run the gate skipped never started
    and has no duration; one cancelled by mode restart did start, and counts."""
    return execution.status != "skipped" or execution.duration_ms > 0


def _answer(
    waiters: list[tuple[asyncio.Future[list[Execution]], list[Execution]]],
    committed: asyncio.Future[None],
) -> None:
    """Those who wait for runs (wait=True) get them once their write has committed. A
    failed write does not fail them: the runs did run (as Store.flush never raised)."""
    if not committed.cancelled():
        committed.exception()  # seen: a failed write is logged by the store
    for done, executions in waiters:
        if not done.done():
            done.set_result(executions)


def _stopped(event: Event | None) -> EventRefused:
    which = "the event" if event is None else f"event {event.id}"
    return EventRefused(
        f"the engine stopped before the hooks of {which} ran; they run at its next start"
    )


def _retrieved(future: asyncio.Future[list[Execution]]) -> None:
    """Nobody may wait for a dropped job's future: mark its exception as seen."""
    if not future.cancelled():
        future.exception()
