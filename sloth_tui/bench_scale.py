"""`sloth-tui bench --scale N`: queries, first screen and sizes on a big store (issue 19).

A real `sloth-tui serve` is filled with N events over its socket (pipelined, as
through sources/bench.py's pipelined_ingest), then each query is run as the user runs it:
`sloth-tui event list --limit 50 --json ...` in a fresh interpreter against that daemon.
A query's figure is its median wall time minus the floor of `cli_ratio` (the smallest
Python client asking the daemon for one event): what the command line and the store
add for that query. `query_base_ms` is the same for no filter at all, so a query's own
cost is its figure minus that one.

The mix is deterministic: a few event types (three `deploy.*`), sources, a `service`
field where `billing-rare` occurs about 10 times and `checkout` in a third of the
events, and a `note` where the word `zanzibar` occurs about 10 times and `heartbeat`
in a fifth. The same run at N/10 gives the growth ratios (figure at N / figure at N/10;
a query extra under NOISE_FLOOR_MS counts as that much).
"""

from __future__ import annotations

import asyncio
import json
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

RARE = 10  # events holding each rare value
NOISE_FLOOR_MS = 10.0  # query extras below this count as this much in the growth ratios
QUERY_RUNS = 5  # runs of each query; the median is kept

TYPES = (
    "deploy.started",
    "deploy.completed",
    "deploy.failed",
    "task.completed",
    "health.check_passed",
    "file.modified",
    "security.login_failed",
    "agent.resource_high",
)
SOURCES = ("socket", "socket:ci", "socket:web-1", "socket:web-2", "cli")
SERVICES = ("api", "web", "search", "auth")

# name -> the `event list` arguments after `--limit 50 --json`.
QUERIES: dict[str, list[str]] = {
    "base": [],
    "type_glob": ["--type", "deploy.*"],
    "category": ["--filter", "cat:security"],
    "status": ["--filter", "status:failed"],
    "source": ["--filter", "src:socket:web-2"],
    "field_rare": ["--filter", "service=billing-rare"],
    "field_common": ["--filter", "service=checkout"],
    "text_rare": ["--filter", "zanzibar"],
    "text_common": ["--filter", "heartbeat"],
    "combined": ["--filter", "type:deploy.* src:socket:ci service=checkout heartbeat"],
}
STORE_FILES = ("sloth.db", "sloth.db-wal")
INDEX_FILES = ("sloth.db-text", "sloth.db-text-wal")  # engine/text_index.py
GROWTH = ("query_", "tui_first_screen_s")  # figures whose growth N/10 -> N is printed


def event_line(i: int, n: int) -> dict[str, Any]:
    """Event i of n: a deterministic, realistic mix (see the module's docstring)."""
    type_ = TYPES[i % len(TYPES)]
    every = max(1, n // RARE)
    service = (
        "billing-rare"
        if i % every == every // 2
        else "checkout"
        if i % 3 == 0
        else SERVICES[i % len(SERVICES)]
    )
    if i % every == every // 3:
        note = f"request {i} routed via zanzibar gateway"
    elif i % 5 == 1:
        note = f"heartbeat {i} ok"
    else:
        note = f"request {i} took {i % 977} ms"
    data = {"service": service, "note": note, "host": f"node-{i % 64}", "seq": i}
    return {"type": type_, "source": SOURCES[i % len(SOURCES)], "data": data}


def event_lines(n: int, chunk: int = 1000) -> Iterator[bytes]:
    """The N lines of the mix, `chunk` per bytes object."""
    for start in range(0, n, chunk):
        yield b"".join(
            json.dumps(event_line(i, n)).encode() + b"\n"
            for i in range(start, min(n, start + chunk))
        )


async def fill(socket_path: Path, n: int) -> float:
    """Send the N events of the mix, pipelined; events/s once the last ack is in."""
    from sloth_tui.sources.bench import pipelined_ingest

    return await pipelined_ingest(socket_path, n, event_lines(n))


def _query_ms(home: Path, args: list[str], runs: int) -> float:
    from sloth_tui.sources.bench_cli import _wall_ms

    cmd = [sys.executable, "-m", "sloth_tui", "--home", str(home), "event", "list"]
    cmd += ["--limit", "50", "--json", *args]
    if runs > 1:
        _wall_ms(cmd)  # warm: the page cache, not the figure
    return statistics.median(_wall_ms(cmd) for _ in range(runs))


def _tui_figures(home: Path) -> dict[str, float]:
    spawned_at = time.time()
    done = subprocess.run(
        [sys.executable, "-m", "sloth_tui.tui.bench_first_screen", str(home), repr(spawned_at)],
        stdin=subprocess.DEVNULL,
        capture_output=True,
        check=False,
    )
    if done.returncode != 0:
        err = done.stderr.decode(errors="replace").strip()[-500:]
        raise RuntimeError(f"the dashboard bench exited {done.returncode}: {err}")
    figures: dict[str, float] = json.loads(done.stdout.decode().strip().splitlines()[-1])
    return figures


def _file_bytes(home: Path, *names: str) -> int:
    return sum((home / name).stat().st_size for name in names if (home / name).exists())


def _stats(socket_path: Path) -> dict[str, Any]:
    """The daemon's EngineStats, as a plain client asks for them."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.connect(str(socket_path))
        sock.sendall(b'{"op": "stats"}\n')
        reply = bytearray()
        while not reply.endswith(b"\n"):
            part = sock.recv(1 << 16)
            if not part:
                raise RuntimeError("the daemon hung up on a stats request")
            reply += part
    stats = json.loads(reply).get("stats")
    if not isinstance(stats, dict):
        raise RuntimeError(f"the daemon answered a stats request with {bytes(reply)[:200]!r}")
    return stats


async def index_catch_up(socket_path: Path, timeout: float = 600.0) -> float:
    """Seconds until the daemon's text index holds every event (0 without an index)."""
    started = time.perf_counter()
    while (await asyncio.to_thread(_stats, socket_path)).get("text_index_waiting", 0) > 0:
        if time.perf_counter() - started > timeout:
            raise RuntimeError(f"the text index did not catch up within {timeout:.0f} s")
        await asyncio.sleep(0.05)
    return time.perf_counter() - started


async def scale_figures(n: int, runs: int = QUERY_RUNS) -> dict[str, float]:
    """Every figure for one store of N events (see the module's docstring)."""
    import psutil

    from sloth_tui.sources.bench import start_daemon, stop_daemon
    from sloth_tui.sources.bench_cli import cli_figures

    with tempfile.TemporaryDirectory(prefix="sloth-scale-") as tmp:
        home = Path(tmp)
        proc = await asyncio.to_thread(
            start_daemon, home, "--no-monitor", "--no-watchers", "--log-level", "warning"
        )
        try:
            rate = await fill(home / "sloth.sock", n)
            out: dict[str, float] = {"fill_events_per_s": rate}
            # The queries meet the store as it settles: with every event indexed.
            out["text_index_catch_up_s"] = await index_catch_up(home / "sloth.sock")
            floor = (await asyncio.to_thread(cli_figures, home, runs))["cli_floor_ms"]
            out["cli_floor_ms"] = floor
            for name, args in QUERIES.items():
                wall = await asyncio.to_thread(_query_ms, home, args, runs)
                out[f"query_{name}_ms"] = wall - floor
            out |= await asyncio.to_thread(_tui_figures, home)
            out["serve_rss_mb"] = psutil.Process(proc.pid).memory_info().rss / 2**20
            out["bytes_per_event"] = _file_bytes(home, *STORE_FILES, *INDEX_FILES) / n
            out["text_index_bytes_per_event"] = _file_bytes(home, *INDEX_FILES) / n
        finally:
            await asyncio.to_thread(stop_daemon, proc)
    return out


async def run_scale_bench(n: int, *, runs: int = QUERY_RUNS) -> dict[str, float]:
    """The figures at N, and growth_<figure> (at N over at N/10) for the query extras and
    the first screen. Run at N/10 first: the bigger store then meets a warm machine.
    runs: of each query (the median is kept)."""
    small = await scale_figures(max(1, n // 10), runs)
    big = await scale_figures(n, runs)
    results = {f"scale_{k}" if k in ("cli_floor_ms", "fill_events_per_s") else k: v
               for k, v in big.items()}  # fmt: skip
    for key, value in big.items():
        if key.startswith(GROWTH) and key != "query_base_ms":
            # A query extra of a few ms is within the floor's noise, and can come out at
            # or below 0: a ratio of two such is noise (or inf). Each side counts as at
            # least NOISE_FLOOR_MS, so a cheap query's growth reads about 1.
            floor = NOISE_FLOOR_MS if key.startswith("query_") else 0.0
            low = max(small[key], floor)
            results[f"growth_{key}"] = max(value, floor) / low if low > 0 else float("inf")
    return results


# issue 19's targets for these figures (commands/bench.py prints them beside each one).
SCALE_TARGETS: dict[str, tuple[str, float]] = {
    **{f"query_{name}_ms": ("<=", 50.0) for name in QUERIES if name != "base"},
    **{f"growth_query_{name}_ms": ("<=", 2.0) for name in QUERIES if name != "base"},
    "tui_first_screen_s": ("<=", 1.5),
    "growth_tui_first_screen_s": ("<=", 2.0),
}
