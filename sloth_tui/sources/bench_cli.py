"""cli_ratio: how much the command line costs over the socket it talks to (issue 19).

Against a running daemon, `sloth-tui event list --limit 1 --json` is timed from process
start to exit, and so is the smallest Python client that sends the same request over
the same socket and prints the reply. Both are fresh interpreters, interleaved run by
run, so their ratio is the command line's own cost (imports, click, the client's
handshake), whatever the machine is doing. The target is <= 2.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

RUNS = 7  # of each, interleaved; the median is kept

# The floor: an interpreter, a socket, one request line and one reply line.
MINIMAL_CLIENT = """\
import json, socket, sys
s = socket.socket(socket.AF_UNIX)
s.connect(sys.argv[1])
s.sendall(json.dumps({"op": "query_events", "limit": 1}).encode() + b"\\n")
buf = b""
while not buf.endswith(b"\\n"):
    part = s.recv(65536)
    if not part:
        break
    buf += part
sys.stdout.write(buf.decode())
"""


def _env() -> dict[str, str]:
    """This environment, but bytecode may be cached: an installed sloth-tui has its .pyc
    files, and without them every run would compile what it imports (tens of ms)."""
    return {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}


def _wall_ms(cmd: list[str]) -> float:
    start = time.perf_counter()
    done = subprocess.run(
        cmd, stdin=subprocess.DEVNULL, capture_output=True, check=False, env=_env()
    )
    elapsed = (time.perf_counter() - start) * 1000
    if done.returncode != 0:
        err = done.stderr.decode(errors="replace").strip()[-300:]
        raise RuntimeError(f"{' '.join(cmd[:6])}... exited {done.returncode}: {err}")
    return elapsed


def cli_figures(home: Path, runs: int = RUNS) -> dict[str, float]:
    """cli_ms, cli_floor_ms and cli_ratio against the daemon serving `home`."""
    cli = [sys.executable, "-m", "sloth_tui", "--home", str(home)]
    cli += ["event", "list", "--limit", "1", "--json"]
    floor = [sys.executable, "-c", MINIMAL_CLIENT, str(home / "sloth.sock")]
    _wall_ms(cli)  # one of each first: the page cache and the .pyc files, not the figure
    _wall_ms(floor)
    cli_ms, floor_ms = [], []
    for _ in range(runs):
        cli_ms.append(_wall_ms(cli))
        floor_ms.append(_wall_ms(floor))
    cli_median, floor_median = statistics.median(cli_ms), statistics.median(floor_ms)
    return {
        "cli_ms": cli_median,
        "cli_floor_ms": floor_median,
        "cli_ratio": cli_median / floor_median,
    }
