"""Issue 15's acceptance: three real engines on one real NATS server, one hook per catalog
category, 10,000 events from mixed producers on all three.

Every engine's store must end with every event of the fleet once, and every hook must
have run exactly once per matching event fleet-wide: executions are counted across the
three stores by (hook, event fleet id), a run being the store's own when its `origin` is
NULL. Each store must also end with every run once (the runs are published too). The
second test kills one engine with SIGKILL while runs are in flight and restarts it; the
counts must be the same.

Producers, spread over the three engines: pipelined JSON lines on the socket (most of
the events), `POST /events` arrays on `serve --http`, and a few `sloth-tui event
dispatch` commands. Types cycle through every catalog type, so each category's hook has
work. Events the fleet makes itself (agent.* from membership) are counted like the rest.

SLOTH_FLEET_ACCEPT_EVENTS sets another count (for a quick local run); the issue's is 10,000.
"""

from __future__ import annotations

import json
import os
import re
import time
import urllib.request
from collections import Counter
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from fnmatch import fnmatchcase
from pathlib import Path
from typing import Any

import pytest
from fleetkit import FleetEngine, wait_for
from natskit import NatsServer, free_port

from sloth_tui import catalog

EVENTS = int(os.environ.get("SLOTH_FLEET_ACCEPT_EVENTS", "10000"))
NAMES = ("a", "b", "c")
TYPES = catalog.type_names()
CLI_EVENTS = 2  # per engine, through `sloth-tui event dispatch` (a process each)
HTTP_SHARE = 10  # one event in HTTP_SHARE goes through POST /events
HTTP_BATCH = 100
SOCKET_BATCH = 500
# a member is "down" after 3 x heartbeat + 2 s (fleet_common.md): short, so the runs a
# killed engine held are taken over within the test's time
CONFIG = "heartbeat = 1.0\n"
HOOK_LUA = "function on_event() return true end\n"
BY_HOOK_ADD = "every-custom"  # added with `hook add`; the others with `hook import DIR`
MARK = "accept_seq"  # the data field numbering this test's own events
# Types that stay in their engine's store: none. (An engine in a fleet keeps its outbox
# from its first event on, system.startup included, so everything it stores is shared.)
UNSHARED: frozenset[str] = frozenset()
WAIT = float(os.environ.get("SLOTH_FLEET_ACCEPT_WAIT", "300"))

pytestmark = [pytest.mark.timeout(int(WAIT) + 180)]


def hook_patterns(category: str) -> list[str]:
    """The globs that match every type of a category: most are `<category>.*`, but the
    catalog files restore.* under backup and dir.* under file, and `custom` is a type of
    its own (`custom.*` would match nothing)."""
    prefixes = {t.type.partition(".")[0] for t in catalog.types(category)}
    return sorted(p if p == "custom" else f"{p}.*" for p in prefixes)


HOOKS: dict[str, list[str]] = {  # hook name -> its patterns
    f"every-{c.name}": hook_patterns(c.name) for c in catalog.categories()
}


def event_line(i: int) -> dict[str, Any]:
    type_ = TYPES[i % len(TYPES)]
    data = catalog.sample_data(type_) | {MARK: i}
    return {"type": type_, "data": data}


# -- the engines -------------------------------------------------------------------------


@dataclass
class Engines:
    by_name: dict[str, FleetEngine]
    http: dict[str, int]

    def __iter__(self) -> Iterator[FleetEngine]:
        return iter(self.by_name.values())

    def __getitem__(self, name: str) -> FleetEngine:
        return self.by_name[name]

    def stop(self) -> None:
        for engine in self:
            engine.stop()


@pytest.fixture
def engines(tmp_path: Path, nats_server: NatsServer) -> Iterator[Engines]:
    by_name: dict[str, FleetEngine] = {}
    http: dict[str, int] = {}
    for name in NAMES:
        http[name] = free_port()
        by_name[name] = FleetEngine(
            tmp_path,
            name,
            nats_server.url,
            config=CONFIG,
            args=["--http", f"127.0.0.1:{http[name]}"],
        )
    fleet = Engines(by_name, http)
    try:
        for engine in fleet:
            engine.start(timeout=60)
        yield fleet
    finally:
        fleet.stop()


def add_hooks(tmp_path: Path, engine: FleetEngine) -> None:
    """Every category's hook, on ONE engine: `hook add` for one, `hook import DIR` (the
    daemon applies it) for the others. The fleet's registry takes them to the others."""
    folder = tmp_path / "hooks-src"
    folder.mkdir(parents=True)
    table = []
    for hook, patterns in HOOKS.items():
        (folder / f"{hook}.lua").write_text(HOOK_LUA)
        if hook != BY_HOOK_ADD:
            table.append(f'[hooks.{hook}]\nfile = "{hook}.lua"\nevents = {json.dumps(patterns)}\n')
    (folder / "hooks.toml").write_text("\n".join(table))
    flags = [arg for pattern in HOOKS[BY_HOOK_ADD] for arg in ("-e", pattern)]
    done = engine.cli("hook", "add", BY_HOOK_ADD, "-f", str(folder / f"{BY_HOOK_ADD}.lua"), *flags)
    assert done.returncode == 0, done.stderr
    done = engine.cli("hook", "import", str(folder))
    assert done.returncode == 0, done.stdout + done.stderr


def hook_names(engine: FleetEngine) -> set[str]:
    return {row[0] for row in engine.rows("SELECT name FROM hooks WHERE enabled = 1")}


# -- the producers -----------------------------------------------------------------------


def post_events(port: int, lines: Sequence[dict[str, Any]]) -> None:
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}/events",
        data=json.dumps(list(lines)).encode(),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=60) as reply:
        body = json.loads(reply.read())
    results = body.get("results", [body])
    refused = [r for r in results if not r.get("ok")]
    assert not refused, refused[:3]


def produce(fleet: Engines, name: str, indices: Sequence[int], *, with_cli: bool) -> None:
    """Send events `indices` to engine `name` through its three doors."""
    engine = fleet[name]
    lines = [event_line(i) for i in indices]
    if with_cli:
        for line in lines[:CLI_EVENTS]:
            done = engine.cli(
                "event", "dispatch", line["type"], "--data", json.dumps(line["data"]), "--json"
            )
            assert done.returncode == 0, f"event dispatch on {name}: {done.stderr}"
        lines = lines[CLI_EVENTS:]
    by_http = [line for n, line in enumerate(lines) if n % HTTP_SHARE == 0]
    by_socket = [line for n, line in enumerate(lines) if n % HTTP_SHARE != 0]
    for start in range(0, len(by_http), HTTP_BATCH):
        post_events(fleet.http[name], by_http[start : start + HTTP_BATCH])
    for start in range(0, len(by_socket), SOCKET_BATCH):
        batch = by_socket[start : start + SOCKET_BATCH]
        for line in batch:
            line["source"] = f"socket:producer-{name}"
        replies = engine.send(*batch, timeout=60)
        refused = [r for r in replies if not r.get("ok")]
        assert not refused, f"{name} refused {len(refused)}: {refused[:3]}"


def produce_all(fleet: Engines, shares: dict[str, list[int]], *, with_cli: bool) -> None:
    """The engines' producers at once, one thread each."""
    with ThreadPoolExecutor(len(shares)) as pool:
        futures = [
            pool.submit(produce, fleet, name, indices, with_cli=with_cli)
            for name, indices in shares.items()
        ]
        for future in futures:
            future.result()


def shares_of(indices: Sequence[int]) -> dict[str, list[int]]:
    return {name: [i for i in indices if i % len(NAMES) == k] for k, name in enumerate(NAMES)}


# -- reading the stores back -------------------------------------------------------------

_FLEET_ID = re.compile(r"(?:e:)?([A-Za-z0-9][A-Za-z0-9_-]*:\d+)")


@dataclass
class StoreView:
    """One store as the fleet sees it: its events and runs by fleet id."""

    name: str
    events: dict[str, tuple[str, float, int | None]] = field(default_factory=dict)  # fid ->
    # (type, ts, accept_seq); the own ones (origin NULL) are the ones it admitted
    own_events: set[str] = field(default_factory=set)
    event_rows: int = 0
    unkeyed: int = 0  # foreign events without a fleet id: must stay 0
    own_runs: list[tuple[str, str]] = field(default_factory=list)  # (hook, event fid)
    # (hook, event fid) -> "engine#execution id status started" of its own runs: the
    # story of a run made twice
    own_detail: dict[tuple[str, str], list[str]] = field(default_factory=dict)
    runs: Counter[tuple[str, str, str]] = field(default_factory=Counter)  # (hook, fid, engine)


def read_store(engine: FleetEngine) -> StoreView:
    view = StoreView(engine.name)
    keys: dict[int, str] = {}
    for key, local_id in engine.rows(
        "SELECT key, local_id FROM mirrored WHERE local_id IS NOT NULL"
    ):
        match = _FLEET_ID.fullmatch(key)
        if match:
            keys[int(local_id)] = match.group(1)
    fids: dict[int, str] = {}
    for id_, type_, ts, origin, seq in engine.rows(
        f"SELECT id, type, ts, origin, json_extract(data, '$.{MARK}') FROM events"
    ):
        view.event_rows += 1
        if origin is None:
            fid = f"{engine.name}:{id_}"
            view.own_events.add(fid)
        elif id_ in keys:
            fid = keys[id_]
        else:
            view.unkeyed += 1
            continue
        fids[id_] = fid
        view.events[fid] = (type_, float(ts), seq if isinstance(seq, int) else None)
    for id_, hook, event_id, origin, status, started, trigger in engine.rows(
        "SELECT id, hook, event_id, origin, status, started, trigger FROM executions "
        "WHERE dry_run = 0"
    ):
        fid = fids.get(int(event_id), f"?{engine.name}:{event_id}")
        ran_on = origin if origin is not None else engine.name
        view.runs[(hook, fid, ran_on)] += 1
        if origin is None:
            view.own_runs.append((hook, fid))
            view.own_detail.setdefault((hook, fid), []).append(
                f"{engine.name}#{id_} {status} {trigger} at {started:.3f}"
            )
    return view


@dataclass
class FleetView:
    stores: dict[str, StoreView]

    @property
    def fleet_events(self) -> dict[str, tuple[str, float, int | None]]:
        """Every event of the fleet, from the store of the engine that admitted it."""
        out: dict[str, tuple[str, float, int | None]] = {}
        for view in self.stores.values():
            for fid in view.own_events:
                out[fid] = view.events[fid]
        return out

    def runs(self) -> Counter[tuple[str, str]]:
        """(hook, event fid) -> runs, over every store's own runs."""
        out: Counter[tuple[str, str]] = Counter()
        for view in self.stores.values():
            out.update(view.own_runs)
        return out


def read_fleet(fleet: Engines) -> FleetView:
    return FleetView({engine.name: read_store(engine) for engine in fleet})


def expected_hook(event_type: str) -> str | None:
    """The one hook whose globs match the type (None: no hook does)."""
    hooks = [
        h for h, patterns in HOOKS.items() if any(fnmatchcase(event_type, p) for p in patterns)
    ]
    assert len(hooks) <= 1, (event_type, hooks)
    return hooks[0] if hooks else None


@dataclass
class Verdict:
    missing_events: dict[str, list[str]]  # store -> fleet events it lacks ("fid type")
    doubled_events: dict[str, int]  # store -> rows beyond one per fleet event
    mine: dict[str, int]  # store -> this test's events it holds (distinct)
    not_run: list[str]  # fleet ids whose hook did not run though it must
    twice: list[tuple[str, str, list[str]]]  # (hook, fid, its runs) run more than once
    wrong: list[tuple[str, str]]  # runs of a hook on an event it does not match
    runs_missing: dict[str, int]  # store -> fleet runs it does not show
    runs_doubled: dict[str, int]  # store -> runs it shows more than once

    @property
    def events_done(self) -> bool:
        return not any(self.missing_events.values()) and all(
            n == EVENTS for n in self.mine.values()
        )

    @property
    def done(self) -> bool:
        if self.twice or self.wrong:
            return True  # no point waiting: it failed already
        return self.events_done and not self.not_run and not any(self.runs_missing.values())

    def summary(self) -> str:
        missing = {n: m[:5] for n, m in self.missing_events.items()}
        return (
            f"missing events {missing}, doubled {self.doubled_events}, "
            f"this test's events {self.mine} of {EVENTS}, hooks not run {len(self.not_run)} "
            f"{self.not_run[:5]}, run twice {len(self.twice)} {self.twice[:5]}, wrong hook "
            f"{self.wrong[:5]}, runs missing {self.runs_missing}, shown twice "
            f"{self.runs_doubled}"
        )


def judge(view: FleetView, since: float) -> Verdict:
    """Compare every store with the fleet. An event admitted at or after `since` (every
    hook was in every registry by then) must have run its hook exactly once; an older one
    (the membership's first agent.* events) at most once."""
    fleet_events = {
        fid: event for fid, event in view.fleet_events.items() if event[0] not in UNSHARED
    }
    runs = view.runs()
    missing = {
        n: sorted(f"{fid} {fleet_events[fid][0]}" for fid in fleet_events.keys() - v.events.keys())
        for n, v in view.stores.items()
    }
    doubled = {n: v.event_rows - v.unkeyed - len(v.events) for n, v in view.stores.items()}
    mine = {
        n: len({seq for _t, _ts, seq in v.events.values() if seq is not None})
        for n, v in view.stores.items()
    }
    not_run = []
    for fid, (type_, ts, _seq) in fleet_events.items():
        hook = expected_hook(type_)
        if hook is not None and ts >= since and runs[(hook, fid)] == 0:
            not_run.append(fid)
    twice = [
        (hook, fid, [d for v in view.stores.values() for d in v.own_detail.get((hook, fid), [])])
        for (hook, fid), n in runs.items()
        if n > 1
    ]
    wrong = [
        (hook, fid)
        for hook, fid in runs
        if fid in fleet_events and expected_hook(fleet_events[fid][0]) != hook
    ]
    all_runs = Counter(
        {(h, f, e): 1 for v in view.stores.values() for (h, f, e), _n in v.runs.items()
         if e == v.name}
    )  # fmt: skip
    runs_missing = {n: len(all_runs.keys() - v.runs.keys()) for n, v in view.stores.items()}
    runs_doubled = {n: sum(c - 1 for c in v.runs.values() if c > 1) for n, v in view.stores.items()}
    return Verdict(missing, doubled, mine, not_run, twice, wrong, runs_missing, runs_doubled)


def near(fleet: Engines) -> bool:
    """Cheap counts: every store has at least this test's events and runs (the full
    judgement reads every row, too much to do 20 times a second on a loaded machine)."""
    return all(
        engine.rows("SELECT COUNT(*) FROM events")[0][0] >= EVENTS
        and engine.rows("SELECT COUNT(*) FROM executions")[0][0] >= EVENTS
        for engine in fleet
    )


def settle(fleet: Engines, since: float, timeout: float = WAIT) -> Verdict:
    """Poll the stores until every event and run is everywhere (or something ran twice)."""
    deadline = time.monotonic() + timeout
    verdict: Verdict | None = None
    while True:
        if near(fleet) or time.monotonic() > deadline:
            verdict = judge(read_fleet(fleet), since)
            if verdict.done:
                return verdict
        if time.monotonic() > deadline:
            logs = "\n".join(f"--- {e.name}:\n{e.output()[-3000:]}" for e in fleet)
            summary = verdict.summary() if verdict else "nothing read"
            raise AssertionError(f"timed out after {timeout}s: {summary}\n{logs}")
        time.sleep(0.5)


def assert_exactly_once(verdict: Verdict) -> None:
    assert verdict.twice == [], f"hooks ran twice: {verdict.twice[:10]}"
    assert verdict.wrong == [], f"hooks ran on events they do not match: {verdict.wrong[:10]}"
    assert verdict.not_run == [], f"hooks never ran: {verdict.not_run[:10]}"
    assert not any(verdict.missing_events.values()), verdict.missing_events
    assert all(n == 0 for n in verdict.doubled_events.values()), verdict.doubled_events
    assert all(n == EVENTS for n in verdict.mine.values()), verdict.mine
    assert all(n == 0 for n in verdict.runs_missing.values()), verdict.runs_missing
    assert all(n == 0 for n in verdict.runs_doubled.values()), verdict.runs_doubled


def setup_hooks(tmp_path: Path, fleet: Engines) -> float:
    """Add the hooks on engine a; wait until every engine has them. Returns the time from
    which every event must run its hook."""
    add_hooks(tmp_path, fleet["a"])
    for engine in fleet:
        wait_for(
            lambda engine=engine: hook_names(engine) >= HOOKS.keys(),
            60,
            f"the 16 hooks in {engine.name}'s registry",
        )
    created = [
        float(ts)
        for engine in fleet
        for (ts,) in engine.rows("SELECT created FROM hooks")
    ]  # fmt: skip
    return max([*created, time.time()])


# -- the tests ---------------------------------------------------------------------------


def test_fleet_acceptance_three_engines(tmp_path: Path, engines: Engines) -> None:
    since = setup_hooks(tmp_path, engines)
    started = time.monotonic()
    produce_all(engines, shares_of(range(EVENTS)), with_cli=True)
    verdict = settle(engines, since)
    assert_exactly_once(verdict)
    runs = read_fleet(engines).runs()
    by_engine = Counter(
        name for name, view in read_fleet(engines).stores.items() for _run in view.own_runs
    )
    # the runs spread: every engine took part (a hint the consumers are shared)
    assert all(by_engine[name] > 0 for name in NAMES), by_engine
    assert sum(runs.values()) >= EVENTS
    print(f"\n{EVENTS} events, {sum(runs.values())} runs {dict(by_engine)}, "
          f"{time.monotonic() - started:.1f}s")  # fmt: skip


def test_fleet_acceptance_engine_killed_and_restarted(tmp_path: Path, engines: Engines) -> None:
    since = setup_hooks(tmp_path, engines)
    half = EVENTS // 2
    first, second = shares_of(range(half)), shares_of(range(half, EVENTS))
    produce_all(engines, first, with_cli=True)
    # runs are under way on every engine now: c goes down hard, without a word
    victim = engines["c"]
    victim.kill()
    ran = sum(len(view.own_runs) for view in read_fleet(engines).stores.values())
    assert ran < half, f"every run was over before the kill ({ran}): it tested nothing"
    # the other two keep taking events while c is down ...
    produce_all(engines, {n: s for n, s in second.items() if n != "c"}, with_cli=False)
    # ... and c comes back with its store, takes its share, and catches up
    victim.start(timeout=60)
    produce_all(engines, {"c": second["c"]}, with_cli=False)
    verdict = settle(engines, since)
    assert_exactly_once(verdict)
