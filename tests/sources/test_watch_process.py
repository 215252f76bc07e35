"""kind = "process" on real processes: a child started and killed, seen by its argv."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from watchkit import Api, Clock

from sloth_tui.sources.watch_config import ProcessWatch
from sloth_tui.sources.watch_process import ProcessWatcher


@pytest.fixture
def children() -> Iterator[list[subprocess.Popen[bytes]]]:
    made: list[subprocess.Popen[bytes]] = []
    yield made
    for child in made:
        child.kill()
        child.wait()


def spawn(made: list[subprocess.Popen[bytes]], *argv: str) -> subprocess.Popen[bytes]:
    # Popen returns once the exec succeeded, so the argv is in /proc already.
    child = subprocess.Popen([*argv], stdin=subprocess.DEVNULL)
    made.append(child)
    return child


def sleeper(marker: str) -> list[str]:
    return [sys.executable, "-c", "import time; time.sleep(60)", marker]


async def test_started_then_stopped_by_pattern(children: list[subprocess.Popen[bytes]]) -> None:
    marker = f"sloth-watch-{uuid.uuid4().hex}"
    clock, api = Clock(), Api()
    w = ProcessWatcher(ProcessWatch("worker", pattern=re.escape(marker)), sleep=clock.sleep)
    await w.start(api)  # type: ignore[arg-type]
    try:
        await clock.settled()
        assert api.sent == [] and "not running" in w.health().detail
        child = spawn(children, *sleeper(marker))
        await clock.step()
        [started] = api.of("process.started")
        assert started["process"] == re.escape(marker) and started["watcher_id"] == "worker"
        assert started["pids"] == [child.pid] and started["count"] == 1
        await clock.step()  # still running: no news
        assert api.types() == ["process.started"]
        child.kill()
        child.wait()
        await clock.step()
        assert api.types() == ["process.started", "process.stopped"]
        assert api.of("process.stopped")[0]["pids"] == [child.pid]
        assert {s for _, _, s in api.sent} == {"watcher:worker"}
    finally:
        await w.stop()
    assert w.health().state == "stopped"


async def test_by_name_and_already_running_is_the_baseline(
    tmp_path: Path, children: list[subprocess.Popen[bytes]]
) -> None:
    name = f"slw{uuid.uuid4().hex[:8]}"  # a unique program name (under comm's 15 characters)
    program = tmp_path / name
    os.symlink(sys.executable, program)
    child = spawn(children, str(program), "-c", "import time; time.sleep(60)")
    clock, api = Clock(), Api()
    w = ProcessWatcher(ProcessWatch("byname", process=name), sleep=clock.sleep)
    await w.start(api)  # type: ignore[arg-type]
    try:
        await clock.settled()
        assert api.sent == []  # it ran before the watcher started: not news
        assert "running (1)" in w.health().detail
        child.kill()
        child.wait()
        await clock.step()
        [stopped] = api.of("process.stopped")
        assert stopped == {
            "process": name,
            "watcher_id": "byname",
            "pids": [child.pid],
            "count": 0,
        }
    finally:
        await w.stop()


def test_matching_rules() -> None:
    w = ProcessWatcher(ProcessWatch("n", process="nginx"))
    assert w.matches("nginx", ["nginx: master process"])
    assert w.matches("x", ["/usr/sbin/nginx", "-g", "daemon off;"])
    assert not w.matches("nginx-exporter", ["/bin/nginx-exporter"])
    p = ProcessWatcher(ProcessWatch("p", pattern=r"gunicorn: master \[app\]"))
    assert p.matches("gunicorn", ["gunicorn: master [app]"])
    assert not p.matches("gunicorn", ["gunicorn: worker [app]"])
