"""`sloth-tui bridge sloth-runner` and `[sources.sloth_runner]` as processes (issue 14.6).

The acceptance test: a writer process inserts rows into an upstream hooks.db the way
Sloth Runner does while the bridge follows it; the bridge is killed with SIGKILL in the
middle; after a restart every upstream row appears exactly once. Once for the command
(into a store with no daemon), once for the source inside `serve`.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import textwrap
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from sourcekit import (
    SLOTH,
    DaemonProcess,
    db_rows,
    run_cli,
    wait_for,
    write_config,
)
from upstreamkit import UpstreamDB, mirrored_rows, upstream_rows

ROWS = 1500  # upstream events the writer inserts (a run for every third)

WRITER = textwrap.dedent(
    """
    import sys, time
    sys.path.insert(0, {kit!r})
    from upstreamkit import UpstreamDB
    db = UpstreamDB(__import__("pathlib").Path({path!r}))
    for i in range({rows}):
        uid = db.event(data={{"task": {{"task_name": "t%d" % i, "seq": i}}}})
        if i % 3 == 0:
            db.run(uid, success=i % 2 == 0)
        time.sleep(0.002)
    db.close()
    """
)


@pytest.fixture
def writer(tmp_path: Path) -> Iterator[Callable[[Path], subprocess.Popen[bytes]]]:
    started: list[subprocess.Popen[bytes]] = []

    def start(path: Path) -> subprocess.Popen[bytes]:
        kit = str(Path(__file__).resolve().parents[1] / "sources")
        code = WRITER.format(kit=kit, path=str(path), rows=ROWS)
        proc = subprocess.Popen([sys.executable, "-c", code])
        started.append(proc)
        return proc

    yield start
    for proc in started:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)


def bridged(home: Path) -> int:
    if not (home / "sloth.db").exists():
        return 0
    try:
        return int(db_rows(home, "SELECT count(*) FROM events WHERE source='sloth-runner'")[0][0])
    except Exception:  # the store is being created or migrated
        return 0


def upstream_runs(path: Path) -> int:
    import sqlite3

    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=10)
    try:
        return int(conn.execute("SELECT count(*) FROM event_hook_executions").fetchone()[0])
    finally:
        conn.close()


def assert_exactly_once(home: Path, upstream: Path) -> None:
    assert mirrored_rows(home) == upstream_rows(upstream)
    runs = db_rows(home, "SELECT count(*) FROM executions WHERE origin = 'sloth-runner'")[0][0]
    assert runs == upstream_runs(upstream)
    # and no key twice: the mirrored table's primary key says so; its rows match the total
    keys = db_rows(home, "SELECT count(*) FROM mirrored")[0][0]
    assert keys == len(mirrored_rows(home)) + runs


def test_kill_9_the_bridge_command_then_restart(
    tmp_path: Path, home: Path, writer: Callable[[Path], subprocess.Popen[bytes]]
) -> None:
    upstream = tmp_path / "sr" / "hooks.db"
    UpstreamDB(upstream).close()  # the schema exists before the bridge starts
    feed = writer(upstream)
    log = open(tmp_path / "bridge.log", "wb")  # noqa: SIM115 (closed below)
    bridge = subprocess.Popen(
        [
            *SLOTH,
            "--home",
            str(home),
            "bridge",
            "sloth-runner",
            "--db",
            str(upstream),
            "--poll",
            "0.05",
        ],
        stdout=log,
        stderr=log,
    )
    try:
        wait_for(lambda: bridged(home) > 200, timeout=60, what="the bridge to take rows in")
        assert feed.poll() is None, "the writer should still be writing when the bridge dies"
        bridge.send_signal(signal.SIGKILL)
        bridge.wait(10)
    finally:
        if bridge.poll() is None:
            bridge.kill()
        log.close()
    assert feed.wait(120) == 0
    done = run_cli(
        "--home", str(home), "bridge", "sloth-runner", "--db", str(upstream), "--once", "--json"
    )
    assert done.returncode == 0, done.stderr
    figures = json.loads(done.stdout)
    assert figures["db"] == str(upstream) and figures["lag"] == 0
    assert figures["events"] < ROWS  # the killed bridge had stored part; that part is not redone
    assert_exactly_once(home, upstream)


def test_kill_9_serve_with_the_bridge_source_then_restart(
    tmp_path: Path,
    daemons: Callable[[Path | None], DaemonProcess],
    writer: Callable[[Path], subprocess.Popen[bytes]],
) -> None:
    upstream = tmp_path / "sr" / "hooks.db"
    UpstreamDB(upstream).close()
    daemon = daemons(None)
    write_config(
        daemon.home,
        f'[sources.sloth_runner]\ndb = "{upstream}"\npoll_interval = 0.05\n',
    )
    feed = writer(upstream)
    daemon.start("--no-monitor")
    wait_for(lambda: bridged(daemon.home) > 200, timeout=60, what="serve's bridge")
    assert feed.poll() is None
    daemon.proc.send_signal(signal.SIGKILL)  # type: ignore[union-attr]
    daemon.proc.wait(10)  # type: ignore[union-attr]
    assert feed.wait(120) == 0
    daemon.start("--no-monitor")
    wait_for(lambda: bridged(daemon.home) >= ROWS, timeout=90, what="the restarted bridge")
    wait_for(
        lambda: (
            db_rows(daemon.home, "SELECT count(*) FROM executions WHERE origin='sloth-runner'")[0][
                0
            ]
            >= upstream_runs(upstream)
        ),
        timeout=60,
        what="the runs",
    )
    assert_exactly_once(daemon.home, upstream)
    doctor = run_cli("--home", str(daemon.home), "doctor")
    line = next(x for x in doctor.stdout.splitlines() if "sloth-runner (sloth_runner)" in x)
    assert line.startswith("ok") and "mirrored since start · lag 0s" in line, doctor.stdout
    assert daemon.signal(signal.SIGTERM) == 0, daemon.output()


def test_doctor_says_why_the_bridge_is_retrying(
    tmp_path: Path, daemons: Callable[[Path | None], DaemonProcess]
) -> None:
    daemon = daemons(None)
    missing = tmp_path / "nowhere" / "hooks.db"
    write_config(daemon.home, f'[sources.sloth_runner]\ndb = "{missing}"\n')
    daemon.start("--no-monitor")

    def retrying() -> str | None:
        out = run_cli("--home", str(daemon.home), "doctor").stdout
        return next((x for x in out.splitlines() if "retrying" in x), None)

    line = wait_for(retrying, timeout=30, what="doctor to list the bridge")
    assert line.startswith("warning") and f"{missing}: no such file" in line
    assert daemon.signal(signal.SIGTERM) == 0, daemon.output()


def test_once_without_a_file_is_one_line(home: Path, tmp_path: Path) -> None:
    result = run_cli(
        "--home", str(home), "bridge", "sloth-runner", "--db", str(tmp_path / "no.db"), "--once"
    )
    assert result.returncode == 1
    assert result.stderr.strip().splitlines() == [f"error: {tmp_path / 'no.db'}: no such file"]


def test_discovery_through_the_environment(home: Path, tmp_path: Path) -> None:
    data_dir = tmp_path / "srdata"
    db = UpstreamDB(data_dir / "hooks.db")
    db.event()
    db.close()
    result = run_cli(
        "--home", str(home), "bridge", "sloth-runner", "--once",
        env={"SLOTH_RUNNER_DATA_DIR": str(data_dir)},
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "1 events" in result.stdout and str(data_dir / "hooks.db") in result.stdout
    listed = run_cli("--home", str(home), "events", "list", "--json")
    assert listed.returncode == 0
    nothing = run_cli(
        "--home", str(home), "bridge", "sloth-runner", "--once",
        env={"SLOTH_RUNNER_DATA_DIR": str(tmp_path / "empty")},
    )  # fmt: skip
    assert nothing.returncode == 1 and "No Sloth Runner hooks.db found" in nothing.stderr


def test_help_explains_the_bridge() -> None:
    result = run_cli("bridge", "sloth-runner", "--help")
    assert result.returncode == 0
    for words in ("SLOTH_RUNNER_DATA_DIR", "--run-hooks", "--once", "read-only", "kill -9"):
        assert words in result.stdout
