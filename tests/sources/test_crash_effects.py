"""kill -9 during hook runs: a run's effects and its record survive together or not at all.

`sloth-tui serve` in a subprocess on a temp home, a hook that counts its runs in
`state` and dispatches a child whose own hook counts too. Events are pipelined to the
socket and the daemon is SIGKILLed at varied points, then restarted; once nothing is
pending, every counter equals the number of its hook's recorded executions, and every
parent run left exactly one child.
"""

from __future__ import annotations

import json
import signal
import socket
from collections.abc import Callable
from pathlib import Path

from sourcekit import DaemonProcess, ask, db_rows, wait_for

Daemons = Callable[..., DaemonProcess]

PARENT = """
function on_event()
  state.incr("runs")
  local ok, err = event.dispatch("crash.child", {n = event.data.n})
  assert(ok, err)
end
"""
CHILD = 'function on_event() state.incr("runs") end'
KILL_AFTER = (60, 200, 20)  # acknowledged events before each SIGKILL


def _add_hook(d: DaemonProcess, tmp: Path, name: str, event: str, code: str) -> None:
    path = tmp / f"{name}.lua"
    path.write_text(code)
    (reply,) = ask(d.socket, {"op": "add_hook", "name": name, "events": [event], "file": str(path)})
    assert reply["ok"], reply


def _pipeline_until_killed(d: DaemonProcess, kill_after: int, start: int) -> int:
    """Send batches of events, SIGKILL the daemon once `kill_after` are acknowledged;
    returns how many were sent in all (acknowledged or not)."""
    sock = socket.socket(socket.AF_UNIX)
    sock.settimeout(10)
    sock.connect(str(d.socket))
    reader = sock.makefile("rb")
    sent = acked = 0
    try:
        while True:  # ends with the connection: the kill
            batch = b"".join(
                json.dumps({"type": "crash.tick", "data": {"n": start + sent + j}}).encode() + b"\n"
                for j in range(20)
            )
            sock.sendall(batch)
            sent += 20
            for _ in range(20):
                if not reader.readline():
                    raise ConnectionResetError
                acked += 1
            if acked >= kill_after and d.proc is not None and d.proc.poll() is None:
                d.proc.kill()  # the next batches are in flight, hooks mid-run
    except (ConnectionError, OSError, ValueError):
        pass
    finally:
        sock.close()
    assert d.proc is not None and d.proc.wait(10) == -signal.SIGKILL
    return sent


def _pending(home: Path) -> int:
    rows = db_rows(home, "SELECT COUNT(*) FROM events WHERE status IN ('pending', 'processing')")
    return int(rows[0][0])


def test_kill_9_never_doubles_or_loses_a_run_effect(daemons: Daemons, tmp_path: Path) -> None:
    d = daemons().start("--no-monitor", "--no-watchers")
    _add_hook(d, tmp_path, "parent", "crash.tick", PARENT)
    _add_hook(d, tmp_path, "child", "crash.child", CHILD)
    sent = 0
    for kill_after in KILL_AFTER:
        sent += _pipeline_until_killed(d, kill_after, sent)
        d.start("--no-monitor", "--no-watchers")  # recovery runs in the background
    wait_for(lambda: _pending(d.home) == 0, timeout=60, what="recovery to finish every event")
    assert d.signal(signal.SIGTERM) == 0

    runs = dict(
        db_rows(d.home, "SELECT hook, COUNT(*) FROM executions WHERE dry_run = 0 GROUP BY hook")
    )
    counters = {
        hook: json.loads(value)
        for hook, value in db_rows(d.home, "SELECT hook, value FROM state WHERE key = 'runs'")
    }
    assert runs["parent"] > sum(KILL_AFTER) // 2  # the hooks did run, before and after kills
    # Each run's increment was committed with its record: never one without the other.
    assert counters == {"parent": runs["parent"], "child": runs["child"]}
    # Once each: every event's hook ran exactly once, and each parent run left one child.
    per_event = db_rows(
        d.home,
        "SELECT e.type, COUNT(x.id) FROM events e LEFT JOIN executions x ON x.event_id = e.id "
        "AND x.dry_run = 0 WHERE e.type IN ('crash.tick', 'crash.child') GROUP BY e.id",
    )
    assert {count for _type, count in per_event} == {1}
    children = db_rows(d.home, "SELECT COUNT(*) FROM events WHERE type = 'crash.child'")[0][0]
    assert children == runs["parent"] == runs["child"]
    ticks = db_rows(d.home, "SELECT COUNT(*) FROM events WHERE type = 'crash.tick'")[0][0]
    assert ticks == runs["parent"] and ticks <= sent
