"""A fleet member whose disk fills: the other engines' events wait in JetStream while its
store refuses writes, and land once space returns. In process: a real Engine(fleet=True)
with the real fleet source on a real nats-server; the full disk is SQLite's own
SQLITE_FULL (PRAGMA max_page_count on the store's writer, as tests/engine/test_faults.py
makes it)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from natskit import NatsServer
from waiting import eventually

from sloth_tui.config import Settings
from sloth_tui.engine import store as store_module
from sloth_tui.engine.engine import Engine
from sloth_tui.fleet import subjects
from sloth_tui.fleet.codec import encode_event
from sloth_tui.fleet.settings import FleetSettings
from sloth_tui.model.records import Event
from sloth_tui.sources.fleet import FleetSource

PAD = "x" * 20_000  # overflow pages of its own (whole pages): a capped file cannot take it


async def _writer_pragma(engine: Engine, sql: str) -> int:
    writer = engine.store._writer
    assert writer is not None
    row = await store_module._in_thread(writer, lambda c: c.execute(sql).fetchone())
    assert row is not None
    return int(row[0])


async def _origin_z(engine: Engine) -> list[int]:
    """The `n` of every event of engine z stored here."""

    def read(conn: Any) -> list[int]:
        rows = conn.execute(
            "SELECT json_extract(data, '$.n') FROM events WHERE origin = 'z' ORDER BY 1"
        )
        return [int(n) for (n,) in rows]

    result: list[int] = await engine.store.run_readonly(read)
    return result


async def _until_stored(engine: Engine, numbers: list[int], timeout: float) -> None:
    """Wait (polling the store) until exactly `numbers` of z's events are stored here."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while (got := await _origin_z(engine)) != numbers:
        assert loop.time() < deadline, f"after {timeout}s, z's events here: {got}"
        await asyncio.sleep(0.05)


async def _send_from_z(js: Any, numbers: tuple[int, ...]) -> None:
    """Events of engine z, published as its outbox would: 20 KB each."""
    for n in numbers:
        event = Event(n, "deploy.failed", "deploy", {"n": n, "pad": PAD}, "cli", 1.7e9 + n)
        subject = subjects.event_subject("sloth", event.type)
        await js.publish(subject, encode_event("z", event, None), timeout=10)


async def _stream_made(js: Any) -> bool:
    """The member's link makes the events stream once connected."""
    import nats

    try:
        await js.stream_info(subjects.events_stream("sloth"))
    except nats.js.errors.NotFoundError:
        return False
    return True


async def _until(check: Callable[[], Awaitable[bool]], what: str, timeout: float = 30) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not await check():
        assert loop.time() < deadline, f"timed out after {timeout}s waiting for {what}"
        await asyncio.sleep(0.05)


@pytest.fixture
async def member(settings: Settings, nats_server: NatsServer) -> AsyncIterator[Engine]:
    engine = await Engine.open(settings, fleet=True)
    source = FleetSource(FleetSettings(servers=(nats_server.url,), name="b"))
    await source.start(engine)
    try:
        yield engine
    finally:
        await source.stop()
        await engine.close()


async def test_events_from_the_fleet_wait_out_a_full_disk_and_land_after(
    member: Engine, nats_server: NatsServer, caplog: pytest.LogCaptureFixture
) -> None:
    """Session 21: the intake took the store's refusal for the engine stopping, and its
    loop ended: no event of the fleet landed here again until a restart."""
    import nats

    caplog.set_level(logging.INFO, logger="sloth_tui")

    nc = await nats.connect(nats_server.url)
    js = nc.jetstream()

    async def send(*numbers: int) -> None:
        await _send_from_z(js, numbers)

    try:
        await _until(lambda: _stream_made(js), "the events stream")
        await send(1)
        await _until_stored(member, [1], timeout=30)

        pages = await _writer_pragma(member, "PRAGMA page_count")
        await _writer_pragma(member, f"PRAGMA max_page_count = {pages}")  # the disk is full
        await send(2, 3, 4)
        await eventually(lambda: bool(member.store.write_fault), what="the intake's refusal")
        assert await _origin_z(member) == [1]

        await _writer_pragma(member, "PRAGMA max_page_count = 2147483646")  # space returns
        await send(5)
        # Each once, none refused as a bad message: the store's refusal was not theirs.
        await _until_stored(member, [1, 2, 3, 4, 5], timeout=60)
    finally:
        await nc.close()
    said = [r.getMessage() for r in caplog.records if r.name == "sloth_tui.fleet"]
    waits = [line for line in said if line.startswith("fleet: the intake waits: ")]
    assert len(waits) == 1 and "is full" in waits[0], said
    assert "fleet: the intake goes on: the store takes writes again" in said
    assert not [line for line in said if "refused a message" in line], said


async def _runs_of(engine: Engine, hook: str) -> int:
    def count(conn: Any) -> int:
        (n,) = conn.execute("SELECT count(*) FROM executions WHERE hook = ?", (hook,)).fetchone()
        return int(n)

    result: int = await engine.store.run_readonly(count)
    return result


async def test_runs_that_fail_on_a_full_disk_are_said_once_then_counted(
    member: Engine,
    nats_server: NatsServer,
    caplog: pytest.LogCaptureFixture,
    lua_file: Callable[[str], Path],
) -> None:
    """Session 22: the runner logged a warning per failed run, and each comes back every
    RETRY_DELAY_S while the disk is full: a line per event every two seconds."""
    import nats

    caplog.set_level(logging.INFO, logger="sloth_tui")
    await member.add_hook("notify", ["deploy.*"], lua_file("function on_event() end"))
    nc = await nats.connect(nats_server.url)
    js = nc.jetstream()

    async def send(*numbers: int) -> None:
        await _send_from_z(js, numbers)

    async def failed_here() -> int:
        return (await member.fleet_status()).counters.get("runs_failed_here", 0)

    async def runs(n: int) -> bool:
        return await _runs_of(member, "notify") == n

    async def failing() -> bool:
        return await failed_here() >= 6  # each of the three events twice at least

    try:
        await _until(lambda: _stream_made(js), "the events stream")
        await send(1)
        await _until(lambda: runs(1), "run 1")
        pages = await _writer_pragma(member, "PRAGMA page_count")
        await _writer_pragma(member, f"PRAGMA max_page_count = {pages}")  # the disk is full
        await send(2, 3, 4)
        await _until(failing, "runs failing here", timeout=60)
        await _writer_pragma(member, "PRAGMA max_page_count = 2147483646")  # space returns
        await _until(lambda: runs(4), "runs 2-4", timeout=60)
    finally:
        await nc.close()
    said = [
        r.getMessage()
        for r in caplog.records
        if r.name == "sloth_tui.fleet" and r.getMessage().startswith("fleet: hook notify: ")
    ]
    first = [line for line in said if " failed here: " in line and " more runs " not in line]
    counted = [line for line in said if " more runs failed here: " in line]
    assert first and "a run on deploy.failed failed here: " in first[0], said
    assert "full" in first[0], said
    assert counted, said  # the run of failures ended: its count was said
    assert len(said) < await failed_here(), said  # not a line per failed run
