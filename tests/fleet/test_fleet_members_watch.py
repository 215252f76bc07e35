"""An observer's members (fleet/members_watch.py) on a real nats-server: values in the
members bucket that are not records are counted in `members_refused`, a gauge of the
bucket as it is now: back to 0 once a stranger's junk is deleted (it stayed at its
highest value until session 22)."""

from __future__ import annotations

import time

import nats
from natskit import NatsServer

from sloth_tui.config import Settings
from sloth_tui.engine.engine import Engine
from sloth_tui.fleet.link import FleetLink
from sloth_tui.fleet.members import MemberRecord
from sloth_tui.fleet.members_watch import MembersWatch
from sloth_tui.fleet.parts import FleetContext
from sloth_tui.fleet.settings import FleetSettings
from sloth_tui.model.fleet import FleetMember


async def test_refused_values_are_a_gauge_of_the_bucket(
    settings: Settings, nats_server: NatsServer
) -> None:
    engine = await Engine.open(settings)
    fleet = FleetSettings(servers=(nats_server.url,), name="watcher", observer=True)
    link = FleetLink(fleet)
    await link.start()
    try:
        assert await link.wait_connected(15), link.error
        ctx = FleetContext(api=engine, port=engine.fleet_port(), link=link, fleet=fleet)
        kv = await link.kv("members")
        now = time.time()
        member = FleetMember("alpha", "h", "1", last_heartbeat=now, started=now)
        await kv.put("alpha", MemberRecord(member, "f" * 32, 1.0).to_json())
        watch = MembersWatch()

        assert [m.name for m in await watch.read(ctx)] == ["alpha"]
        assert "members_refused" not in ctx.counters.values  # none refused: not shown

        stranger = await nats.connect(nats_server.url)
        junk = await stranger.jetstream().key_value("sloth_members")
        await junk.put("intruder", b'{"name": "[b]pwn", "heartbeat": 2}')
        await junk.put("garbage", b"\xff not json")
        assert [m.name for m in await watch.read(ctx)] == ["alpha"]
        assert ctx.counters.values["members_refused"] == 2

        await junk.delete("intruder")
        await watch.read(ctx)
        assert ctx.counters.values["members_refused"] == 1
        await junk.purge("garbage")
        await stranger.close()
        assert [m.name for m in await watch.read(ctx)] == ["alpha"]
        assert ctx.counters.values["members_refused"] == 0  # gone: said so, not kept
    finally:
        await link.stop()
        await engine.close()
