"""Benchmarks for the producers: socket ingest with acks, and the system monitor's own cost.

The daemon runs as a real `sloth-tui serve` process and the client pipelines
from this one, so the figure includes both sides of the socket the way a
producer on the server sees it.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterable, Iterator
from pathlib import Path

from sloth_tui import catalog
from sloth_tui.config import MonitorSettings
from sloth_tui.remote.protocol import probe
from sloth_tui.sources.bench_cli import cli_figures
from sloth_tui.sources.monitor import Alarms, take_sample

SAMPLE_TYPE = "deploy.completed"
CHUNK_LINES = 1000  # lines per write: the client pipelines, reading acks as they come
# Ingests into one daemon, the best reported as the rest of the bench reports its runs:
# one ingest of 20,000 events lasts under half a second, and on a shared machine a burst
# of load elsewhere moved a single one from 63k to 40k events/s (session 23). The first
# is reported too (socket_events_per_s_first): a daemon just started, its store empty.
SOCKET_ROUNDS = 3


def start_daemon(home: Path, *extra: str, timeout: float = 20.0) -> subprocess.Popen[bytes]:
    """`sloth-tui serve` on `home`, returned once its socket answers; it logs to home/serve.log."""
    home.mkdir(parents=True, exist_ok=True)
    with open(home / "serve.log", "ab") as log:  # a file, not a pipe nobody drains
        proc = subprocess.Popen(
            [sys.executable, "-m", "sloth_tui", "serve", "--home", str(home), *extra],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=log,
        )
    deadline = time.monotonic() + timeout
    while probe(home / "sloth.sock", timeout=0.5) is None:
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            proc.wait()
            err = (home / "serve.log").read_text(errors="replace").strip()
            raise RuntimeError(f"sloth-tui serve did not start: {err[-500:]}")
        time.sleep(0.05)
    return proc


def stop_daemon(proc: subprocess.Popen[bytes], timeout: float = 20.0) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def sample_chunks(events: int) -> Iterator[bytes]:
    """`events` lines of SAMPLE_TYPE, CHUNK_LINES per bytes object."""
    line = json.dumps({"type": SAMPLE_TYPE, "data": catalog.sample_data(SAMPLE_TYPE)}).encode()
    chunk = (line + b"\n") * CHUNK_LINES
    left = events
    while left > 0:
        n = min(left, CHUNK_LINES)
        yield chunk if n == CHUNK_LINES else (line + b"\n") * n
        left -= n


async def pipelined_ingest(
    socket_path: Path, events: int, chunks: Iterable[bytes] | None = None
) -> float:
    """Send `events` lines as fast as the socket takes them (`chunks`, newline-ended lines;
    default: the sample event); events/s when the last ack is in. A refusal is an error."""
    reader, writer = await asyncio.open_unix_connection(str(socket_path))
    lines = sample_chunks(events) if chunks is None else chunks

    async def send() -> None:
        for chunk in lines:
            writer.write(chunk)
            await writer.drain()

    start = time.perf_counter()
    sender = asyncio.create_task(send())
    acked = failed = 0
    refused = b'"ok":false'
    tail = b""  # a refusal may straddle two reads
    while acked < events:  # acks are read in bulk, as a real pipelining producer would
        data = await reader.read(1 << 16)
        if not data:
            raise RuntimeError(f"the daemon hung up after {acked} of {events} acks")
        acked += data.count(b"\n")
        failed += (tail + data).count(refused)
        tail = data[-(len(refused) - 1) :]
    elapsed = time.perf_counter() - start
    await sender
    writer.close()
    with contextlib.suppress(ConnectionError):
        await writer.wait_closed()
    if failed:
        raise RuntimeError(f"{failed} of {events} events were refused during the bench")
    return events / elapsed


def monitor_overhead_percent(samples: int = 20) -> float:
    """The monitor's CPU time per sample over the default interval, as % of one core."""
    settings = MonitorSettings()
    alarms = Alarms(settings)
    missing: set[str] = set()
    take_sample(settings.mount_points, missing)  # warm the imports and psutil's caches
    cost = 0.0
    for _ in range(samples):
        sample = take_sample(settings.mount_points, missing)
        started = time.thread_time()
        alarms.check(sample)
        cost += sample.cost_s + time.thread_time() - started
    return cost / samples / settings.interval * 100


async def run_socket_bench(events: int = 20_000) -> dict[str, float]:
    with tempfile.TemporaryDirectory(prefix="sloth-sockbench-") as tmp:
        home = Path(tmp)
        proc = await asyncio.to_thread(
            start_daemon, home, "--no-monitor", "--no-watchers", "--log-level", "warning"
        )
        try:
            rates = [
                await pipelined_ingest(home / "sloth.sock", events) for _ in range(SOCKET_ROUNDS)
            ]
            cli = await asyncio.to_thread(cli_figures, home)  # on a store with events in it
        finally:
            await asyncio.to_thread(stop_daemon, proc)
    return {
        "socket_events_per_s": max(rates),
        "socket_events_per_s_first": rates[0],
        "monitor_overhead_percent": monitor_overhead_percent(),
        **cli,
    }


if __name__ == "__main__":  # python -m sloth_tui.sources.bench [EVENTS]
    count = int(sys.argv[1]) if len(sys.argv) > 1 else 20_000
    print(json.dumps(asyncio.run(run_socket_bench(count)), indent=2))
    sys.stdout.flush()
    os._exit(0)
