"""`sloth-tui bench --fleet N`: N engines on one local NATS server against one engine alone.

Everything is real and started here, in temporary homes: a `nats-server -js` on a free
loopback port and N `sloth-tui serve --nats` processes (e1 .. eN); once they are stopped,
one plain `serve` (the baseline: same run, same load). Each gets one trivial hook on the
sample type. Then, for the fleet and for the lone engine:

- the throughput run: E events sent pipelined over the sockets (the fleet's spread evenly
  over its engines, at once); `*_events_per_s` is E over the time until every store holds
  all E (the fleet's stores each hold the whole fleet's events), `*_hook_runs_per_s` is E
  over the time until the hook has run on all E (fleet-wide, counted in every store);
- the ratios: the fleet's figure over the lone engine's;
- `duplicate_runs`: runs beyond one per (hook, event fleet id), counted in every store at
  the end (must be 0);
- the latency run (the fleet only): events sent at a steady rate, round robin over the
  engines; `fleet_latency_p99_ms` is the p99 of `execution.started - event.ts` over the
  runs made on an engine other than the event's origin: publish on one engine to hook
  start on another (one machine, one clock).

Each process is stopped by its PID when the bench ends, fails or is interrupted (Ctrl-C).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import shutil
import signal
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sloth_tui import catalog
from sloth_tui.model.errors import SlothError

SAMPLE_TYPE = "deploy.completed"
HOOK = "bench-fleet"
HOOK_LUA = "function on_event() return true end\n"
LATENCY_RATE = 200.0  # events/s over the whole fleet in the latency run
LATENCY_EVENTS_MAX = 600
START_TIMEOUT = 60.0
SPREAD_TIMEOUT = 15.0  # for the fleet's registry to take the hook to every engine
NATS_NAME = "nats-server"

# issue 15's one hard figure (commands/bench.py prints it beside the value)
FLEET_TARGETS: dict[str, tuple[str, float]] = {"duplicate_runs": ("<=", 0)}


class FleetBenchError(SlothError):
    """Why the fleet bench could not run or finish: one line for the user."""


# where Debian's package and a manual install put it, for when it is not on PATH
NATS_PLACES = ("/usr/sbin/nats-server", "/usr/local/bin/nats-server")


def nats_binary() -> str:
    found = shutil.which("nats-server") or next(
        (place for place in NATS_PLACES if os.access(place, os.X_OK)), None
    )
    if found is None:
        raise FleetBenchError(
            "bench --fleet needs nats-server, which is not installed "
            "(Debian/Ubuntu: apt-get install nats-server; or put it on PATH)"
        )
    return found


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


# -- the processes ------------------------------------------------------------------------


@dataclass
class Child:
    """One process this bench started, logging to a file; stopped by its PID."""

    name: str
    proc: subprocess.Popen[bytes]
    log: Path

    def output(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""

    def stop(self, timeout: float = 20.0) -> None:
        if self.proc.poll() is not None:
            return
        self.proc.send_signal(signal.SIGTERM)  # again, if stop_all sent one: harmless
        try:
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(5)


@dataclass
class Children:
    """Every process started, so that each is stopped (by its PID) whatever happens."""

    started: list[Child] = field(default_factory=list)

    def spawn(self, name: str, cmd: list[str], log: Path) -> Child:
        _check_abort()  # interrupted: start nothing more (the lone engine after the fleet)
        with open(log, "ab") as out:
            # a session of its own: a Ctrl-C reaches only the bench, which then stops each
            # child in order (an engine before the NATS server it talks to)
            proc = subprocess.Popen(
                cmd, stdin=subprocess.DEVNULL, stdout=out, stderr=out, start_new_session=True
            )
        child = Child(name, proc, log)
        self.started.append(child)
        return child

    def stop_all(self) -> None:
        """The engines all at once (each ends its runs under way), then the NATS server."""
        engines = [c for c in self.started if c.name != NATS_NAME]
        for child in engines:
            if child.proc.poll() is None:
                child.proc.send_signal(signal.SIGTERM)
        for child in [*engines, *(c for c in self.started if c.name == NATS_NAME)]:
            child.stop()
        self.started.clear()


def _wait_line(child: Child, text: str, timeout: float = START_TIMEOUT) -> None:
    deadline = time.monotonic() + timeout
    while text not in child.output():
        _check_abort()
        if child.proc.poll() is not None or time.monotonic() > deadline:
            tail = child.output().strip().splitlines()[-1:] or ["(no output)"]
            raise FleetBenchError(f"{child.name} did not start: {tail[0][-300:]}")
        time.sleep(0.05)


def start_nats(children: Children, root: Path) -> str:
    port = _free_port()
    store = root / "nats-store"
    store.mkdir()
    cmd = [nats_binary(), "-js", "-a", "127.0.0.1", "-p", str(port), "-sd", str(store)]
    _wait_line(children.spawn(NATS_NAME, cmd, root / "nats.log"), "Server is ready")
    return f"nats://127.0.0.1:{port}"


@dataclass(frozen=True)
class Home:
    """One engine's data dir, as the bench reads it back."""

    name: str
    path: Path

    @property
    def socket(self) -> Path:
        return self.path / "sloth.sock"

    def rows(self, sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        db = self.path / "sloth.db"
        if not db.exists():
            return []
        uri = f"file:{db}?mode=ro"
        with contextlib.closing(sqlite3.connect(uri, uri=True, timeout=10)) as conn:
            return conn.execute(sql, params).fetchall()

    def cli(self, *args: str) -> subprocess.CompletedProcess[str]:
        cmd = [sys.executable, "-m", "sloth_tui", "--home", str(self.path), *args]
        return subprocess.run(cmd, capture_output=True, text=True, timeout=120, check=False)


def start_engine(children: Children, root: Path, name: str, url: str | None) -> Home:
    home = Home(name, root / name)
    home.path.mkdir(mode=0o700)
    cmd = [sys.executable, "-m", "sloth_tui", "serve", "--home", str(home.path)]
    cmd += ["--no-monitor", "--no-watchers", "--log-level", "info"]
    if url is not None:
        (home.path / "config.toml").write_text(f'[nats]\nname = "{name}"\n')
        cmd += ["--nats", url]
    child = children.spawn(f"engine {name}", cmd, root / f"{name}.log")
    _wait_line(child, "fleet: connected to" if url is not None else "ready: engine on")
    _wait_for(home.socket.exists, START_TIMEOUT, f"{name}'s socket")
    return home


# -- reading the stores -------------------------------------------------------------------


# Set when the bench ends early (an error, Ctrl-C): the waits running in threads stop at
# once, so that asyncio.run, which waits for its threads, does not wait out their timeouts.
_ABORT = threading.Event()


def _check_abort() -> None:
    if _ABORT.is_set():
        raise FleetBenchError("bench --fleet: stopped")


def _wait_for(predicate: Callable[[], Any], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        _check_abort()
        if time.monotonic() > deadline:
            raise FleetBenchError(f"timed out after {timeout:.0f}s waiting for {what}")
        time.sleep(0.05)


def events_in(home: Home) -> int:
    return int(home.rows("SELECT COUNT(*) FROM events WHERE type = ?", (SAMPLE_TYPE,))[0][0])


def own_runs(home: Home) -> int:
    sql = "SELECT COUNT(*) FROM executions WHERE hook = ? AND origin IS NULL AND dry_run = 0"
    return int(home.rows(sql, (HOOK,))[0][0])


def run_keys(home: Home) -> Iterator[str]:
    """The event fleet id of each run this engine made of the hook (own events are
    NAME:ID; the others' by the key the intake stored them under)."""
    keys = {
        int(local): str(key).removeprefix("e:")
        for key, local in home.rows("SELECT key, local_id FROM mirrored WHERE local_id IS NOT NULL")
    }
    sql = (
        "SELECT x.event_id, e.origin FROM executions x JOIN events e ON e.id = x.event_id "
        "WHERE x.hook = ? AND x.origin IS NULL AND x.dry_run = 0"
    )
    for event_id, origin in home.rows(sql, (HOOK,)):
        yield f"{home.name}:{event_id}" if origin is None else keys.get(event_id, f"?{event_id}")


def duplicate_runs(homes: list[Home]) -> int:
    counts = Counter(key for home in homes for key in run_keys(home))
    return sum(n - 1 for n in counts.values() if n > 1)


def cross_latencies_ms(homes: list[Home], since: float) -> list[float]:
    """execution.started - event.ts (ms) of the runs on an engine other than the origin."""
    sql = (
        "SELECT (x.started - e.ts) * 1000 FROM executions x JOIN events e ON e.id = x.event_id "
        "WHERE x.hook = ? AND x.origin IS NULL AND e.origin IS NOT NULL AND e.ts >= ?"
    )
    return [float(ms) for home in homes for (ms,) in home.rows(sql, (HOOK, since))]


def p99(values: list[float]) -> float:
    if len(values) < 2:
        return values[0] if values else float("nan")
    return statistics.quantiles(values, n=100)[98]


# -- the runs -----------------------------------------------------------------------------


def add_hook(root: Path, homes: list[Home]) -> None:
    """The hook on the first engine; the fleet's registry takes it to the others. An
    engine it has not reached within SPREAD_TIMEOUT gets it added there too."""
    lua = root / f"{HOOK}.lua"
    lua.write_text(HOOK_LUA)

    def has(home: Home) -> bool:
        return bool(home.rows("SELECT 1 FROM hooks WHERE name = ?", (HOOK,)))

    def add(home: Home) -> None:
        done = home.cli("hook", "add", HOOK, "-f", str(lua), "-e", SAMPLE_TYPE)
        if done.returncode != 0 and not has(home):
            raise FleetBenchError(f"hook add on {home.name}: {done.stderr.strip()[-300:]}")

    add(homes[0])
    deadline = time.monotonic() + SPREAD_TIMEOUT
    while not all(has(h) for h in homes) and time.monotonic() < deadline:
        _check_abort()
        time.sleep(0.1)
    for home in homes:
        if not has(home):
            add(home)


def sample_lines(n: int) -> Iterator[bytes]:
    line = json.dumps({"type": SAMPLE_TYPE, "data": catalog.sample_data(SAMPLE_TYPE)}).encode()
    for start in range(0, n, 1000):
        yield (line + b"\n") * (min(n, start + 1000) - start)


async def throughput(homes: list[Home], events: int) -> tuple[float, float]:
    """(events/s, hook runs/s) of E events spread over the engines (see the docstring)."""
    from sloth_tui.sources.bench import pipelined_ingest

    before_events = [events_in(h) for h in homes]
    before_runs = sum(own_runs(h) for h in homes)
    shares = [
        events // len(homes) + (1 if k < events % len(homes) else 0) for k in range(len(homes))
    ]
    start = time.perf_counter()
    await asyncio.gather(
        *(
            pipelined_ingest(h.socket, n, sample_lines(n))
            for h, n in zip(homes, shares, strict=True)
        )
    )
    budget = max(60.0, events / 50)

    def stored() -> bool:
        return all(events_in(h) - b >= events for h, b in zip(homes, before_events, strict=True))

    await asyncio.to_thread(_wait_for, stored, budget, f"{events} events in every store")
    events_s = time.perf_counter() - start

    def ran() -> bool:
        return sum(own_runs(h) for h in homes) - before_runs >= events

    await asyncio.to_thread(_wait_for, ran, budget, f"{events} hook runs")
    runs_s = time.perf_counter() - start
    return events / events_s, events / runs_s


async def latency_run(homes: list[Home], events: int) -> list[float]:
    """Events at LATENCY_RATE, round robin over the engines; the cross-engine latencies."""
    line = json.dumps({"type": SAMPLE_TYPE, "data": catalog.sample_data(SAMPLE_TYPE)}).encode()
    conns = [await asyncio.open_unix_connection(str(h.socket)) for h in homes]
    due = [len(range(k, events, len(homes))) for k in range(len(homes))]

    async def drain(k: int) -> None:  # the acks, so the socket never backs up
        reader, got = conns[k][0], 0
        while got < due[k]:
            data = await reader.read(1 << 16)
            if not data:
                raise FleetBenchError(f"{homes[k].name} hung up during the latency run")
            got += data.count(b"\n")

    before_runs = sum(own_runs(h) for h in homes)
    since = time.time()
    readers = [asyncio.create_task(drain(k)) for k in range(len(homes))]
    try:
        start = time.perf_counter()
        for i in range(events):
            writer = conns[i % len(homes)][1]
            writer.write(line + b"\n")
            await writer.drain()
            delay = start + (i + 1) / LATENCY_RATE - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
        await asyncio.wait_for(asyncio.gather(*readers), 60)
    finally:
        for task in readers:
            task.cancel()
        for _reader, writer in conns:
            writer.close()

    def ran() -> bool:
        return sum(own_runs(h) for h in homes) - before_runs >= events

    await asyncio.to_thread(_wait_for, ran, 60.0, f"{events} hook runs of the latency run")
    return await asyncio.to_thread(cross_latencies_ms, homes, since)


async def run_fleet_bench(engines: int, events: int = 5_000) -> dict[str, float]:
    """The figures of `bench --fleet N` (see the module's docstring)."""
    nats_binary()  # before anything starts: the one-line error when it is missing
    _ABORT.clear()
    loop = asyncio.get_running_loop()
    task = asyncio.current_task()
    interrupted = _on_interrupt(loop, task)
    with tempfile.TemporaryDirectory(prefix="sloth-fleetbench-") as tmp:
        root = Path(tmp)
        children = Children()
        try:
            return await _measure(children, root, engines, events)
        except (RuntimeError, OSError) as exc:  # a producer's socket; a timeout
            raise FleetBenchError(f"bench --fleet: {exc}") from None
        except asyncio.CancelledError:
            if interrupted is not None and interrupted.is_set():
                raise FleetBenchError("bench --fleet: interrupted") from None
            raise
        finally:
            # also on an error or Ctrl-C (the task's cancellation), before the homes go
            _ABORT.set()
            children.stop_all()
            if interrupted is not None:
                loop.remove_signal_handler(signal.SIGINT)


def _on_interrupt(
    loop: asyncio.AbstractEventLoop, task: asyncio.Task[Any] | None
) -> threading.Event | None:
    """Ctrl-C (SIGINT) sets the abort flag first, so that no waiting thread goes on and
    no process is started after it, then cancels the bench. Our own handler rather than
    asyncio.run's: that one is not installed when SIGINT's handler is not Python's
    default, and then a Ctrl-C went unseen while the run went on to the lone engine.
    Returns the flag the handler sets, or None when SIGINT is left as it was."""
    if task is None or threading.current_thread() is not threading.main_thread():
        return None
    interrupted = threading.Event()

    def interrupt() -> None:
        interrupted.set()
        _ABORT.set()
        task.cancel()

    try:
        loop.add_signal_handler(signal.SIGINT, interrupt)
    except (NotImplementedError, RuntimeError, ValueError):
        return None
    return interrupted


async def _measure(children: Children, root: Path, engines: int, events: int) -> dict[str, float]:
    url = await asyncio.to_thread(start_nats, children, root)
    homes = [
        await asyncio.to_thread(start_engine, children, root, f"e{k + 1}", url)
        for k in range(engines)
    ]
    await asyncio.to_thread(add_hook, root, homes)
    fleet_events, fleet_runs = await throughput(homes, events)
    latencies = await latency_run(homes, min(LATENCY_EVENTS_MAX, max(50, events // 10)))
    duplicates = await asyncio.to_thread(duplicate_runs, homes)
    children.stop_all()

    solo = await asyncio.to_thread(start_engine, children, root, "solo", None)
    await asyncio.to_thread(add_hook, root, [solo])
    solo_events, solo_runs = await throughput([solo], events)
    return {
        "fleet_engines": float(engines),
        "single_events_per_s": solo_events,
        "single_hook_runs_per_s": solo_runs,
        "fleet_events_per_s": fleet_events,
        "fleet_hook_runs_per_s": fleet_runs,
        "fleet_events_ratio": fleet_events / solo_events,
        "fleet_hook_runs_ratio": fleet_runs / solo_runs,
        "duplicate_runs": float(duplicates),
        "fleet_latency_p99_ms": p99(latencies),
    }
