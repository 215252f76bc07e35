"""fleet/kv_watch.py on a real nats-server: where a bucket's initial values end.

nats-py's watcher sometimes puts its end-of-values marker (None) before the values,
when the server has sent them all before the first is handled (about 1 scan in 100 on a
loaded machine). The race itself cannot be made on demand, so `early_marker` makes every
watch start that way: the one seam these tests are about. Against it, scan_bucket read an
empty members bucket, and the hook registry reconciled against no hooks: it pushed its
own copy over the fleet's, lost the compare-and-set, and took the fleet's back as an
edit conflict (a false system.warning)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import nats
import pytest
from nats.js.client import JetStreamContext
from nats.js.kv import KeyValue
from natskit import NatsServer
from waiting import eventually

from sloth_tui.config import Settings
from sloth_tui.engine.engine import Engine
from sloth_tui.fleet import subjects
from sloth_tui.fleet.kv_watch import watch_entries
from sloth_tui.fleet.link import FleetLink
from sloth_tui.fleet.members import MemberRecord, scan_bucket
from sloth_tui.fleet.registry import encode
from sloth_tui.fleet.settings import FleetSettings
from sloth_tui.model.fleet import FleetMember
from sloth_tui.model.records import Hook
from sloth_tui.sources.fleet import FleetSource


@pytest.fixture
def early_marker(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every watch begins as the race leaves it: the end marker first, the values after."""
    real = KeyValue.watchall

    async def watchall(self: KeyValue, **kwargs: Any) -> Any:
        watcher = await real(self, **kwargs)
        # Whatever it has queued so far goes behind the marker; values still on their way
        # queue behind it too, and its own marker, once _init_done is set, never comes.
        queued = []
        while not watcher._updates.empty():
            queued.append(watcher._updates.get_nowait())
        watcher._updates.put_nowait(None)
        watcher._init_done = True
        for item in queued:
            if item is not None:  # its own marker, in place, is no longer the end
                watcher._updates.put_nowait(item)
        return watcher

    monkeypatch.setattr(KeyValue, "watchall", watchall)


@pytest.fixture
async def link(nats_server: NatsServer) -> AsyncIterator[FleetLink]:
    """A link that made the fleet's buckets, as a member's does."""
    fleet_link = FleetLink(FleetSettings(servers=(nats_server.url,), name="x"))
    await fleet_link.start()
    try:
        assert await fleet_link.wait_connected(15), fleet_link.error
        yield fleet_link
    finally:
        await fleet_link.stop()


def _member(name: str) -> bytes:
    now = time.time()
    return MemberRecord(FleetMember(name, "h", "1", now, now), "f" * 32, 1.0).to_json()


@pytest.mark.parametrize("marker", ["early", "in place"])
async def test_a_scan_reads_every_value(
    link: FleetLink, request: pytest.FixtureRequest, marker: str
) -> None:
    if marker == "early":
        request.getfixturevalue("early_marker")
    kv = await link.kv("members")
    assert (await scan_bucket(kv)).records == {}  # an empty bucket ends at once
    for name in ("alpha", "beta", "gamma"):
        await kv.put(name, _member(name))
    await kv.put("junk", b"\xff")
    await kv.put("gone", _member("gone"))
    await kv.delete("gone")
    read = await scan_bucket(kv)
    assert sorted(read.records) == ["alpha", "beta", "gamma"] and read.skipped == 1


async def test_the_registry_takes_the_fleets_hook_without_a_conflict(
    early_marker: None,
    link: FleetLink,
    settings: Settings,
    nats_server: NatsServer,
    lua_file: Callable[[str], Path],
    caplog: pytest.LogCaptureFixture,
) -> None:
    """An engine joining with a hook of the fleet's name: the fleet's copy wins, as a
    plain take, not as an edit made at once on two engines."""
    caplog.set_level(logging.WARNING, logger="sloth_tui")
    fleet_code = "function on_event() log.info('the fleet') end\n"
    theirs = Hook("notify", ["deploy.*"], "/elsewhere/notify.lua", created=time.time() - 60)
    hooks = await link.kv("hooks")
    await hooks.put(subjects.token("notify"), encode(theirs, fleet_code, "x"))

    engine = await Engine.open(settings, fleet=True)
    await engine.add_hook("notify", ["deploy.*"], lua_file("function on_event() end"))
    source = FleetSource(FleetSettings(servers=(nats_server.url,), name="b"))
    await source.start(engine)
    try:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 30
        while Path((await engine.get_hook("notify")).file).read_text() != fleet_code:
            assert loop.time() < deadline, "the fleet's hook was not taken"
            await asyncio.sleep(0.05)
        counters = (await engine.fleet_status()).counters
        assert counters.get("hooks_pulled") == 1
        assert "hooks_conflicts" not in counters, counters
        said = [r.getMessage() for r in caplog.records]
        assert not [line for line in said if "at once" in line], said
        warnings = await engine.store.run_readonly(
            lambda c: c.execute("SELECT data FROM events WHERE type = 'system.warning'").fetchall()
        )
        assert not [w for (w,) in warnings if "at once" in json.loads(w)["message"]]
    finally:
        await source.stop()
        await engine.close()


async def test_a_watch_cancelled_as_it_begins_leaves_no_subscription(
    link: FleetLink, monkeypatch: pytest.MonkeyPatch
) -> None:
    """nats-py's watchall subscribes, then asks the server about its consumer. A part
    stopped (or a watch restarted) in between never got the watcher to stop: its
    subscription stayed on the connection, unread, queueing each change of the bucket,
    and the engine's next stop waited 5 s on it."""
    kv = await link.kv("members")
    assert link.nc is not None
    nc = link.nc
    before = set(nc._subs)
    subscribed = asyncio.Event()
    subscribe = JetStreamContext.subscribe

    async def noting(self: JetStreamContext, *args: Any, **kwargs: Any) -> Any:
        sub = await subscribe(self, *args, **kwargs)
        subscribed.set()
        return sub

    monkeypatch.setattr(JetStreamContext, "subscribe", noting)

    async def watch() -> None:
        async with contextlib.aclosing(watch_entries(kv)) as entries:
            async for _entry in entries:
                pass

    task = asyncio.create_task(watch())
    await asyncio.wait_for(subscribed.wait(), 30)
    task.cancel()  # watchall is now asking about its consumer: a round trip away
    with pytest.raises(asyncio.CancelledError):
        await task
    await eventually(lambda: set(nc._subs) == before, 30, "the watch's subscription to go")
    # The bucket changing now reaches no subscription of ours.
    await kv.put(subjects.token("y"), _member("y"))
    assert set(nc._subs) == before


async def test_what_was_published_before_the_link_stops_arrives(
    link: FleetLink, nats_server: NatsServer
) -> None:
    """The link closes without draining its subscriptions (the parts are stopped by
    then), but what it sent just before still goes out."""
    watcher = await nats.connect(nats_server.url)
    try:
        sub = await watcher.subscribe("sloth-test.last-words")
        await watcher.flush()
        assert link.nc is not None
        await link.nc.publish("sloth-test.last-words", b"bye")
        await link.stop()
        message = await sub.next_msg(timeout=30)
        assert message.data == b"bye"
    finally:
        await watcher.close()
