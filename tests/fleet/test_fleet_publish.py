"""The publisher: the outbox gets every event out once, whatever NATS and the engine do.
NATS down at start, NATS killed (SIGKILL) and restarted mid-stream, an engine killed
after its commits: each store ends with every other engine's events, none twice (counted
by fleet id). An idle engine stays idle. Real nats-server, real serve processes."""

from __future__ import annotations

import re
import time
from pathlib import Path

from fleetkit import FleetEngine, wait_for
from natskit import NatsServer
from test_fleet_intake import counter


def deploys(start: int, n: int) -> list[dict[str, object]]:
    return [{"type": "deploy.failed", "data": {"i": i}} for i in range(start, start + n)]


def send_ok(engine: FleetEngine, events: list[dict[str, object]]) -> None:
    replies = engine.send(*events)
    assert all(r.get("ok") for r in replies), replies


def own_ids(engine: FleetEngine, type_: str = "deploy.failed") -> set[str]:
    """Fleet ids of the engine's own events of a type (its store)."""
    rows = engine.rows("SELECT id FROM events WHERE origin IS NULL AND type = ?", (type_,))
    return {f"{engine.name}:{r[0]}" for r in rows}


def taken_in(engine: FleetEngine, origin: str, type_: str = "deploy.failed") -> list[str]:
    """Fleet ids of `origin`'s events of a type in the engine's store, one per row (a
    double would show twice)."""
    return [
        key
        for (key,) in engine.rows(
            "SELECT m.key FROM events e JOIN mirrored m ON m.local_id = e.id "
            "WHERE e.origin = ? AND e.type = ?",
            (origin, type_),
        )
    ]


def outbox(engine: FleetEngine) -> int:
    return int(engine.rows("SELECT COUNT(*) FROM fleet_outbox")[0][0])


def arrived_once(receiver: FleetEngine, sender: FleetEngine, n: int) -> bool:
    got = taken_in(receiver, sender.name)
    return len(got) == n and len(set(got)) == n and set(got) == own_ids(sender)


def test_nats_down_at_start_then_everything_arrives_once(tmp_path: Path):
    nats = NatsServer(tmp_path / "nats-store")  # not started yet
    a = FleetEngine(tmp_path, "a", nats.url)
    b = FleetEngine(tmp_path, "b", nats.url)
    try:
        a.start(wait_connected=False)
        send_ok(a, deploys(0, 60))
        assert outbox(a) >= 60  # kept, waiting for NATS
        nats.start()
        b.start()
        send_ok(b, deploys(0, 25))
        wait_for(lambda: arrived_once(b, a, 60), 60, "a's 60 events on b, once")
        wait_for(lambda: arrived_once(a, b, 25), 60, "b's 25 events on a, once")
        wait_for(lambda: outbox(a) == 0 and outbox(b) == 0, 30, "both outboxes empty")
    finally:
        a.stop()
        b.stop()
        nats.stop()


def test_nats_killed_and_restarted_mid_stream_loses_and_doubles_nothing(tmp_path: Path):
    nats = NatsServer(tmp_path / "nats-store").start()
    a = FleetEngine(tmp_path, "a", nats.url)
    b = FleetEngine(tmp_path, "b", nats.url)
    try:
        a.start()
        b.start()
        for chunk in range(16):
            send_ok(a, deploys(chunk * 20, 20))
            send_ok(b, deploys(chunk * 20, 20))
            if chunk == 5:
                nats.kill()  # SIGKILL, whatever was in flight
            if chunk == 10:
                nats.restart()  # same port, same store directory
        wait_for(lambda: arrived_once(b, a, 320), 90, "a's 320 events on b, once")
        wait_for(lambda: arrived_once(a, b, 320), 90, "b's 320 events on a, once")
        wait_for(lambda: outbox(a) == 0 and outbox(b) == 0, 30, "both outboxes empty")
    finally:
        a.stop()
        b.stop()
        nats.stop()


def test_engine_killed_after_its_commits_publishes_them_once_when_back(tmp_path: Path):
    """Killed with rows in its outbox (NATS down), and killed mid-publish (NATS up): the
    outbox survives both, and the restarted engine sends each event once."""
    nats = NatsServer(tmp_path / "nats-store")
    a = FleetEngine(tmp_path, "a", nats.url)
    b = FleetEngine(tmp_path, "b", nats.url)
    try:
        a.start(wait_connected=False)
        send_ok(a, deploys(0, 50))
        a.kill()  # committed, never published
        assert outbox(a) >= 50
        nats.start()
        b.start()
        a.start()
        wait_for(lambda: arrived_once(b, a, 50), 60, "a's first 50 on b, once")
        send_ok(a, deploys(50, 300))
        a.kill()  # in the middle of publishing them, most likely
        a.start()
        wait_for(lambda: arrived_once(b, a, 350), 90, "all 350 on b, once")
        wait_for(lambda: outbox(a) == 0, 30, "a's outbox empty")
    finally:
        a.stop()
        b.stop()
        nats.stop()


# Run in a's serve before it starts: the idle poll an hour away, so that only the engine's
# notice can wake an idle publisher, and a line on stderr as it sends or begins to wait.
TOLD_PUBLISHER = """
import sys
from sloth_tui.fleet import publisher

publisher.IDLE_POLL = 3600.0
_idle, _publish = publisher.Publisher._idle, publisher.Publisher.publish


async def idle(self):
    print("test: publisher waits", file=sys.stderr, flush=True)
    await _idle(self)


async def publish(self, items):
    print("test: publisher sends", file=sys.stderr, flush=True)
    return await _publish(self, items)


publisher.Publisher._idle, publisher.Publisher.publish = idle, publish
"""


def publisher_steps(engine: FleetEngine) -> list[str]:
    return re.findall(r"^test: publisher (sends|waits)$", engine.output(), re.MULTILINE)


def test_idle_engine_stays_idle_and_wakes_promptly(tmp_path: Path, nats_server: NatsServer):
    a = FleetEngine(tmp_path, "a", nats_server.url, prelude=TOLD_PUBLISHER).start()
    b = FleetEngine(tmp_path, "b", nats_server.url)
    try:

        def settled() -> bool:  # its events out, and waiting since its last round
            sent = outbox(a) == 0 and counter(a, "published") > 0
            return sent and publisher_steps(a)[-1:] == ["waits"]

        wait_for(settled, 30, "a settled")
        # Idle: no look at the outbox without a notice (no polling spin), over a chance for
        # one (a negative wait).
        steps, started = publisher_steps(a), time.monotonic()
        wait_for(lambda: time.monotonic() - started >= 4.0, 10, "4 s of idling")
        assert publisher_steps(a) == steps
        # Woken by the engine's own notice: the idle poll is an hour away (wait_for: a
        # hang guard only).
        b.start()
        for i in range(3):
            send_ok(a, [{"type": "deploy.failed", "data": {"prompt": i}}])
            wait_for(lambda n=i + 1: len(taken_in(b, "a")) == n, 30, f"event {i} on b")
    finally:
        a.stop()
        b.stop()
