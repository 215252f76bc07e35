"""HookRunner: each hook runs once per event across the fleet.

Every enabled hook of this engine's registry has one durable pull consumer on the events
stream (subjects.hook_consumer), shared by every engine of the fleet: JetStream hands
each event to one of them. Each engine pulls batches, runs them through its own engine
(FleetPort.run_hook: the dispatcher, with the hook's policies) and acks a message only
once the run's record is committed. The consumer delivers from the hook's creation, so
a new hook does not run on history; its subject filter is coarse (one per consumer on
nats-server 2.9) and the engine's matcher decides. Done-markers (claims_runs.py) make a
redelivered message whose run had finished a no-op, and let a run whose engine died be
taken over.

The registry is followed by a 1 s poll of api.list_hooks(): a hook enabled, disabled,
added or with new patterns is picked up within a second, without a seam to the bus.

Counters (fleet_status): runs, runs_skipped_done (finished elsewhere or before),
runs_not_here (run_hook None), runs_taken_over (from a holder gone), runs_waiting (a live
holder runs it), runs_refused (not an event, or refused by this engine's door),
runs_failed_here (nak'd after an error here), runs_finish_lost (taken over while it
ran), runs_marked_done_at_start (recorded before a crash, marked done at the start).
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime
import logging
import re
import time
import uuid
from dataclasses import dataclass, field
from fnmatch import translate
from typing import TYPE_CHECKING

from sloth_tui.fleet import subjects
from sloth_tui.fleet.claims_runs import Markers, Verdict
from sloth_tui.fleet.codec import CodecError, FleetEvent, decode_event
from sloth_tui.fleet.parts import FleetContext
from sloth_tui.model.records import Event, Hook
from sloth_tui.refusal_log import RefusalLog

if TYPE_CHECKING:
    from nats.aio.msg import Msg
    from nats.js import JetStreamContext

log = logging.getLogger("sloth_tui.fleet")

POLL_S = 1.0  # how often the registry is read for changes
ACK_MARGIN_S = 5.0  # ack_wait = the hook's timeout + this: a run's queueing and commit
BATCH = 8  # messages per fetch: small, so that a burst spreads over the engines
IN_FLIGHT = 32  # messages of one hook being handled here at once (fetching waits)
JOIN_BACKLOG_S = 300.0  # how far back a hook's new consumer starts, at most (see below)
STOP_GRACE_S = 10.0  # how long a stop lets runs under way finish and be acked
FETCH_TIMEOUT_S = 2.0
MAX_ACK_PENDING = 256  # per hook, fleet-wide: runs handed out and not yet acked
LOST_DELAY_S = 1.0  # nak delay when another engine took a marker meanwhile
RETRY_DELAY_S = 2.0  # nak delay after a failure here (NATS call, store, stopping)
RECOVER_WINDOW_S = 3600.0  # own runs looked at on start (a commit not marked done)
RECOVER_CHUNK = 64


@dataclass(slots=True)
class HookSlot:
    """One hook this engine pulls for: its consumer's shape and its pull loop."""

    hook: Hook
    filter: str
    ack_wait: float
    task: asyncio.Task[None] | None = None
    # Its runs that fail here, said once per reason then counted: a full disk fails every
    # run handed to this engine, and each comes back every RETRY_DELAY_S.
    failures: RefusalLog = field(init=False)
    _patterns: re.Pattern[str] = field(init=False)

    def __post_init__(self) -> None:
        self.failures = RefusalLog(f"fleet: hook {self.hook.name}", log, "runs", "failed here")
        self.follow(self.hook)

    def follow(self, hook: Hook) -> None:
        """The same consumer, the hook's other fields changed (stack, `when`...)."""
        self.hook = hook
        self._patterns = re.compile("|".join(f"(?:{translate(p)})" for p in hook.events))

    def matches(self, event: Event) -> bool:
        """The engine's matcher's rule (engine/hooks.Matcher: glob patterns, the stack,
        `when`), to skip early what the coarse subject filter lets through; run_hook
        asks the engine's own matcher again before running."""
        hook = self.hook
        if not self._patterns.match(event.type):
            return False
        if hook.stack is not None and hook.stack != event.stack:
            return False
        condition = hook.policy.condition
        return condition is None or bool(condition.matches(event))


def slot_for(prefix: str, hook: Hook) -> HookSlot:
    return HookSlot(
        hook=hook,
        filter=subjects.hook_filter(prefix, hook.events),
        ack_wait=float(hook.timeout) + ACK_MARGIN_S,
    )


class HookRunner:
    name = "runner"

    def __init__(self) -> None:
        self.ctx: FleetContext | None = None
        self.incarnation = uuid.uuid4().hex
        self.markers: Markers | None = None
        self.slots: dict[str, HookSlot] = {}
        self._watch: asyncio.Task[None] | None = None
        self._sync_lock = asyncio.Lock()
        self._recovered = False
        self._ready = False  # recovery done, consumers may start
        self._stopping = False
        # Messages being handled, whoever's pull loop fetched them: a slot stopped (hook
        # disabled, patterns changed, reconnection) lets them finish, since a run left
        # midway would keep its marker "running" by this live process.
        self._handling: set[asyncio.Task[None]] = set()
        self._running_keys: set[str] = set()  # done-keys this process runs right now

    async def start(self, ctx: FleetContext) -> None:
        self.ctx = ctx
        # One incarnation per process; the membership's when the context carries one.
        self.incarnation = getattr(ctx, "incarnation", None) or self.incarnation
        ctx.link.on_connect(self._connected)
        self._watch = asyncio.create_task(self._poll(), name="fleet-runner-watch")

    async def stop(self) -> None:
        self._stopping = True
        if self._watch is not None:
            self._watch.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._watch
        await self._stop_slots(list(self.slots))
        if self._handling:  # runs under way: recorded and acked if they end soon
            _done, late = await asyncio.wait(set(self._handling), timeout=STOP_GRACE_S)
            for task in late:
                task.cancel()
            await asyncio.gather(*late, return_exceptions=True)

    # -- following the registry and the link ---------------------------------------------

    async def _connected(self) -> None:
        """After each (re)connection: the markers' buckets, the start's recovery (once),
        then every consumer again (a restarted NATS may have lost them)."""
        ctx = self._context()
        self.markers = Markers(
            await ctx.link.kv("done"), await ctx.link.kv("members"), ctx.name, self.incarnation
        )
        if not self._recovered:
            self._recovered = True  # once: what follows consumes either way
            try:
                await self._finish_own_runs(self.markers)
            except Exception as exc:  # NATS or the store failed: a crash-window run may redo
                log.warning("fleet: runs recorded before a crash not checked: %s", exc)
        self._ready = True
        await self._sync(restart=True)

    async def _poll(self) -> None:
        while not self._stopping:
            await asyncio.sleep(POLL_S)
            if not (self._ready and self._context().link.connected):
                continue
            try:
                await self._sync()
            except Exception as exc:  # NATS went away mid-sync: the next round tries again
                log.debug("fleet runner: sync: %s", exc)

    async def _sync(self, restart: bool = False) -> None:
        ctx = self._context()
        async with self._sync_lock:
            if self._stopping:
                return
            wanted = {h.name: slot_for(ctx.prefix, h) for h in await ctx.api.list_hooks()}
            wanted = {name: s for name, s in wanted.items() if s.hook.enabled}
            gone = [
                name
                for name, slot in self.slots.items()
                if restart
                or name not in wanted
                or (wanted[name].filter, wanted[name].ack_wait) != (slot.filter, slot.ack_wait)
                or slot.task is None
                or slot.task.done()
            ]
            await self._stop_slots(gone)
            for name, slot in wanted.items():
                current = self.slots.get(name)
                if current is not None:
                    # Same consumer: patterns' `when`, stack and the rest follow in place.
                    if current.hook != slot.hook:
                        current.follow(slot.hook)
                    continue
                await self._ensure_consumer(slot)
                slot.task = asyncio.create_task(self._pull(slot), name=f"fleet-hook-{name}")
                self.slots[name] = slot

    async def _stop_slots(self, names: list[str]) -> None:
        tasks = []
        for name in names:
            slot = self.slots.pop(name, None)
            if slot is not None and slot.task is not None:
                slot.task.cancel()
                tasks.append(slot.task)
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task

    async def _ensure_consumer(self, slot: HookSlot) -> None:
        """The hook's shared consumer: created when missing (delivering from the hook's
        creation, or from JOIN_BACKLOG_S ago for an older hook), created anew from now
        when its filter changed with the patterns (else it would run the new patterns on
        history). Every engine asks the same."""
        from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy
        from nats.js.errors import NotFoundError

        ctx = self._context()
        js = ctx.link.jetstream()
        stream = subjects.events_stream(ctx.prefix)
        durable = subjects.hook_consumer(slot.hook.name)
        # From the hook's creation, but not from further back than JOIN_BACKLOG_S: a hook
        # an engine had long before it joined the fleet must not run on the stream's
        # whole history (up to 7 days of the other engines' events).
        start = consumer_start(slot.hook.created, time.time())
        try:
            info = await js.consumer_info(stream, durable)
        except NotFoundError:
            pass
        else:
            if info.config.filter_subject == slot.filter:
                return  # another engine's, or ours from before: the same work queue
            log.info("fleet: hook %s has new patterns: its consumer starts anew", slot.hook.name)
            with contextlib.suppress(NotFoundError):
                await js.delete_consumer(stream, durable)
            start = time.time()
        config = ConsumerConfig(
            durable_name=durable,
            deliver_policy=DeliverPolicy.BY_START_TIME,
            opt_start_time=datetime.datetime.fromtimestamp(start, tz=datetime.UTC),
            ack_policy=AckPolicy.EXPLICIT,
            ack_wait=slot.ack_wait,
            max_ack_pending=MAX_ACK_PENDING,
            max_deliver=-1,  # never given up on: a run is lost only if no engine has the hook
            filter_subject=slot.filter,
        )
        try:
            await js.add_consumer(stream, config)
        except Exception as exc:
            # Another engine made it first, maybe with its own copy's creation time: its
            # consumer is the shared one (nats-server refuses a second config).
            log.debug("fleet: hook %s consumer: %s", slot.hook.name, exc)
            await js.consumer_info(stream, durable)  # raises when it truly is missing

    # -- pulling and running ---------------------------------------------------------------

    async def _pull(self, slot: HookSlot) -> None:
        """Fetch while there is room (IN_FLIGHT), each message handled in a task of its
        own: the dispatcher bounds how many run at once, and a slow run does not hold
        the next fetch."""
        from nats.errors import TimeoutError as NatsTimeout

        ctx = self._context()
        stream = subjects.events_stream(ctx.prefix)
        durable = subjects.hook_consumer(slot.hook.name)
        mine: set[asyncio.Task[None]] = set()
        while not self._stopping:
            try:
                js: JetStreamContext = ctx.link.jetstream()
                sub = await js.pull_subscribe_bind(durable=durable, stream=stream)
            except Exception as exc:  # down: the link's on_connect restarts the loops
                log.debug("fleet: hook %s: cannot bind: %s", slot.hook.name, exc)
                await asyncio.sleep(RETRY_DELAY_S)
                continue
            try:
                while not self._stopping:
                    room = IN_FLIGHT - len(mine)
                    if room <= 0:
                        await asyncio.wait(set(mine), return_when=asyncio.FIRST_COMPLETED)
                        continue
                    try:
                        msgs = await sub.fetch(min(BATCH, room), timeout=FETCH_TIMEOUT_S)
                    except (NatsTimeout, TimeoutError):
                        continue
                    for msg in msgs:
                        task = asyncio.create_task(self._handle(slot, msg))
                        for tasks in (mine, self._handling):
                            tasks.add(task)
                            task.add_done_callback(tasks.discard)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # disconnected, consumer gone: bind again
                log.debug("fleet: hook %s: pull: %s", slot.hook.name, exc)
                await asyncio.sleep(RETRY_DELAY_S)
                with contextlib.suppress(Exception):
                    await self._ensure_consumer(slot)
            finally:
                with contextlib.suppress(Exception):
                    await sub.unsubscribe()

    async def _handle(self, slot: HookSlot, msg: Msg) -> None:
        """One message: ack once its run is recorded (or known done elsewhere); nak to
        come back later; nothing (redelivered after ack_wait) when NATS is away."""
        ctx = self._context()
        fev: FleetEvent | None = None
        try:
            try:
                fev = decode_event(msg.data)
            except CodecError as exc:
                ctx.counters.add("runs_refused")
                log.debug("fleet: hook %s: refused a message: %s", slot.hook.name, exc)
                await msg.term()  # never valid: no engine should see it again
                return
            if not slot.matches(fev.event):  # the subject filter is only coarse
                await msg.ack()
                return
            await self._run(slot, msg, fev)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            ctx.counters.add("runs_failed_here")
            slot.failures.refused(f"a run on {fev.event.type}" if fev else "a run", exc)
            with contextlib.suppress(Exception):
                await msg.nak(delay=RETRY_DELAY_S)
        else:
            slot.failures.taken()

    async def _run(self, slot: HookSlot, msg: Msg, fev: FleetEvent) -> None:
        ctx = self._context()
        local_id = await self._local_id(fev)
        if local_id is None:  # this engine's door refused the event: nothing to run on
            ctx.counters.add("runs_refused")
            await msg.ack()
            return
        hook = slot.hook.name
        key = subjects.done_key(hook, fev.fleet_id)
        if key in self._running_keys:  # this process runs it now (a redelivery): later
            ctx.counters.add("runs_waiting")
            await msg.nak(delay=slot.ack_wait / 2)
            return
        self._running_keys.add(key)
        try:
            await self._claim_and_run(slot, msg, key, local_id)
        finally:
            self._running_keys.discard(key)

    async def _claim_and_run(self, slot: HookSlot, msg: Msg, key: str, local_id: int) -> None:
        ctx = self._context()
        markers = self.markers
        assert markers is not None
        hook = slot.hook.name
        claim = await markers.claim(key, slot.ack_wait)
        if claim.verdict is Verdict.ORPHAN:
            recorded = await self._recorded_here(local_id, hook)
            if recorded is not None:  # ran and committed here; only the update was lost
                await markers.finish(key, claim.revision, recorded)
                ctx.counters.add("runs_skipped_done")
                await msg.ack()
                return
        if claim.verdict is Verdict.DONE:
            ctx.counters.add("runs_skipped_done")
            await msg.ack()
            return
        if claim.verdict is Verdict.WAIT:
            ctx.counters.add("runs_waiting")
            await msg.nak(delay=slot.ack_wait / 2)
            return
        if claim.verdict is Verdict.LOST:
            await msg.nak(delay=LOST_DELAY_S)
            return
        if claim.verdict is Verdict.TAKEN_OVER:
            ctx.counters.add("runs_taken_over")
        keeper = asyncio.create_task(_keep_alive(msg, slot.ack_wait))
        try:
            execution = await ctx.port.run_hook(local_id, hook)
        except Exception:
            # Not recorded (stopping, a failed write): no marker stays, so the
            # redelivery runs it, here or elsewhere.
            with contextlib.suppress(Exception):
                await markers.release(key, claim.revision)
            raise
        finally:
            keeper.cancel()
        if execution is None:  # not here: gone, disabled, its stack or `when` says no
            ctx.counters.add("runs_not_here")
            await markers.release(key, claim.revision)
            await msg.ack()
            return
        ctx.counters.add("runs")
        if not await markers.finish(key, claim.revision, execution.id):
            ctx.counters.add("runs_finish_lost")  # taken over while it ran: said, acked
        await msg.ack()

    async def _recorded_here(self, event_id: int, hook: str) -> int | None:
        """The id of this engine's own fleet run of `hook` on the event, if recorded."""
        for execution in await self._context().api.executions_of(event_id):
            if (
                execution.hook == hook
                and execution.origin is None
                and execution.trigger == "event"
                and not execution.dry_run
            ):
                return execution.id
        return None

    async def _local_id(self, fev: FleetEvent) -> int | None:
        """The event's id in this store: its own id when this engine is its origin,
        else the intake's (which takes it in now when it has not yet)."""
        ctx = self._context()
        if fev.origin == ctx.name:
            return fev.event.id
        known = await ctx.port.local_ids([fev.fleet_id])
        if fev.fleet_id in known:
            return known[fev.fleet_id]
        from sloth_tui.fleet.intake import take_in

        return (await take_in(ctx, [fev])).get(fev.fleet_id)

    # -- the start's recovery --------------------------------------------------------------

    async def _finish_own_runs(self, markers: Markers) -> None:
        """Runs this engine recorded whose markers its previous process left "running"
        (killed between the commit and the update): done now, before consuming, so no
        engine runs them again."""
        ctx = self._context()
        runs = await ctx.port.own_runs_since(time.time() - RECOVER_WINDOW_S)
        keys: list[tuple[str, int]] = []
        for hook, execution_id, event_id, fleet_key in runs:
            fid = fleet_key if fleet_key is not None else subjects.fleet_id(ctx.name, event_id)
            keys.append((subjects.done_key(hook, fid), execution_id))
        finished = 0
        for start in range(0, len(keys), RECOVER_CHUNK):
            chunk = keys[start : start + RECOVER_CHUNK]
            results = await asyncio.gather(*(markers.finish_own(k, x) for k, x in chunk))
            finished += sum(results)
        if finished:
            ctx.counters.add("runs_marked_done_at_start", finished)
            log.info("fleet: %d run(s) recorded before a crash marked done", finished)

    def _context(self) -> FleetContext:
        assert self.ctx is not None, "runner not started"
        return self.ctx


async def _keep_alive(msg: Msg, ack_wait: float) -> None:
    """A long run (or one waiting its turn) keeps its message: in_progress every third of
    ack_wait, so JetStream does not hand it to another engine meanwhile."""
    while True:
        await asyncio.sleep(ack_wait / 3)
        with contextlib.suppress(Exception):
            await msg.in_progress()


def consumer_start(created: float, now: float) -> float:
    """Where a hook's new consumer starts in the events stream: at the hook's creation,
    but at most JOIN_BACKLOG_S back (a hook older than its engine's place in the fleet)."""
    return max(created, now - JOIN_BACKLOG_S)
