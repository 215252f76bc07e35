"""The publisher (FleetPart "publisher"): this engine's own events and runs, out to NATS.

The store's outbox (engine/fleet_outbox.py) holds every event and run this engine
recorded itself and NATS has not acknowledged yet, in order. The loop takes up to BATCH
rows, publishes them concurrently (an event on `<p>.events.<type>`, a run on
`<p>.executions.<hook>`), each with its fleet-wide message id (`Nats-Msg-Id`:
"e:<engine>:<id>", "x:<engine>:<id>"), waits for JetStream's acks, and only then
deletes the acked rows. So nothing is lost (a row leaves once NATS has it) and nothing is
doubled (a row published again after a crash or a lost ack has the same message id:
JetStream drops it within its duplicate window, and the receivers key by fleet id).

When the link is down or a publish fails, the rows stay; the loop waits for the link and
tries again with a growing delay. When the outbox is empty it sleeps until the engine's
bus says something was recorded (an "event" or "execution" notice), or IDLE_POLL
passes: an idle engine costs nothing.

A child event names its parent by fleet id; a run names its event so. For a local copy
of another engine's event that is the id it was taken in under (FleetPort.fleet_ids).

An observer (a dashboard's view of the fleet) publishes what its operator fires, not its
own system.* events (its socket failing to bind, say): they are no news to the members.

Counters: published, publish_duplicates (acks saying JetStream had it already),
outbox_gone (rows whose record was trimmed before it went out), publish_failures,
observer_local (an observer's own system events, kept home).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from sloth_tui.fleet import subjects
from sloth_tui.fleet.codec import encode_event, encode_run, event_msg_id, run_msg_id
from sloth_tui.fleet.parts import FleetContext
from sloth_tui.model.fleet import OutboxItem
from sloth_tui.model.records import Event, Execution

if TYPE_CHECKING:
    from sloth_tui.engine.bus import Subscription

log = logging.getLogger("sloth_tui.fleet")

BATCH = 256  # outbox rows per round
IDLE_POLL = 5.0  # seconds an empty outbox is looked at again without a notice
PUBLISH_TIMEOUT = 5.0  # seconds to wait for one ack
RETRY_FIRST = 0.2
RETRY_MAX = 5.0
WAKE_KINDS = frozenset({"event", "execution", "dropped"})


class Publisher:
    name = "publisher"

    def __init__(self) -> None:
        self._task: asyncio.Task[None] | None = None
        self._sub: Subscription | None = None

    async def start(self, ctx: FleetContext) -> None:
        self.ctx = ctx
        # A small queue: a full one drops notices, and a dropped notice wakes us too.
        self._sub = ctx.api.subscribe(maxsize=16)
        self._task = asyncio.create_task(self._run(), name="fleet-publisher")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._task
        if self._sub is not None:
            self._sub.close()

    async def _run(self) -> None:
        delay = RETRY_FIRST
        while True:
            link = self.ctx.link
            if not link.connected:
                await link.wait_connected(RETRY_MAX)
                if not link.connected:  # up in name only (the client is reconnecting)
                    await asyncio.sleep(RETRY_FIRST)
                continue
            try:
                items = await self.ctx.port.outbox_take(BATCH)
                if not items:
                    await self._idle()
                    continue
                failed = await self.publish(items)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # a store fault, say: the rows stay, try again
                log.warning("fleet: publishing failed: %s", " ".join(str(exc).split()))
                failed = 1
            if failed:
                await asyncio.sleep(delay)
                delay = min(delay * 2, RETRY_MAX)
            else:
                delay = RETRY_FIRST

    async def _idle(self) -> None:
        """Until something is recorded (or IDLE_POLL, in case a notice went astray)."""
        sub = self._sub
        if sub is None:
            await asyncio.sleep(IDLE_POLL)
            return
        loop = asyncio.get_running_loop()
        deadline = loop.time() + IDLE_POLL
        while (left := deadline - loop.time()) > 0:
            try:
                notice = await asyncio.wait_for(sub.get(), left)
            except TimeoutError:
                return
            if notice.kind in WAKE_KINDS:
                sub.drain()  # one look at the outbox covers every notice waiting
                return

    async def publish(self, items: Sequence[OutboxItem]) -> int:
        """One round: publish, await the acks, delete what NATS has. Returns how many
        failed (they stay in the outbox)."""
        ctx = self.ctx
        js = ctx.link.jetstream()
        gone = [item.seq for item in items if item.record is None]
        local = [item.seq for item in items if _observers_own(ctx, item)]
        live = [item for item in items if item.record is not None and item.seq not in local]
        parents = await self._fleet_ids(live)
        results = await asyncio.gather(
            *(self._publish_one(js, item, parents) for item in live), return_exceptions=True
        )
        done = gone + local
        if local:
            ctx.counters.add("observer_local", len(local))
        failures: list[BaseException] = []
        for item, result in zip(live, results, strict=True):
            if isinstance(result, BaseException) and _never(result):
                # Larger than the server takes (a run's logs and result, say): it can
                # never go out, and kept it would be retried forever. Said, and counted.
                done.append(item.seq)
                ctx.counters.add("publish_refused")
                log.warning("fleet: %s %d not published: %s", item.kind, item.ref, result)
                continue
            if isinstance(result, BaseException):
                failures.append(result)
                continue
            done.append(item.seq)
            ctx.counters.add("publish_duplicates" if result else "published")
        if gone:
            ctx.counters.add("outbox_gone", len(gone))
        await ctx.port.outbox_done(done)
        if failures:
            ctx.counters.add("publish_failures", len(failures))
            why = " ".join(str(failures[0]).split()) or type(failures[0]).__name__
            log.warning("fleet: %d publishes failed, kept to retry: %s", len(failures), why)
        return len(failures)

    async def _fleet_ids(self, items: Sequence[OutboxItem]) -> dict[int, str]:
        """The fleet ids of the local events the batch names (a child's parent, a run's
        event): a copy taken in from another engine has the id it came under; this
        engine's own events are `<name>:<id>`."""
        wanted: list[int] = []
        for item in items:
            record = item.record
            if isinstance(record, Event) and record.parent_id is not None:
                wanted.append(record.parent_id)
            elif isinstance(record, Execution):
                wanted.append(record.event_id)
        if not wanted:
            return {}
        taken_in = await self.ctx.port.fleet_ids(wanted)
        name = self.ctx.name
        return {local: taken_in.get(local) or subjects.fleet_id(name, local) for local in wanted}

    async def _publish_one(self, js: Any, item: OutboxItem, ids: dict[int, str]) -> bool:
        """Publish one row; True when JetStream had it already (a duplicate)."""
        name, prefix = self.ctx.name, self.ctx.prefix
        record = item.record
        if isinstance(record, Event):
            parent = None if record.parent_id is None else ids[record.parent_id]
            subject = subjects.event_subject(prefix, record.type)
            payload = encode_event(name, record, parent)
            msg_id = event_msg_id(subjects.fleet_id(name, record.id))
        elif isinstance(record, Execution) and record.id is not None:
            subject = subjects.run_subject(prefix, record.hook)
            payload = encode_run(name, record, ids[record.event_id])
            msg_id = run_msg_id(subjects.fleet_id(name, record.id))
        else:
            raise ValueError(f"outbox row {item.seq} holds no event or run")
        ack = await js.publish(
            subject, payload, timeout=PUBLISH_TIMEOUT, headers={"Nats-Msg-Id": msg_id}
        )
        return bool(getattr(ack, "duplicate", False))


def _never(exc: BaseException) -> bool:
    """A failure no retry mends: the message is over the server's max_payload, or the
    record cannot be encoded."""
    from nats.errors import MaxPayloadError

    return isinstance(exc, MaxPayloadError | ValueError | TypeError)


def _observers_own(ctx: FleetContext, item: OutboxItem) -> bool:
    """An observer's own system event (see the module docstring): not published."""
    record = item.record
    return (
        ctx.fleet.observer
        and item.kind == "event"
        and record is not None
        and getattr(record, "source", None) == "system"
    )
