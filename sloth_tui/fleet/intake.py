"""The intake (FleetPart "intake"): every other engine's events and runs, into this store.

Two durable pull consumers of this engine's own (`intake_<name>` on the events stream,
`runs_<name>` on the executions stream), created on every (re)connection, deliver the
whole stream (a fresh store, an observer's too, starts from its beginning) with
explicit acks and a bounded number in flight. Each batch goes through `EngineAPI.mirror`
keyed by fleet id, so a redelivered message adds nothing; a message is acked only once
`mirror` returned (the rows are committed): a crash before that redelivers it.

- Events keep their own type, data, ts and source, and say where they came from
  (`origin`); hooks do not run on them here (`run_hooks=False`: the fleet's runner
  hands each hook's run to one engine). A parent is mapped from its fleet id to its
  local copy, taken in before (each engine publishes in order); a parent not here
  leaves parent_id None, the depth is kept.
- Runs (another engine's hook runs) are stored whole (status, logs, calls, trigger,
  attempt, duration, error) with `origin` = the engine that ran it, on the local copy of
  their event. A run moves its event's status here: a `pending` event becomes
  `completed` when the run worked (success, skipped) and `failed` when it did not
  (failed, error, timeout); a `completed` event becomes `failed` when a run failed
  (engine/mirror_intake.py does it, guarded in SQL). A run whose event is not here yet
  waits (nak with a delay) and is given up after MAX_RUN_WAITS deliveries.
- This engine's own messages are acked and skipped. An event message that claims this
  engine as its origin and names an event this store does not hold (or holds with
  another type) is a lie or a stale copy: refused.
- A message that is not a valid event or run (codec.CodecError), or one the engine's door
  refuses (the type, the data's size or depth), is terminated (never redelivered),
  counted (`refused`) and logged, one line at most every REFUSED_LOG_EVERY seconds.
- A batch the store fails to take is taken one message at a time; a message that fails
  alone is offered again later and refused after POISON_AFTER deliveries. When the store
  refuses every write (model.errors.WriteRefused: a full disk, a damaged file), no message
  is at fault: the batch is offered again after a growing delay, as long as it takes.

Counters: taken_in, runs_taken_in, own_skipped, refused, runs_orphaned, intake_waits.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import TYPE_CHECKING, Any

from sloth_tui.fleet import subjects
from sloth_tui.fleet.codec import (
    CodecError,
    FleetEvent,
    FleetRun,
    decode_event,
    decode_run,
    run_msg_id,
)
from sloth_tui.fleet.parts import FleetContext
from sloth_tui.model.errors import EventRefused, NotFound, WriteRefused
from sloth_tui.model.mirror import ForeignEvent, ForeignExecution, MirrorBatch

if TYPE_CHECKING:
    from nats.aio.msg import Msg
    from nats.js import JetStreamContext

log = logging.getLogger("sloth_tui.fleet")

SOURCE = "fleet"  # the batches' source (each event keeps its own)
BATCH = 256  # messages per fetch, and per mirror transaction
FETCH_WAIT = 5.0  # seconds a fetch waits on the server when nothing is new
GATHER_WAIT = 0.05  # seconds to gather more once one message is there
MAX_ACK_PENDING = 4 * BATCH
ACK_WAIT = 60.0  # seconds before an unacked message is redelivered
RUN_WAIT_DELAY = 1.0  # seconds before a run whose event is not here is offered again
MAX_RUN_WAITS = 60  # deliveries of such a run before it is given up (its event is lost)
RETRY_FIRST = 0.2
RETRY_MAX = 5.0
REFUSED_LOG_EVERY = 10.0  # seconds between two log lines about refused messages
POISON_AFTER = 10  # deliveries of a message that fails alone before it is refused
OWN_RANGE = 2048  # own ids read back in one range query (else one by one)


async def take_in(
    ctx: FleetContext, events: Sequence[FleetEvent], *, cursor: str = ""
) -> dict[str, int]:
    """Store the events not yet here (idempotent, by fleet id); fleet id -> local id for
    all of them (this engine's own events map to their own ids; an event the engine's
    door refused has none). The runner calls it for an event the intake has not taken
    in yet."""
    foreign = await _store(ctx, events, cursor)
    own = {fe.fleet_id: fe.event.id for fe in events if fe.origin == ctx.name}
    mapped = await ctx.port.local_ids([fe.fleet_id for fe in foreign]) if foreign else {}
    return {**mapped, **own}


async def _store(ctx: FleetContext, events: Sequence[FleetEvent], cursor: str) -> list[FleetEvent]:
    """take_in without the look-up of the local ids: the other engines' events, stored
    (one transaction), returned."""
    foreign = [fe for fe in events if fe.origin != ctx.name]
    if not foreign:
        return foreign
    parents = [fe.parent_fleet_id for fe in foreign if fe.parent_fleet_id is not None]
    batch = MirrorBatch(
        source=SOURCE,
        cursor_name="fleet:events",
        cursor=cursor or "take_in",
        events=tuple(_foreign_event(fe) for fe in foreign),
        run_hooks=False,
        local_keys=_own_keys(ctx.name, parents),
    )
    result = await ctx.api.mirror(batch)
    if result.events_added:
        ctx.counters.add("taken_in", result.events_added)
    if result.refused:
        ctx.counters.add("refused", len(result.refused))
        _refused_log(ctx, f"{result.refused[0][0]}: {result.refused[0][1]}")
    return foreign


def _foreign_event(fe: FleetEvent) -> ForeignEvent:
    event = fe.event
    return ForeignEvent(
        key=fe.fleet_id,
        type=event.type,
        data=event.data,
        ts=event.ts,
        # "processing" there is a run under way: here it waits for that run's record
        status="pending" if event.status == "processing" else event.status,
        stack=event.stack,
        agent=event.agent,
        run_id=event.run_id,
        source=event.source,
        origin=fe.origin,
        parent_key=fe.parent_fleet_id,
        depth=event.depth,
    )


def _own_keys(name: str, fids: Sequence[str]) -> tuple[tuple[str, int], ...]:
    """Of these fleet ids, this engine's own: (fid, local id)."""
    out = []
    for fid in dict.fromkeys(fids):
        parsed = subjects.parse_fleet_id(fid)
        if parsed is not None and parsed[0] == name:
            out.append((fid, parsed[1]))
    return tuple(out)


_last_refused_log: dict[int, float] = {}


def _refused_log(ctx: FleetContext, line: str) -> None:
    """One log line at most every REFUSED_LOG_EVERY seconds per engine (the counter says
    how many)."""
    now = time.monotonic()
    if now - _last_refused_log.get(id(ctx), -REFUSED_LOG_EVERY) >= REFUSED_LOG_EVERY:
        _last_refused_log[id(ctx)] = now
        total = ctx.counters.values.get("refused", 0)
        log.warning("fleet: refused a message (%d so far): %s", total, line[:300])


class Intake:
    name = "intake"

    def __init__(self) -> None:
        self._tasks: list[asyncio.Task[None]] = []
        self._subs: list[Any] = []
        self._setup: asyncio.Task[None] | None = None
        self._stopping = False

    async def start(self, ctx: FleetContext) -> None:
        self.ctx = ctx
        ctx.link.on_connect(self._connected)

    async def stop(self) -> None:
        self._stopping = True
        if self._setup is not None:
            self._setup.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._setup
        await self._cancel()

    # -- consumers ---------------------------------------------------------------------

    async def _connected(self) -> None:
        """After every (re)connection: the consumers made sure of and the loops (re)started
        (a NATS server restarted with an empty store has lost them), in a task of its own
        so that the link's other callbacks do not wait on it."""
        if self._setup is not None:
            self._setup.cancel()
        self._setup = asyncio.create_task(self._set_up(), name="fleet-intake-setup")

    async def _set_up(self) -> None:
        """Tried again while the link stays up (JetStream may still be settling)."""
        delay = RETRY_FIRST
        while not self._stopping and self.ctx.link.connected:
            try:
                await self._subscribe()
                return
            except Exception as exc:
                log.warning("fleet: intake consumers not ready: %s", " ".join(str(exc).split()))
                await asyncio.sleep(delay)
                delay = min(delay * 2, RETRY_MAX)

    async def _subscribe(self) -> None:
        await self._cancel()
        ctx = self.ctx
        js = ctx.link.jetstream()
        prefix = ctx.prefix
        events = await _pull(
            js,
            subjects.all_events(prefix),
            subjects.events_stream(prefix),
            subjects.intake_consumer(ctx.name),
        )
        runs = await _pull(
            js,
            subjects.all_runs(prefix),
            subjects.runs_stream(prefix),
            subjects.runs_intake_consumer(ctx.name),
        )
        self._subs = [events, runs]
        self._tasks = [
            asyncio.create_task(self._loop(events, self._events, "intake"), name="fleet-intake"),
            asyncio.create_task(
                self._loop(runs, self._runs, "intake of runs"), name="fleet-intake-runs"
            ),
        ]

    async def _cancel(self) -> None:
        tasks, self._tasks = self._tasks, []
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        subs, self._subs = self._subs, []
        for sub in subs:
            with contextlib.suppress(Exception):
                await sub.unsubscribe()

    async def _loop(
        self, sub: Any, handle: Callable[[list[Msg]], Awaitable[None]], what: str
    ) -> None:
        delay = RETRY_FIRST
        failures = 0
        waiting = False  # the store refuses writes: messages wait (_handle)
        while not self._stopping:
            try:
                msgs = await _fetch(sub)
            except TimeoutError:  # nothing new: the fetch waited on the server, not here
                if await _consumer_gone(sub):
                    # A deleted consumer only times out: made again, this loop replaced.
                    await self._connected()
                    return
                continue
            except Exception as exc:  # disconnected, or the consumer is gone
                log.debug("fleet: intake fetch failed: %s", exc)
                failures += 1
                if failures >= 3 and self.ctx.link.connected:
                    # Up, yet fetching fails: the consumer was deleted (an operator, a
                    # NATS store lost): made again, and this loop replaced.
                    await self._connected()
                    return
                if not await self.ctx.link.wait_connected(RETRY_MAX):
                    continue
                await asyncio.sleep(delay)
                delay = min(delay * 2, RETRY_MAX)
                continue
            failures = 0
            try:
                refused = await self._handle(msgs, handle, delay)
            except EventRefused:  # the engine is stopping: leave them unacked
                return
            if refused is None:
                delay = RETRY_FIRST
                if waiting:
                    waiting = False
                    log.warning("fleet: the %s goes on: the store takes writes again", what)
                continue
            if not waiting:  # once per episode (the store says when writes work again)
                waiting = True
                log.warning(
                    "fleet: the %s waits: %s; the fleet's messages stay in JetStream until "
                    "this store takes writes again",
                    what,
                    " ".join(str(refused).split())[:300],
                )
            await asyncio.sleep(delay)  # before fetching more to refuse
            delay = min(delay * 2, RETRY_MAX)

    async def _handle(
        self, msgs: list[Msg], handle: Callable[[list[Msg]], Awaitable[None]], delay: float
    ) -> WriteRefused | None:
        """A batch in one transaction; when that fails (one message the store cannot
        take), each message alone, so that one bad message holds up no other. One that
        fails alone is offered again later, and refused once it has failed POISON_AFTER
        deliveries. When the store refuses every write (a full disk, a damaged file), no
        message is at fault: none is refused for it, nor taken one by one; they come
        back after `delay`, as often as it takes, and the refusal is returned."""
        try:
            await handle(msgs)
            return None
        except WriteRefused as exc:
            await self._offer_again(msgs, delay)
            return exc
        except EventRefused:
            raise
        except Exception as exc:
            log.warning("fleet: intake batch failed, taking it one by one: %s", exc)
        for k, msg in enumerate(msgs):
            try:
                await handle([msg])
            except WriteRefused as exc:
                await self._offer_again(msgs[k:], delay)
                return exc
            except EventRefused:
                raise
            except Exception as exc:
                tries = _deliveries(msg)
                if tries >= POISON_AFTER:  # failed alone, time and again: it is the message
                    await self._refuse(msg, f"cannot be stored: {' '.join(str(exc).split())}")
                else:  # maybe a passing fault: again later, a little later each time
                    await msg.nak(delay=min(RETRY_MAX * tries, 60.0))
        return None  # each message was taken, or dealt with alone

    async def _offer_again(self, msgs: list[Msg], delay: float) -> None:
        """Messages the store could not take through no fault of theirs: back in `delay`."""
        self.ctx.counters.add("intake_waits")
        for msg in msgs:
            with contextlib.suppress(Exception):  # NATS away: redelivered after ACK_WAIT
                await msg.nak(delay=delay)

    # -- events ------------------------------------------------------------------------

    async def _events(self, msgs: list[Msg]) -> None:
        ctx = self.ctx
        good: list[tuple[Msg, FleetEvent]] = []
        own: list[tuple[Msg, FleetEvent]] = []
        for msg in msgs:
            try:
                fe = decode_event(msg.data)
                if subjects.type_of_subject(ctx.prefix, msg.subject) != fe.event.type:
                    raise CodecError("the event's type is not its subject's")
            except CodecError as exc:
                await self._refuse(msg, str(exc))
                continue
            (own if fe.origin == ctx.name else good).append((msg, fe))
        if good:
            await _store(ctx, [fe for _m, fe in good], _cursor(good[-1][0]))
            for msg, _fe in good:
                await msg.ack()
        if own:
            await self._own_events(own)

    async def _own_events(self, own: list[tuple[Msg, FleetEvent]]) -> None:
        """This engine's own events come back: skipped when this store holds them as
        published, refused when it does not (a liar, or a stale copy of an old store)."""
        held = await self._held([fe.event.id for _m, fe in own])
        for msg, fe in own:
            here = held.get(fe.event.id)
            if here is not None and here == (fe.event.type, fe.event.ts):
                self.ctx.counters.add("own_skipped")
                await msg.ack()
            else:
                await self._refuse(
                    msg,
                    f"{fe.fleet_id} claims this engine, which has no such event",
                )

    async def _held(self, ids: list[int]) -> dict[int, tuple[str, float]]:
        api = self.ctx.api
        low, high = min(ids), max(ids)
        if high - low < OWN_RANGE:
            events = await api.query_events(after_id=low - 1, limit=high - low + 1)
        else:
            events = []
            for local in ids:
                with contextlib.suppress(NotFound):
                    events.append(await api.get_event(local))
        return {e.id: (e.type, e.ts) for e in events if e.origin is None}

    # -- runs --------------------------------------------------------------------------

    async def _runs(self, msgs: list[Msg]) -> None:
        ctx = self.ctx
        good: list[tuple[Msg, FleetRun]] = []
        for msg in msgs:
            try:
                run = decode_run(msg.data)
            except CodecError as exc:
                await self._refuse(msg, str(exc))
                continue
            if run.engine == ctx.name:
                await msg.ack()  # this engine's own run: recorded here already
                continue
            good.append((msg, run))
        if not good:
            return
        batch = MirrorBatch(
            source=SOURCE,
            cursor_name="fleet:runs",
            cursor=_cursor(good[-1][0]),
            executions=tuple(_foreign_run(run) for _m, run in good),
            run_hooks=False,
            local_keys=_own_keys(ctx.name, [run.event_fleet_id for _m, run in good]),
        )
        result = await ctx.api.mirror(batch)
        if result.executions_added:
            ctx.counters.add("runs_taken_in", result.executions_added)
        missing = set(result.missing)
        for msg, run in good:
            if run.event_fleet_id not in missing:
                await msg.ack()
            elif _deliveries(msg) >= MAX_RUN_WAITS:
                ctx.counters.add("runs_orphaned")
                log.warning("fleet: run %s gave up: its event is not here", run.fleet_id)
                await msg.term()
            else:
                await msg.nak(delay=RUN_WAIT_DELAY)

    async def _refuse(self, msg: Msg, why: str) -> None:
        self.ctx.counters.add("refused")
        _refused_log(self.ctx, f"on {msg.subject}: {why}")
        await msg.term()


def _foreign_run(run: FleetRun) -> ForeignExecution:
    x = run.execution
    return ForeignExecution(
        # "x:<fleet id>": a run's fleet id may equal an event's ("b:10" is both b's tenth
        # event and b's tenth run), and the mirrored table holds both kinds of key
        key=run_msg_id(run.fleet_id),
        event_key=run.event_fleet_id,
        hook=x.hook,
        success=x.status in ("success", "skipped"),
        started=x.started,
        duration_ms=x.duration_ms,
        error=x.error,
        record=x,
    )


async def _pull(js: JetStreamContext, subject: str, stream: str, durable: str) -> Any:
    from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy

    config = ConsumerConfig(
        durable_name=durable,
        deliver_policy=DeliverPolicy.ALL,
        ack_policy=AckPolicy.EXPLICIT,
        ack_wait=ACK_WAIT,
        max_ack_pending=MAX_ACK_PENDING,
        filter_subject=subject,
    )
    return await js.pull_subscribe(subject, durable=durable, stream=stream, config=config)


async def _consumer_gone(sub: Any) -> bool:
    """Whether the consumer behind `sub` is gone (asked when idle: one request per
    FETCH_WAIT)."""
    from nats.js.errors import NotFoundError

    try:
        await sub.consumer_info()
    except NotFoundError:
        return True
    except Exception:  # disconnected, slow: not known to be gone
        return False
    return False


async def _fetch(sub: Any) -> list[Msg]:
    """The next messages: wait (on the server) for one, then take what else is there.
    One fetch of BATCH would hold a lone message until the batch fills or FETCH_WAIT
    ends (nats-py waits for the rest), so an idle fleet would take seconds per event."""
    msgs: list[Msg] = await sub.fetch(1, timeout=FETCH_WAIT)
    with contextlib.suppress(TimeoutError):
        msgs += await sub.fetch(BATCH - 1, timeout=GATHER_WAIT)
    return msgs


def _cursor(msg: Msg) -> str:
    with contextlib.suppress(Exception):
        return str(msg.metadata.sequence.stream)
    return ""


def _deliveries(msg: Msg) -> int:
    with contextlib.suppress(Exception):
        return int(msg.metadata.num_delivered)
    return 1
