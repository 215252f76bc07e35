"""The hook runner (fleet/runner.py): each hook runs once per event across the fleet.

Real `serve --nats` engines on a real nats-server. Runs are counted in every store by
(hook, event fleet id), a run being the store's own when its `origin` is NULL: an own
event's fleet id is "<engine>:<id>", a taken-in one's is its mirror key. The end of the
work is read from NATS itself (the hook's consumer has nothing pending or unacked), so
a late duplicate would be seen.
"""

from __future__ import annotations

import asyncio
import functools
import json
import threading
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, TypeVar

import pytest
from fleetkit import Fleet, FleetEngine, wait_for
from natskit import NatsServer

from sloth_tui.fleet import subjects

pytestmark = [pytest.mark.timeout(240)]
T = TypeVar("T")
CONFIG = "heartbeat = 0.5\n"  # down after 3 x 0.5 + 2 s: takeovers within a test's time
QUICK = "function on_event() return true end\n"


# -- kit ---------------------------------------------------------------------------------


def nats(url: str, work: Callable[[Any], Awaitable[T]]) -> T:
    """work(JetStreamContext) on a connection of the test's own."""
    import nats as nats_py

    async def run() -> T:
        nc = await nats_py.connect(url)
        try:
            return await work(nc.jetstream())
        finally:
            await nc.close()

    return asyncio.run(run())


def consumer_idle(url: str, hook: str) -> bool:
    """The hook's consumer exists and has nothing left to hand out or to be acked."""

    async def work(js: Any) -> bool:
        try:
            info = await js.consumer_info(
                subjects.events_stream("sloth"), subjects.hook_consumer(hook)
            )
        except Exception:
            return False
        return bool(info.num_pending == 0 and info.num_ack_pending == 0)

    return nats(url, work)


def marker(url: str, hook: str, fid: str) -> dict[str, Any] | None:
    async def work(js: Any) -> dict[str, Any] | None:
        kv = await js.key_value(subjects.bucket("sloth", "done"))
        try:
            entry = await kv.get(subjects.done_key(hook, fid))
        except Exception:
            return None
        value: dict[str, Any] = json.loads(entry.value)
        return value

    return nats(url, work)


def put_marker(url: str, hook: str, fid: str, value: dict[str, Any]) -> None:
    async def work(js: Any) -> None:
        kv = await js.key_value(subjects.bucket("sloth", "done"))
        await kv.put(subjects.done_key(hook, fid), json.dumps(value).encode())

    nats(url, work)


def republish(url: str, event_type: str) -> None:
    """The last event message of this type once more, as a redelivery would hand it out
    (no message id: JetStream's duplicate window does not drop it)."""

    async def work(js: Any) -> None:
        subject = subjects.event_subject("sloth", event_type)
        last = await js.get_last_msg(subjects.events_stream("sloth"), subject)
        await js.publish(subject, last.data)

    nats(url, work)


def add_hook(
    engines: list[FleetEngine], tmp: Path, name: str, pattern: str, code: str, *extra: str
) -> None:
    """The hook on every engine, with the CLI (the shared registry may have it there
    already: "exists" is fine), then seen in every store."""
    path = tmp / f"{name}.lua"
    path.write_text(code)
    for engine in engines:
        done = engine.cli("hook", "add", name, "--event", pattern, "--file", str(path), *extra)
        assert done.returncode == 0 or "exist" in done.stderr + done.stdout, done.stderr
    for engine in engines:
        wait_for(
            functools.partial(
                engine.rows, "SELECT 1 FROM hooks WHERE name = ? AND enabled", (name,)
            ),
            30,
            f"hook {name} on {engine.name}",
        )


def own_runs(engine: FleetEngine, hook: str) -> list[str]:
    """The event fleet ids of this store's own runs of `hook` (fleet-handed: trigger NULL)."""
    rows = engine.rows(
        "SELECT e.id, e.origin, m.key FROM executions x JOIN events e ON e.id = x.event_id "
        "LEFT JOIN mirrored m ON m.local_id = e.id AND e.origin IS NOT NULL "
        "WHERE x.hook = ? AND x.origin IS NULL AND x.dry_run = 0 AND x.trigger IS NULL",
        (hook,),
    )
    return [f"{engine.name}:{eid}" if origin is None else str(key) for eid, origin, key in rows]


def runs_by_engine(engines: list[FleetEngine], hook: str) -> dict[str, list[str]]:
    return {e.name: own_runs(e, hook) for e in engines}


def all_runs(engines: list[FleetEngine], hook: str) -> Counter[str]:
    return Counter(fid for e in engines for fid in own_runs(e, hook))


def sent_ids(replies: list[dict[str, Any]]) -> list[int]:
    ids = [int(r["id"]) for r in replies if r.get("ok", True) and "id" in r]
    assert len(ids) == len(replies), replies[:3]
    return ids


class SlowServer:
    """A local HTTP server whose answers wait while `hold` is set: a hook's http.get
    keeps its run going for as long as the test wants."""

    def __init__(self) -> None:
        self.hold = threading.Event()
        self.delay = 0.0  # seconds every answer takes
        self.hits = 0
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                outer.hits += 1
                time.sleep(outer.delay)
                deadline = time.monotonic() + 60
                while outer.hold.is_set() and time.monotonic() < deadline:
                    time.sleep(0.02)
                body = b"ok"
                self.send_response(200)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: Any) -> None:
                return None

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/"

    def __enter__(self) -> SlowServer:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.hold.clear()
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def fleet_of(tmp_path: Path, nats_server: NatsServer) -> Iterator[Callable[..., Fleet]]:
    made: list[Fleet] = []

    def make(*names: str, config: str = CONFIG) -> Fleet:
        fleet = Fleet(tmp_path, nats_server.url, names, config=config)
        made.append(fleet)
        return fleet.start()

    yield make
    for fleet in made:
        for engine in fleet:
            engine.kill()


def slow_hook(url: str) -> str:
    return f'function on_event() local r = http.get("{url}") return r ~= nil end\n'


# -- tests -------------------------------------------------------------------------------


@pytest.mark.parametrize("names", [("a", "b"), ("a", "b", "c")])
def test_each_matching_event_runs_once_fleet_wide(
    names: tuple[str, ...], fleet_of: Callable[..., Fleet], tmp_path: Path, nats_server: NatsServer
) -> None:
    fleet = fleet_of(*names)
    engines = list(fleet)
    add_hook(engines, tmp_path, "deploys", "deploy.*", QUICK)
    # Strangers' messages on the hook's subjects: refused (termed), never a crash.
    garbage = [b"", b"not json", b"[]", b'{"type": "deploy.failed"}', b"\x1b[31m" * 100]

    async def publish_garbage(js: Any) -> None:
        for data in garbage:
            await js.publish(subjects.event_subject("sloth", "deploy.failed"), data)

    nats(nats_server.url, publish_garbage)
    expected: set[str] = set()
    for round_ in range(4):  # in rounds: every engine's consumer has work to take
        for engine in engines:
            lines = [{"type": "deploy.failed", "data": {"n": round_, "i": i}} for i in range(10)]
            lines += [{"type": "task.started", "data": {"i": i}} for i in range(3)]
            replies = engine.send(*lines)
            ids = sent_ids(replies)
            expected.update(f"{engine.name}:{i}" for i in ids[:10])
    wait_for(lambda: set(all_runs(engines, "deploys")) >= expected, 180, "every run")
    wait_for(lambda: consumer_idle(nats_server.url, "deploys"), 60, "the consumer to drain")
    runs = all_runs(engines, "deploys")
    assert set(runs) == expected  # nothing lost, no task.* event ran it
    assert [fid for fid, n in runs.items() if n > 1] == []  # nothing ran twice
    # (How the runs spread over the engines is not asserted here: with 40 runs on a loaded
    # machine one engine's pull may take them all. The acceptance test, at 10,000 events,
    # checks that every engine took part.)
    # Every marker says done, naming the engine whose store has the run.
    by_engine = runs_by_engine(engines, "deploys")
    for fid in list(expected)[:5]:
        mark = marker(nats_server.url, "deploys", fid)
        assert mark is not None and mark["state"] == "done"
        assert fid in by_engine[mark["engine"]]


def test_a_run_killed_midway_is_redone_by_another_engine(
    fleet_of: Callable[..., Fleet], tmp_path: Path, nats_server: NatsServer
) -> None:
    fleet = fleet_of("a", "b")
    engines = list(fleet)
    with SlowServer() as slow:
        slow.hold.set()
        add_hook(engines, tmp_path, "slow", "deploy.*", slow_hook(slow.url), "--timeout", "4")
        (reply,) = fleet["a"].send({"type": "deploy.failed", "data": {}})
        fid = f"a:{reply['id']}"
        wait_for(lambda: slow.hits >= 1, 30, "the run to start")
        holder = wait_for(lambda: marker(nats_server.url, "slow", fid), 10, "the marker")
        assert holder["state"] == "running"
        fleet[holder["engine"]].kill()  # mid-run: nothing recorded there
        slow.hold.clear()
        survivors = [e for e in engines if e.name != holder["engine"]]
        wait_for(lambda: all_runs(survivors, "slow")[fid] == 1, 90, "the run redone")
        wait_for(lambda: consumer_idle(nats_server.url, "slow"), 60, "the consumer to drain")
    fleet[holder["engine"]].start()
    assert all_runs(engines, "slow") == Counter({fid: 1})
    done = marker(nats_server.url, "slow", fid)
    assert done is not None and done["state"] == "done" and done["engine"] != holder["engine"]


def test_a_run_killed_after_its_commit_is_not_run_again(
    fleet_of: Callable[..., Fleet], tmp_path: Path, nats_server: NatsServer
) -> None:
    fleet = fleet_of("a", "b")
    engines = list(fleet)
    add_hook(engines, tmp_path, "once", "deploy.*", QUICK)
    (reply,) = fleet["a"].send({"type": "deploy.failed", "data": {}})
    fid = f"a:{reply['id']}"
    wait_for(lambda: all_runs(engines, "once")[fid] == 1, 60, "the run")
    wait_for(lambda: consumer_idle(nats_server.url, "once"), 30, "the ack")
    ran_on = next(e for e in engines if fid in own_runs(e, "once"))
    # What a kill -9 between the commit and the marker's update leaves: the run in the
    # store, its marker "running" by a process that is gone.
    ran_on.kill()
    put_marker(
        nats_server.url,
        "once",
        fid,
        {"state": "running", "engine": ran_on.name, "incarnation": "gone", "since": time.time()},
    )
    ran_on.start()
    mark = wait_for(
        lambda: (m := marker(nats_server.url, "once", fid)) and m["state"] == "done" and m,
        30,
        "the restarted engine to mark its run done",
    )
    assert mark["engine"] == ran_on.name and isinstance(mark["execution"], int)
    # The message again, as a redelivery: a no-op on whichever engine takes it.
    republish(nats_server.url, "deploy.failed")
    wait_for(lambda: consumer_idle(nats_server.url, "once"), 30, "the redelivery handled")
    assert all_runs(engines, "once") == Counter({fid: 1})


def test_a_slow_consumer_loses_nothing(
    fleet_of: Callable[..., Fleet], tmp_path: Path, nats_server: NatsServer
) -> None:
    fleet = Fleet(tmp_path, nats_server.url, ["a", "b"], config=CONFIG)
    # a: one hook run at a time (top-level setting, before the [nats] table)
    fleet["a"].home.joinpath("config.toml").write_text(
        f'concurrency = 1\n[nats]\nname = "a"\n{CONFIG}'
    )
    try:
        fleet.start()
        engines = list(fleet)
        with SlowServer() as slow:
            # 0.3 s a run, one at a time on a: what a fetched waits past its ack_wait
            # (2 s + margin) unless kept alive (in_progress)
            slow.delay = 0.3
            hook_args = ("--timeout", "2")
            add_hook(engines, tmp_path, "slowish", "deploy.*", slow_hook(slow.url), *hook_args)
            expected: set[str] = set()
            for engine in engines:
                ids = sent_ids(engine.send(*[{"type": "deploy.failed", "data": {}}] * 30))
                expected.update(f"{engine.name}:{i}" for i in ids)
            wait_for(lambda: set(all_runs(engines, "slowish")) >= expected, 120, "every run")
            wait_for(lambda: consumer_idle(nats_server.url, "slowish"), 60, "the drain")
        runs = all_runs(engines, "slowish")
        assert set(runs) == expected and max(runs.values()) == 1
        assert own_runs(fleet["a"], "slowish")  # a took its share, slowly
    finally:
        fleet.stop()


def test_a_disabled_hook_takes_no_more_work(
    fleet_of: Callable[..., Fleet], tmp_path: Path, nats_server: NatsServer
) -> None:
    fleet = fleet_of("a", "b")
    engines = list(fleet)
    add_hook(engines, tmp_path, "togg", "deploy.*", QUICK)
    (first,) = fleet["a"].send({"type": "deploy.failed", "data": {}})
    wait_for(lambda: all_runs(engines, "togg")[f"a:{first['id']}"] == 1, 60, "the first run")
    for engine in engines:
        done = engine.cli("hook", "disable", "togg")
        assert done.returncode == 0 or "disabled" in done.stderr, done.stderr
    for engine in engines:
        wait_for(
            functools.partial(
                engine.rows, "SELECT 1 FROM hooks WHERE name = 'togg' AND NOT enabled"
            ),
            30,
            f"togg disabled on {engine.name}",
        )

    def pending() -> int:
        async def work(js: Any) -> int:
            info = await js.consumer_info(
                subjects.events_stream("sloth"), subjects.hook_consumer("togg")
            )
            return int(info.num_pending)

        return nats(nats_server.url, work)

    # Probe events until one is left waiting: then no runner pulls for the hook (each sees
    # the change at its next poll; the deadline is a hang guard).
    deadline = time.monotonic() + 60
    while pending() == 0:
        assert time.monotonic() < deadline, "the runners still pull for togg"
        fleet["b"].send({"type": "deploy.failed", "data": {}})
        time.sleep(0.5)
    replies = fleet["b"].send(*[{"type": "deploy.failed", "data": {}}] * 5)
    # Published (the intake takes them in on a) but no engine pulls them for the hook.
    wait_for(lambda: pending() >= 5, 30, "the events waiting on the stopped consumer")
    assert all(all_runs(engines, "togg")[f"b:{r['id']}"] == 0 for r in replies)


def chains_complete(engine: FleetEngine, count: int) -> bool:
    sql = "SELECT COUNT(*) FROM events WHERE type = 'task.started' AND parent_id > 0"
    return int(engine.rows(sql)[0][0]) == count


def test_chains_run_once_across_engines(
    fleet_of: Callable[..., Fleet], tmp_path: Path, nats_server: NatsServer
) -> None:
    fleet = fleet_of("a", "b")
    engines = list(fleet)
    parent_code = 'function on_event() event.dispatch("task.started", {n = event.data.n}) end\n'
    add_hook(engines, tmp_path, "fanout", "deploy.*", parent_code)
    add_hook(engines, tmp_path, "child", "task.*", QUICK)
    replies = [
        r for e in engines for r in e.send(*[{"type": "deploy.failed", "data": {"n": 1}}] * 5)
    ]
    wait_for(lambda: sum(all_runs(engines, "child").values()) >= len(replies), 90, "child runs")
    for hook in ("fanout", "child"):
        idle = functools.partial(consumer_idle, nats_server.url, hook)
        wait_for(idle, 60, f"{hook} drained")
    parents, children = all_runs(engines, "fanout"), all_runs(engines, "child")
    assert len(parents) == len(replies) and max(parents.values()) == 1
    assert len(children) == len(replies) and max(children.values()) == 1
    for engine in engines:  # each store has every child, at depth 1 under its parent
        wait_for(
            functools.partial(chains_complete, engine, len(replies)), 60, f"chains on {engine.name}"
        )
        rows = engine.rows(
            "SELECT c.depth, p.type FROM events c JOIN events p ON p.id = c.parent_id "
            "WHERE c.type = 'task.started'"
        )
        assert rows and all(row == (1, "deploy.failed") for row in rows), rows
