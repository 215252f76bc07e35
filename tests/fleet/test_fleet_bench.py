"""`sloth-tui bench --fleet N`: a small real run prints every figure and no run twice; a
missing nats-server is one line before anything starts; Ctrl-C leaves no process behind.
No time is asserted: the bench reports, it does not judge speed here."""

from __future__ import annotations

import json
import math
import signal
import subprocess
import sys
from pathlib import Path

import psutil
import pytest
from click.testing import CliRunner
from fleetkit import wait_for

from sloth_tui import bench, bench_fleet
from sloth_tui.cli import main

FIGURES = {
    "fleet_engines",
    "single_events_per_s",
    "single_hook_runs_per_s",
    "fleet_events_per_s",
    "fleet_hook_runs_per_s",
    "fleet_events_ratio",
    "fleet_hook_runs_ratio",
    "duplicate_runs",
    "fleet_latency_p99_ms",
}
SMALL = [
    "bench",
    "--events",
    "1000",
    "--hook-events",
    "200",
    "--latency-events",
    "50",
    "--no-socket",
]


def bench_cmd(home: Path, *args: str) -> list[str]:
    return [sys.executable, "-m", "sloth_tui", "--home", str(home), *SMALL, *args]


@pytest.mark.timeout(300)
def test_bench_fleet_2_prints_every_figure_and_no_duplicate(tmp_path: Path) -> None:
    done = subprocess.run(
        bench_cmd(tmp_path, "--fleet", "2", "--fleet-events", "400", "--json"),
        capture_output=True,
        text=True,
        timeout=280,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    figures = json.loads(done.stdout)
    assert set(figures) >= FIGURES
    assert figures["fleet_engines"] == 2
    assert figures["duplicate_runs"] == 0
    for key in FIGURES - {"duplicate_runs"}:
        assert figures[key] > 0 and not math.isnan(figures[key]), (key, figures)
    assert figures["fleet_events_ratio"] == pytest.approx(
        figures["fleet_events_per_s"] / figures["single_events_per_s"]
    )
    assert figures["fleet_hook_runs_ratio"] == pytest.approx(
        figures["fleet_hook_runs_per_s"] / figures["single_hook_runs_per_s"]
    )


def test_bench_fleet_without_nats_server_is_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))  # no nats-server there, nor anywhere else
    monkeypatch.setattr(bench_fleet, "NATS_PLACES", ())
    runs: list[dict[str, int]] = []

    async def engine_bench(**sizes: int) -> dict[str, float]:  # the first of the other runs
        runs.append(sizes)
        return {}

    monkeypatch.setattr(bench, "run_bench", engine_bench)
    result = CliRunner().invoke(main, ["--home", str(tmp_path), *SMALL, "--fleet", "2"])
    assert result.exit_code == 1
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and "nats-server" in lines[0] and "Traceback" not in result.output
    assert "apt-get install nats-server" in lines[0]
    assert runs == []  # said before any other run started


def test_bench_fleet_interrupted_stops_every_process_it_started(tmp_path: Path) -> None:
    proc = subprocess.Popen(
        bench_cmd(tmp_path, "--fleet", "2", "--fleet-events", "20000"),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        bench = psutil.Process(proc.pid)

        def fleet_up() -> list[psutil.Process]:
            kids = [k for k in bench.children(recursive=True) if "--nats" in _cmdline(k)]
            kids += [k for k in bench.children() if "nats-server" in _cmdline(k)]
            return kids if len(kids) == 3 else []

        # the fleet's engines and its NATS server are running
        kids = wait_for(fleet_up, 120, "the bench's fleet to start")
        proc.send_signal(signal.SIGINT)  # what Ctrl-C sends the foreground process
        _out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert "Traceback" not in err, err[-2000:]
    assert proc.returncode != 0
    for kid in kids:  # each stopped by the bench: none is left running on its own
        wait_for(lambda kid=kid: not _alive(kid), 10, f"pid {kid.pid} to end")


def _cmdline(process: psutil.Process) -> str:
    try:
        return " ".join(process.cmdline())
    except psutil.Error:  # it ended meanwhile (a `hook add`, say)
        return ""


def _alive(process: psutil.Process) -> bool:
    try:
        return process.is_running() and process.status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False
