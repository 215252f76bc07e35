"""One engine fires each schedule: EngineAPI.claim_once (the claims bucket) across real
`serve --nats` processes, over their sockets and from [[schedules]]."""

from __future__ import annotations

import json
import math
import socket
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from fleetkit import Fleet, FleetEngine, wait_for
from natskit import NatsServer

SCHEDULE = """heartbeat = 0.5

[[schedules]]
name = "every-minute"
cron = "* * * * *"
workflow_name = "sync"
"""


def ask(engine: FleetEngine, *ops: dict[str, Any]) -> list[dict[str, Any]]:
    """Op lines over the engine's socket (remote/ops.py), the replies in order."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.settimeout(30)
        sock.connect(str(engine.socket))
        sock.sendall(b"".join(json.dumps(op).encode() + b"\n" for op in ops))
        sock.shutdown(socket.SHUT_WR)
        reader = sock.makefile("rb")
        return [json.loads(reader.readline()) for _ in ops]


def claim(key: str) -> dict[str, Any]:
    return {"op": "claim_once", "key": key, "ttl_hint": 60}


def test_claim_once_has_one_winner_across_engines(tmp_path: Path, nats_server: NatsServer) -> None:
    fleet = Fleet(tmp_path, nats_server.url, ["a", "b"], config="heartbeat = 0.5\n").start()
    try:
        a, b = fleet["a"], fleet["b"]
        odd = "schedule nightly/../ \x00 at 02:00"  # not a KV key: claimed by its digest
        [first, odd_a] = ask(a, claim("schedule.x.1700000000"), claim(odd))
        [second, odd_b, other] = ask(b, claim("schedule.x.1700000000"), claim(odd), claim("y"))
        assert first["ok"] and first["won"] is True
        assert odd_a["won"] is True and odd_b["won"] is False
        assert second["won"] is False and other["won"] is True
        [again] = ask(a, claim("schedule.x.1700000000"))
        assert again["won"] is False  # once means once, for the winner too
        [bad] = ask(a, {"op": "claim_once", "key": 5, "ttl_hint": 1})
        assert not bad.get("ok") and "'key' must be str" in bad["error"]
    finally:
        fleet.stop()


def test_claim_once_alone_is_always_won(tmp_path: Path) -> None:
    import subprocess

    from fleetkit import SLOTH

    proc = subprocess.Popen(
        [*SLOTH, "serve", "--home", str(tmp_path), "--no-monitor"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        engine = FleetEngine.__new__(FleetEngine)
        engine.socket = tmp_path / "sloth.sock"
        wait_for(engine.socket.exists, 30, "the socket")
        replies = wait_for(lambda: ask(engine, claim("k"), claim("k")), 30, "replies")
        assert [r["won"] for r in replies] == [True, True]
    finally:
        proc.terminate()
        proc.wait(20)


def triggered(engine: FleetEngine, due: str) -> list[tuple[Any, ...]]:
    rows = engine.rows("SELECT origin, data FROM events WHERE type = 'schedule.triggered'")
    return [r for r in rows if json.loads(r[1]).get("scheduled_for") == due]


def test_a_schedule_on_two_engines_fires_once_per_due_time(
    tmp_path: Path, nats_server: NatsServer
) -> None:
    fleet = Fleet(tmp_path, nats_server.url, ["a", "b"], config=SCHEDULE).start()
    try:
        ready = time.time()
        # The first minute both engines were up for: each of them has it due.
        due_ts = math.ceil((ready + 1) / 60) * 60
        due = datetime.fromtimestamp(due_ts, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        engines = list(fleet)
        for engine in engines:  # fired once, and taken in by the other
            wait_for(lambda e=engine: triggered(e, due), 100, f"{due} in {engine.name}")
        # The loser had its chance at the same moment; give it a few heartbeats' time.
        deadline = time.monotonic() + 3
        while time.monotonic() < deadline:
            assert all(len(triggered(e, due)) == 1 for e in engines)
            time.sleep(0.2)
        fired_here = [e.name for e in engines if triggered(e, due)[0][0] is None]
        assert len(fired_here) == 1, fired_here
    finally:
        fleet.stop()
