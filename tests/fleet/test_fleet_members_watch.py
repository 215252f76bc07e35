"""An observer's members (fleet/members_watch.py) on a real nats-server.

The observer follows the members bucket with one watch per connection (until session
23 it scanned it every second, one consumer each time). Values that are not records are
counted in `members_refused`, a gauge of the bucket as it is now: back to 0 once a
stranger's junk is deleted."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import nats
from nats.aio.msg import Msg
from natskit import NatsServer
from waiting import eventually

from sloth_tui.config import Settings
from sloth_tui.engine.engine import Engine
from sloth_tui.fleet.link import FleetLink
from sloth_tui.fleet.members import MemberRecord
from sloth_tui.fleet.members_watch import MembersWatch
from sloth_tui.fleet.parts import FleetContext
from sloth_tui.fleet.settings import FleetSettings
from sloth_tui.model.fleet import FleetMember

BUCKET = "sloth_members"


def record(name: str, beat: float | None = None) -> bytes:
    now = time.time() if beat is None else beat
    member = FleetMember(name, "h", "1", last_heartbeat=now, started=now)
    return MemberRecord(member, "f" * 32, 1.0).to_json()


@asynccontextmanager
async def observer(
    settings: Settings, server: NatsServer
) -> AsyncIterator[tuple[MembersWatch, FleetContext]]:
    """A MembersWatch started as FleetSource starts its parts: before the link."""
    engine = await Engine.open(settings)
    fleet = FleetSettings(servers=(server.url,), name="watcher", observer=True)
    link = FleetLink(fleet)
    ctx = FleetContext(api=engine, port=engine.fleet_port(), link=link, fleet=fleet)
    watch = MembersWatch()
    await watch.start(ctx)
    await link.start()
    try:
        assert await link.wait_connected(15), link.error
        yield watch, ctx
    finally:
        await watch.stop()
        await link.stop()
        await engine.close()


def names(watch: MembersWatch) -> list[str]:
    return [m.name for m in watch.members()]


async def test_refused_values_are_a_gauge_of_the_bucket(
    settings: Settings, nats_server: NatsServer
) -> None:
    stranger = await nats.connect(nats_server.url)
    try:
        async with observer(settings, nats_server) as (watch, ctx):
            kv = await stranger.jetstream().key_value(BUCKET)
            await kv.put("alpha", record("alpha"))
            await eventually(lambda: names(watch) == ["alpha"], what="alpha")
            assert "members_refused" not in ctx.counters.values  # none refused: not shown

            await kv.put("intruder", b'{"name": "[b]pwn", "heartbeat": 2}')
            await kv.put("garbage", b"\xff not json")
            await eventually(lambda: ctx.counters.values.get("members_refused") == 2)
            assert names(watch) == ["alpha"]

            await kv.delete("intruder")
            await eventually(lambda: ctx.counters.values.get("members_refused") == 1)
            await kv.purge("garbage")
            await eventually(lambda: ctx.counters.values.get("members_refused") == 0)

            # Changes, as they come: a member joins; one's record is deleted; a record
            # replaced by junk is no member any more, and counted.
            await kv.put("beta", record("beta"))
            await eventually(lambda: names(watch) == ["alpha", "beta"], what="beta")
            await kv.delete("alpha")
            await eventually(lambda: names(watch) == ["beta"], what="alpha gone")
            await kv.put("beta", b"[]")
            await eventually(lambda: names(watch) == [], what="beta refused")
            assert ctx.counters.values["members_refused"] == 1
    finally:
        await stranger.close()


async def test_one_watch_follows_every_heartbeat(
    settings: Settings, nats_server: NatsServer
) -> None:
    """Each heartbeat is seen as it comes, from one consumer on the members stream: the
    scan a second made (and deleted) one per scan, and nats-server 2.9 sometimes answered
    a new one without some members."""
    stranger = await nats.connect(nats_server.url)
    created: list[str] = []

    async def consumer_made(msg: Msg) -> None:
        body = json.loads(msg.data or b"{}")
        if "KV_" + BUCKET in msg.subject or body.get("stream_name") == "KV_" + BUCKET:
            created.append(msg.subject)

    await stranger.subscribe("$JS.API.CONSUMER.CREATE.>", cb=consumer_made)
    try:
        async with observer(settings, nats_server) as (watch, _ctx):
            kv = await stranger.jetstream().key_value(BUCKET)  # the link made it
            await kv.put("alpha", record("alpha", 1000.0))
            await eventually(lambda: names(watch) == ["alpha"], what="alpha")
            for beat in (1001.0, 1002.0, 1003.0, 1004.0):
                await kv.put("alpha", record("alpha", beat))
                await eventually(
                    lambda beat=beat: watch.members()[0].last_heartbeat == beat,
                    what=f"the heartbeat at {beat}",
                )
            await stranger.flush()
            assert len(created) == 1, created
    finally:
        await stranger.close()


async def test_the_watch_starts_over_when_nats_comes_back(
    settings: Settings, nats_server: NatsServer
) -> None:
    """A restarted server (its store kept): the observer's next connection watches anew,
    and sees what changed while it was away."""
    async with observer(settings, nats_server) as (watch, ctx):
        writer = await nats.connect(nats_server.url)
        await (await writer.jetstream().key_value(BUCKET)).put("alpha", record("alpha"))
        await writer.close()
        await eventually(lambda: names(watch) == ["alpha"], what="alpha")

        connects = ctx.link.connects
        await asyncio.to_thread(nats_server.restart)
        writer = await nats.connect(nats_server.url)
        try:
            kv = await writer.jetstream().key_value(BUCKET)
            await kv.put("beta", record("beta"))
            await kv.delete("alpha")
            await eventually(lambda: ctx.link.connects > connects, 20, "the reconnection")
            await eventually(lambda: names(watch) == ["beta"], 20, "the bucket as it is now")
        finally:
            await writer.close()
