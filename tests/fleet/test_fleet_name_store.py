"""A name used by one store is not taken by another (a fresh store, a restored backup):
its new events would reuse fleet ids the fleet already holds, and every other engine
would drop them as known. The engine refuses to join instead, in one line, and keeps
running alone. Real nats-server, real `serve` processes."""

from __future__ import annotations

import json
from pathlib import Path

from fleetkit import FleetEngine, wait_for
from natskit import NatsServer


def test_a_fresh_store_under_a_used_name_refuses_to_join(
    tmp_path: Path, nats_server: NatsServer
) -> None:
    first = FleetEngine(tmp_path / "old", "web", nats_server.url, config="heartbeat = 0.5\n")
    first.start()
    try:
        assert all(
            r["ok"] for r in first.send(*({"type": "custom", "data": {"n": i}} for i in range(20)))
        )

        # its record carries the store's newest id: wait for two heartbeats after them
        def beats() -> int:
            done = first.cli("fleet", "status", "--json")
            return int(json.loads(done.stdout)["counters"].get("heartbeats", 0))

        after = beats()
        wait_for(lambda: beats() >= after + 2, 30, "two heartbeats")
    finally:
        first.stop()  # stopped on purpose: its last record says it left
    fresh = FleetEngine(tmp_path / "new", "web", nats_server.url)
    fresh.start(wait_connected=False)
    try:
        line = "it is not the store that used the name"
        wait_for(lambda: line in fresh.output(), 30, "the refusal")
        assert "Traceback" not in fresh.output()
        wait_for(lambda: fresh.count("system.error") == 1, 30, "system.error stored")
        # alone, it still takes events
        assert fresh.send({"type": "custom", "data": {"x": 1}})[0].get("ok")
        # the old store, restarted, is its name's store again
        first.start()
        assert line not in first.output()
    finally:
        fresh.stop()
        first.stop()
