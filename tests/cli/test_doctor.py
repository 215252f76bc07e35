"""`sloth-tui doctor`, run as operators run it: a real subprocess on a real data dir.

One line per finding (`LEVEL CHECK: ...`), exit 0 only when nothing is wrong, never a
traceback, and on a damaged database: how to recover from a backup."""

from __future__ import annotations

import asyncio
import json
import os
import re
import sqlite3
import subprocess
from pathlib import Path

import pytest
from sourcekit import SLOTH, DaemonProcess

from sloth_tui.config import load_settings
from sloth_tui.engine.engine import Engine

LINE = re.compile(r"^(ok|info|warning|problem) +[a-z]+: \S.*$")


async def _fill(home: Path, n: int = 50) -> None:
    engine = await Engine.open(load_settings(home))
    try:
        for i in range(n):
            await engine.dispatch("custom", {"name": "n", "message": "m" * 500, "i": i})
    finally:
        await engine.close()


def _doctor(home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(
        [*SLOTH, "--home", str(home), "doctor", *args],
        capture_output=True,
        text=True,
        timeout=60,  # a hang guard: doctor must never wait on a lock or a daemon
    )
    assert "Traceback" not in proc.stderr + proc.stdout
    return proc


def _lines(proc: subprocess.CompletedProcess[str]) -> list[str]:
    lines = proc.stdout.splitlines()
    for line in lines:
        assert LINE.match(line), line
    return lines


@pytest.fixture
def store_home(tmp_path: Path) -> Path:
    home = tmp_path / "data"  # made by the engine: 0700, files 0600
    asyncio.run(_fill(home))
    return home


def test_a_healthy_store_is_all_ok_and_exits_0(store_home: Path) -> None:
    proc = _doctor(store_home)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    lines = _lines(proc)
    assert not [line for line in lines if line.startswith(("warning", "problem"))]
    assert any(line.startswith("ok") and "integrity_check" in line for line in lines)
    assert any("schema version" in line for line in lines)
    assert any(line.startswith("info     lock: no engine") for line in lines)
    assert proc.stderr == ""


def test_a_damaged_store_is_a_problem_with_recovery_steps(store_home: Path) -> None:
    db = store_home / "sloth.db"
    with sqlite3.connect(db) as conn:
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.close()
    size = db.stat().st_size
    with open(db, "r+b") as f:
        for offset in range(4096, size, 4096):
            f.seek(offset)
            f.write(os.urandom(4096))
    before = db.read_bytes()
    proc = _doctor(store_home)
    assert proc.returncode == 1
    lines = _lines(proc)
    damage = [line for line in lines if line.startswith("problem  database:")]
    assert damage and all(str(db) in line for line in damage)
    recover = [line for line in lines if line.startswith("info     recover:")]
    assert any(".recover" in line for line in recover)
    assert any(".backup" in line and "VACUUM INTO" in line for line in recover)
    assert db.read_bytes() == before  # read-only: nothing was touched


def test_loose_modes_are_warnings_with_the_chmod_that_fixes_them(store_home: Path) -> None:
    os.chmod(store_home, 0o755)
    os.chmod(store_home / "sloth.db", 0o644)
    proc = _doctor(store_home)
    assert proc.returncode == 1
    warnings = [line for line in _lines(proc) if line.startswith("warning  modes:")]
    assert len(warnings) == 2
    assert any(line.endswith(f"fix: chmod 700 {store_home}") for line in warnings)
    assert any(line.endswith(f"fix: chmod 600 {store_home / 'sloth.db'}") for line in warnings)


def test_an_emptied_store_is_a_problem(store_home: Path) -> None:
    for suffix in ("-wal", "-shm"):
        Path(f"{store_home / 'sloth.db'}{suffix}").unlink(missing_ok=True)
    (store_home / "sloth.db").write_bytes(b"")
    proc = _doctor(store_home)
    assert proc.returncode == 1
    problems = [line for line in _lines(proc) if line.startswith("problem")]
    assert any("empty" in line and "backup" in line for line in problems)


def test_json_lists_the_findings(store_home: Path) -> None:
    os.chmod(store_home, 0o750)
    proc = _doctor(store_home, "--json")
    assert proc.returncode == 1
    report = json.loads(proc.stdout)
    assert report["home"] == str(store_home) and report["healthy"] is False
    levels = {(f["level"], f["check"]) for f in report["findings"]}
    assert ("warning", "modes") in levels and ("ok", "database") in levels


def test_a_missing_home_is_reported_not_created(tmp_path: Path) -> None:
    home = tmp_path / "nowhere"
    proc = _doctor(home)
    assert proc.returncode == 0
    assert "does not exist yet" in proc.stdout
    assert not home.exists()


def test_a_running_daemon_is_seen_on_its_lock_and_socket(tmp_path: Path) -> None:
    home = tmp_path / "served"
    daemon = DaemonProcess(home)
    try:
        daemon.start("--no-monitor", "--no-watchers")
        proc = _doctor(home)
        lines = _lines(proc)
        assert any(line.startswith("info     lock: an engine is running") for line in lines)
        assert any(line.startswith("ok       socket: a daemon answers") for line in lines)
        assert proc.returncode == 0, proc.stdout
    finally:
        daemon.kill()


def test_help_explains_levels_exit_codes_and_recovery() -> None:
    proc = subprocess.run([*SLOTH, "doctor", "--help"], capture_output=True, text=True, timeout=30)
    assert proc.returncode == 0
    text = " ".join(proc.stdout.split())
    for words in ("integrity_check", "Exits 0", ".recover", "VACUUM INTO", "--json"):
        assert words in text, words
