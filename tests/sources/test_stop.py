"""Issue 11: a stop takes as long as the longest hook deadline and no longer, a second
signal stops at once, the socket opens before recovery, and disabling a hook drops its
queued runs. Real `serve` processes, a real socket and a real store."""

from __future__ import annotations

import asyncio
import json
import signal
import socket
import sqlite3
import threading
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from sourcekit import DaemonProcess, ask, db_rows, events_of, wait_for, write_config

from sloth_tui.config import Settings, load_settings
from sloth_tui.engine.engine import Engine
from sloth_tui.remote.protocol import probe

Daemons = Callable[..., DaemonProcess]

COUNTER = """
function on_event()
  state.incr("runs")
  event.dispatch("myapp.child", {n = 1})
  return true
end
"""
SPINNER = "function on_event() while true do end end"  # ends at its deadline, not before
SPIN_DEADLINE = 3.0
# Far past every hang guard here: a stop that waited for such a deadline would not end in
# time (the counter's; the spinner's of the second-signal test).
LONG_DEADLINE = 600.0
MANY_INSTRUCTIONS = 10**11  # the deadline, not the instruction count, stops the spinner
UNFINISHED = "SELECT COUNT(*) FROM events WHERE status IN ('pending', 'processing')"


def add_hooks(home: Path, tmp_path: Path, hooks: dict[str, tuple[str, str, float]]) -> None:
    """name -> (pattern, code, timeout): added through an engine of its own (no daemon)."""

    async def add() -> None:
        engine = await Engine.open(load_settings(home))
        try:
            for name, (pattern, code, timeout) in hooks.items():
                path = tmp_path / f"{name}.lua"
                path.write_text(code)
                await engine.add_hook(
                    name, [pattern], path, timeout=timeout, max_instructions=MANY_INSTRUCTIONS
                )
        finally:
            await engine.close()

    asyncio.run(add())


class Producer(threading.Thread):
    """Pipelines `lines` on one connection and keeps the ids acknowledged."""

    def __init__(self, path: Path, lines: list[dict[str, object]]) -> None:
        super().__init__(daemon=True)
        self.path = path
        self.lines = lines
        self.acked: list[int] = []
        self.refused: list[str] = []

    def run(self) -> None:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
            sock.settimeout(60)
            sock.connect(str(self.path))
            writer = threading.Thread(
                target=self._send, args=(sock,), daemon=True, name="producer-send"
            )
            writer.start()
            try:
                for line in sock.makefile("rb"):
                    reply = json.loads(line)
                    if reply.get("ok"):
                        self.acked.append(reply["id"])
                    else:
                        self.refused.append(reply.get("error", "?"))
            except ConnectionResetError:
                # The daemon closed with lines of ours it never read (intake stopped):
                # every reply owed came before the reset.
                pass

    def _send(self, sock: socket.socket) -> None:
        try:
            for line in self.lines:
                sock.sendall(json.dumps(line).encode() + b"\n")
        except OSError:  # the daemon stopped reading: what it took is answered
            pass


def wait_on(
    d: DaemonProcess, predicate: Callable[[], object], what: str, timeout: float = 60
) -> None:
    """wait_for, with the daemon's log in the message when it times out."""
    try:
        wait_for(predicate, timeout=timeout, what=what)
    except AssertionError as exc:
        raise AssertionError(f"{exc}; serve's log ends:\n{d.output()[-3000:]}") from None


def processing(home: Path, type_glob: str) -> int:
    return int(
        db_rows(
            home,
            "SELECT COUNT(*) FROM events WHERE type GLOB ? AND status = 'processing'",
            (type_glob,),
        )[0][0]
    )


def test_sigterm_under_busy_hooks_stops_within_the_longest_deadline(
    daemons: Daemons, tmp_path: Path
) -> None:
    d = daemons()
    add_hooks(
        d.home,
        tmp_path,
        {
            "counter": ("task.*", COUNTER, LONG_DEADLINE),
            "spinner": ("deploy.*", SPINNER, SPIN_DEADLINE),
        },
    )
    d.start("--no-monitor", "--no-watchers")
    lines: list[dict[str, object]] = []
    for i in range(3000):
        lines.append({"type": "task.started", "data": {"task_name": f"t{i}"}})
        if i % 100 == 0:
            lines.append({"type": "deploy.started", "data": {"service": f"s{i}"}})
    producer = Producer(d.socket, lines)
    producer.start()
    wait_on(
        d,
        lambda: len(producer.acked) >= 500 and processing(d.home, "deploy.*") >= 1,
        "spinners running under load",
    )
    assert d.proc is not None
    d.proc.send_signal(signal.SIGTERM)
    # A hang guard: only the spinner's deadline can end the run it has under way (it spins
    # for ever), and the stop may wait for nothing else.
    code = d.proc.wait(60)
    producer.join(30)
    assert code == 0, d.output()
    assert not d.socket.exists()
    assert "not reading its replies" not in d.output()  # every reply owed went out
    [shutdown] = events_of(d.home, "system.shutdown")
    assert shutdown["data"]["reason"] == "received SIGTERM"
    assert not producer.refused, producer.refused[:3]
    assert db_rows(d.home, UNFINISHED)[0][0] > 0  # queued runs were left for the next start

    d.start("--no-monitor", "--no-watchers")
    wait_on(d, lambda: db_rows(d.home, UNFINISHED)[0][0] == 0, "recovery", timeout=120)
    runs = dict(
        db_rows(
            d.home,
            "SELECT event_id, COUNT(*) FROM executions WHERE dry_run = 0 GROUP BY event_id",
        )
    )
    types = dict(db_rows(d.home, "SELECT id, type FROM events"))
    hooked = [i for i in producer.acked if types[i] in ("task.started", "deploy.started")]
    assert len(hooked) == len(producer.acked) > 500
    assert all(runs.get(i) == 1 for i in hooked)  # each ran, once: none lost, none twice
    counted = db_rows(d.home, "SELECT value FROM state WHERE hook = 'counter' AND key = 'runs'")
    executions = db_rows(d.home, "SELECT COUNT(*) FROM executions WHERE hook = 'counter'")
    assert float(json.loads(counted[0][0])) == executions[0][0]
    assert d.signal(signal.SIGTERM) == 0


def test_idle_hooks_stop_at_once(daemons: Daemons, tmp_path: Path) -> None:
    """Hooks that make no host call, a queue full of work: the stop does not wait for it
    (it took 15 s: a 10 s drain, then the replies owed waiting for queue room)."""
    d = daemons()
    write_config(d.home, "queue_size = 50\nconcurrency = 1\n")
    slow = "function on_event() local t = os.clock() while os.clock() - t < 0.05 do end end"
    add_hooks(d.home, tmp_path, {"slow": ("task.*", slow, 10.0)})
    d.start("--no-monitor", "--no-watchers")
    producer = Producer(
        d.socket, [{"type": "task.started", "data": {"task_name": f"t{i}"}} for i in range(2000)]
    )
    producer.start()
    # Stored, not acknowledged: a chunk's events are acknowledged together once all have
    # queue room, and under load one chunk held ~1,000 (50 s of runs before any ack).
    wait_on(d, lambda: db_rows(d.home, UNFINISHED)[0][0] >= 50, "the queue to fill")
    assert d.proc is not None
    d.proc.send_signal(signal.SIGTERM)
    assert d.proc.wait(60) == 0, d.output()
    producer.join(30)
    assert not producer.refused and not d.socket.exists()
    # Not drained: one run at a time, so at most one was under way; the rest of the queue
    # stays for the next start.
    assert db_rows(d.home, UNFINISHED)[0][0] > 1
    # Nor waited out: every reply owed went out, none dropped for want of queue room.
    assert "not reading its replies" not in d.output()
    stored = db_rows(d.home, "SELECT COUNT(*) FROM events WHERE type = 'task.started'")
    assert len(producer.acked) == stored[0][0]


def test_a_second_signal_stops_at_once(daemons: Daemons, tmp_path: Path) -> None:
    d = daemons()
    # Spins until its deadline, far past the hang guard below: only the second signal can
    # end this stop in time.
    add_hooks(d.home, tmp_path, {"spinner": ("deploy.*", SPINNER, LONG_DEADLINE)})
    d.start("--no-monitor", "--no-watchers")
    [reply] = ask(d.socket, {"type": "deploy.started", "data": {"service": "api"}})
    wait_on(d, lambda: processing(d.home, "deploy.*") == 1, "the spinner to start")
    assert d.proc is not None
    d.proc.send_signal(signal.SIGTERM)
    wait_on(d, lambda: "received SIGTERM: stopping" in d.output(), "the stop to begin")
    d.proc.send_signal(signal.SIGINT)
    code = d.proc.wait(30)  # a hang guard: the first signal's stop would wait 600 s
    assert code == 128 + signal.SIGINT, d.output()
    assert not d.socket.exists()
    assert "stopping at once" in d.output()
    with sqlite3.connect(d.home / "sloth.db") as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone() == ("ok",)
    # Cut off: its event stays unfinished for the next start, which takes the lock again.
    assert db_rows(d.home, "SELECT status FROM events WHERE id = ?", (reply["id"],)) == [
        ("processing",)
    ]
    d.start("--no-monitor", "--no-watchers")
    assert probe(d.socket) is not None


# -- the socket opens before recovery -------------------------------------------------------


def seed_pending(home: Path, tmp_path: Path, n: int) -> None:
    """n task.started events left `pending`, as a crash during ingest leaves them, for a
    hook that counts nothing and returns at once."""

    async def seed() -> None:
        settings = load_settings(home)
        engine = await Engine.open(settings)
        try:
            for start in range(0, n, 500):
                items: list[tuple[Any, Any, str, bool | None]] = [
                    ("task.started", {"task_name": f"t{i}"}, "producer", None)
                    for i in range(start, min(n, start + 500))
                ]
                await engine.dispatch_batch(items)  # no hook yet: stored `completed`
            hook = tmp_path / "quick.lua"
            hook.write_text("function on_event() return true end")
            await engine.add_hook("quick", ["task.*"], hook)
        finally:
            await engine.close()
        with sqlite3.connect(settings.db_path) as conn:
            conn.execute("UPDATE events SET status = 'pending'")

    asyncio.run(seed())


def test_the_socket_answers_before_recovery_and_new_events_run_after(
    daemons: Daemons, tmp_path: Path
) -> None:
    d = daemons(tmp_path / "crashed")
    write_config(d.home, "concurrency = 1\n")
    seed_pending(d.home, tmp_path, 5000)
    d.start("--no-monitor", "--no-watchers", timeout=60)
    [reply] = ask(d.socket, {"type": "task.started", "data": {"task_name": "new"}})
    assert reply["ok"]
    # Answered, and took the new event, while recovery had work left: the socket did not
    # wait for it; the new event must still wait for all of it.
    assert db_rows(d.home, UNFINISHED)[0][0] > 1
    wait_on(d, lambda: db_rows(d.home, UNFINISHED)[0][0] == 0, "recovery", timeout=120)
    [(new_run,)] = db_rows(d.home, "SELECT id FROM executions WHERE event_id = ?", (reply["id"],))
    [(last_recovered,)] = db_rows(
        d.home, "SELECT MAX(id) FROM executions WHERE event_id < ? AND hook = 'quick'",
        (reply["id"],),
    )  # fmt: skip
    assert new_run > last_recovered
    assert db_rows(d.home, "SELECT COUNT(*) FROM executions WHERE hook = 'quick'") == [(5001,)]
    assert d.signal(signal.SIGTERM) == 0


# -- disabling a hook -----------------------------------------------------------------------

SLOW = "function on_event() local t = os.clock() while os.clock() - t < 0.02 do end end"


@pytest.mark.parametrize("how", ["disabled", "deleted"])
async def test_turning_a_hook_off_drops_its_queued_runs(
    settings: Settings, lua_file: Callable[..., Path], how: str
) -> None:
    engine = await Engine.open(replace(settings, concurrency=1))
    try:
        await engine.add_hook("slow", ["task.*"], lua_file(SLOW))
        await engine.add_hook("other", ["task.*"], lua_file("function on_event() end"))
        for i in range(100):
            await engine.dispatch("task.started", {"task_name": f"t{i}"})
        if how == "disabled":
            await engine.set_hook_enabled("slow", False)
        else:
            await engine.delete_hook("slow")
        assert await engine.wait_idle(30)
        runs = await engine.executions(hook="slow", limit=1000)
        by_status: dict[str, int] = {}
        for run in runs:
            by_status[run.status] = by_status.get(run.status, 0) + 1
        assert sum(by_status.values()) == 100  # each event: run once, or recorded as dropped
        assert by_status.get("skipped", 0) >= 50, by_status
        skipped = [r for r in runs if r.status == "skipped"]
        assert all(f"the hook was {how}" in (r.error or "") for r in skipped)
        # The other hook still ran on every event, and every event finished.
        assert len(await engine.executions(hook="other", limit=1000)) == 100
        assert await engine.count_events() == 100
        statuses = {e.status for e in await engine.query_events(limit=1000)}
        assert statuses == {"completed"}
    finally:
        await engine.close()
