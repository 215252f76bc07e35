"""`sloth-tui backup` and `sloth-tui restore`, run as operators run them: real subprocesses
on real data dirs, with a real `serve` writing where the point is a live engine.

What must hold: a backup taken while events stream in is whole (integrity_check) and
holds everything committed before it began; a failed backup (missing dir, unwritable dir,
full disk) is one line and leaves no file; retention keeps the newest N of its own files
only; a restore is refused while an engine runs and for anything but a sloth-tui store
this version can open, leaving the store untouched; a good restore is what the next
`serve` sees, with the old store kept aside; and every step records its catalog event.
"""

from __future__ import annotations

import asyncio
import json
import os
import resource
import signal
import sqlite3
import subprocess
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from hypothesis import given, settings
from hypothesis import strategies as st
from sourcekit import SLOTH, DaemonProcess, ask, events_of, wait_for, write_config

from sloth_tui.catalog import get as catalog_get
from sloth_tui.cli import main
from sloth_tui.config import ConfigError, load_settings
from sloth_tui.engine.backup_copy import (
    BACKUP_NAME,
    BackupCancelled,
    CopyCancel,
    backup_settings,
    copy_store,
    prune,
)
from sloth_tui.engine.engine import Engine
from sloth_tui.engine.schema import MIGRATIONS, SCHEMA_VERSION

BIG = "x" * 2000  # ~2 KB per event: a store of a few MB takes the copy a moment


def sloth(
    home: Path, *args: str, limit_fsize: int | None = None, timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    """One CLI run; never a traceback. limit_fsize: RLIMIT_FSIZE for the child, which
    makes any write past that many bytes fail as on a full disk (Python ignores SIGXFSZ,
    so the write returns EFBIG instead of killing the process)."""

    def limit() -> None:
        assert limit_fsize is not None
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit_fsize, limit_fsize))

    proc = subprocess.run(
        [*SLOTH, "--home", str(home), *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        preexec_fn=limit if limit_fsize is not None else None,
    )
    assert "Traceback" not in proc.stdout + proc.stderr, proc.stderr
    return proc


def one_error_line(proc: subprocess.CompletedProcess[str]) -> str:
    assert proc.returncode == 1, (proc.stdout, proc.stderr)
    lines = proc.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), proc.stderr
    return lines[0]


async def _fill(home: Path, n: int, tag: str = "pre") -> None:
    engine = await Engine.open(load_settings(home))
    try:
        for i in range(n):
            await engine.dispatch("custom", {"name": tag, "message": BIG, "i": i})
    finally:
        await engine.close()


def fill(home: Path, n: int, tag: str = "pre") -> None:
    asyncio.run(_fill(home, n, tag))


def rows(db: Path, sql: str) -> list[tuple[Any, ...]]:
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        return conn.execute(sql).fetchall()
    finally:
        conn.close()


def ids_in(db: Path) -> set[int]:
    return {r[0] for r in rows(db, "SELECT id FROM events")}


def integrity(db: Path) -> str:
    return str(rows(db, "PRAGMA integrity_check")[0][0])


def leftovers(folder: Path) -> list[str]:
    """Anything a failed copy could have left: partial files, journals."""
    return sorted(p.name for p in folder.iterdir() if "partial" in p.name or "journal" in p.name)


def assert_catalog_fields(event: dict[str, Any]) -> None:
    spec = catalog_get(event["type"])
    assert spec is not None
    for f in spec.fields:
        assert f.name in event["data"], (event["type"], f.name)


def backup_json(home: Path, *args: str) -> dict[str, Any]:
    proc = sloth(home, "backup", "--json", *args)
    assert proc.returncode == 0, proc.stderr
    result: dict[str, Any] = json.loads(proc.stdout)
    assert result["events_recorded"] is True
    return result


# -- backup -----------------------------------------------------------------------------


def test_backup_while_serve_writes_is_whole_and_holds_what_came_before(tmp_path: Path) -> None:
    home = tmp_path / "home"
    fill(home, 1500)  # ~3 MB
    daemon = DaemonProcess(home).start()
    acked: list[int] = []  # ids the daemon confirmed (committed) to the writer
    stop = threading.Event()

    def writer() -> None:
        i = 0
        while not stop.is_set():
            lines = [
                {"type": "custom", "data": {"name": "live", "message": BIG, "i": i + k}}
                for k in range(20)
            ]
            i += 20
            replies = ask(daemon.socket, *lines)
            acked.extend(r["id"] for r in replies if r.get("ok"))

    thread = threading.Thread(target=writer, daemon=True)
    try:
        thread.start()
        wait_for(lambda: len(acked) >= 200, 30, "the writer under way")
        before = set(acked)
        result = backup_json(home)
        wait_for(lambda: len(acked) >= len(before) + 200, 30, "writes after the backup")
    finally:
        stop.set()
        thread.join(30)
        daemon.signal(signal.SIGTERM)
    copy = Path(result["destination"])
    assert copy.parent == home / "backups" and BACKUP_NAME.match(copy.name)
    assert integrity(copy) == "ok"
    assert rows(copy, "PRAGMA journal_mode")[0][0] == "delete"  # one file, no -wal needed
    copied = ids_in(copy)
    assert result["events"] == len(copied)
    assert before <= copied  # everything confirmed before the backup began
    assert set(range(1, 1501)) <= copied

    live = events_of(home)
    started = next(e for e in live if e["type"] == "backup.started")
    completed = next(e for e in live if e["type"] == "backup.completed")
    # The writer's events went on landing while the backup ran ...
    assert any(started["id"] < i < completed["id"] for i in acked)
    # ... and the copy is the store as of its start: its own backup.started, not later.
    assert started["id"] in copied and completed["id"] not in copied
    assert {i for i in ids_in(home / "sloth.db") if i <= started["id"]} <= copied
    for event in (started, completed):
        assert event["source"] == "cli" and event["data"]["backup_id"] == result["backup_id"]
        assert_catalog_fields(event)
    assert completed["data"]["destination"] == str(copy)
    assert completed["data"]["size"] == copy.stat().st_size
    assert oct(copy.stat().st_mode & 0o777) == "0o600"
    assert leftovers(copy.parent) == []


def test_retention_keeps_the_newest_n_of_its_own_files_only(tmp_path: Path) -> None:
    home = tmp_path / "home"
    fill(home, 3)
    write_config(home, "[backup]\nkeep = 2\n")
    folder = home / "backups"
    folder.mkdir(mode=0o700)
    oldest = folder / "sloth-backup-20000101T000000.000Z.db"  # its name: one of ours
    strangers = ["sloth-backup-notes.db", "mine.db", ".sloth-backup-x.db.ab12.partial"]
    for name in [oldest.name, *strangers]:
        (folder / name).write_text("keep me" if name != oldest.name else "old")
    made = [backup_json(home)["backup_id"] for _ in range(3)]
    ours = sorted(p.name for p in folder.iterdir() if BACKUP_NAME.match(p.name))
    assert ours == [f"sloth-backup-{i}.db" for i in made[-2:]]
    assert all((folder / name).read_text() == "keep me" for name in strangers)
    # --to elsewhere prunes nothing
    elsewhere = backup_json(home, "--to", str(tmp_path / "one.db"))
    assert elsewhere["pruned"] == [] and len(list(folder.glob("sloth-backup-2*"))) == 2


def test_prune_sorts_by_the_time_in_the_name_not_by_mtime(tmp_path: Path) -> None:
    names = [f"sloth-backup-2026120{d}T000000.000Z.db" for d in (3, 1, 2)]
    for name in names:
        (tmp_path / name).write_text("")
    os.utime(tmp_path / names[1], (2e9, 2e9))  # the oldest name, the newest mtime
    removed = prune(tmp_path, 2)
    assert [p.name for p in removed] == ["sloth-backup-20261201T000000.000Z.db"]


@pytest.mark.parametrize(
    "target, why",
    [
        ("missing-dir/b.db", "does not exist"),
        ("/sys/sloth-backup-test.db", "Permission denied"),  # refused even to root
        ("a-file/b.db", "is not a directory"),
    ],
)
def test_a_target_that_cannot_be_written_is_one_line_and_no_file(
    tmp_path: Path, target: str, why: str
) -> None:
    home = tmp_path / "home"
    fill(home, 3)
    (tmp_path / "a-file").write_text("")
    dest = Path(target) if target.startswith("/") else tmp_path / target
    line = one_error_line(sloth(home, "backup", "--to", str(dest)))
    assert why in line and str(dest) in line
    assert not dest.exists()
    if dest.parent.is_dir() and dest.parent.parent == tmp_path:
        assert leftovers(dest.parent) == []
    failed = events_of(home, "backup.failed")
    assert len(failed) == 1 and why in failed[0]["data"]["error"]
    assert failed[0]["data"]["partial_data"] is False
    assert_catalog_fields(failed[0])


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes through chmod 0500")
def test_an_unwritable_dir_is_one_line(tmp_path: Path) -> None:
    home = tmp_path / "home"
    fill(home, 3)
    locked = tmp_path / "locked"
    locked.mkdir(mode=0o500)
    line = one_error_line(sloth(home, "backup", "--to", str(locked / "b.db")))
    assert "Permission denied" in line
    assert list(locked.iterdir()) == []


def test_a_full_disk_mid_copy_is_one_line_and_removes_the_partial_file(tmp_path: Path) -> None:
    """RLIMIT_FSIZE stands in for a full disk (a small tmpfs needs root): the copy's
    writes past 256 KB fail while the store is a few MB. A daemon takes the events, so
    the limited process writes nothing but the copy."""
    home = tmp_path / "home"
    fill(home, 1000)
    daemon = DaemonProcess(home).start()
    try:
        line = one_error_line(sloth(home, "backup", limit_fsize=256 * 1024))
        failed = wait_for(lambda: events_of(home, "backup.failed"), 10, "backup.failed")
    finally:
        daemon.signal(signal.SIGTERM)
    assert "no backup was made" in line
    folder = home / "backups"
    assert list(folder.iterdir()) == []  # no partial file, no journal
    assert failed[0]["data"]["partial_data"] is False
    assert "no backup was made" in failed[0]["data"]["error"]
    started = events_of(home, "backup.started")
    assert started[0]["data"]["backup_id"] == failed[0]["data"]["backup_id"]


def test_an_existing_file_is_kept_unless_overwrite(tmp_path: Path) -> None:
    home = tmp_path / "home"
    fill(home, 3)
    dest = tmp_path / "b.db"
    dest.write_text("precious")
    line = one_error_line(sloth(home, "backup", "--to", str(dest)))
    assert "--overwrite" in line and dest.read_text() == "precious"
    assert backup_json(home, "--to", str(dest), "--overwrite")["events"] >= 3
    assert integrity(dest) == "ok"


def test_the_store_itself_is_never_a_target(tmp_path: Path) -> None:
    home = tmp_path / "home"
    fill(home, 3)
    for name in ("sloth.db", "sloth.db-wal"):
        line = one_error_line(sloth(home, "backup", "--to", str(home / name), "--overwrite"))
        assert "the store itself" in line
    types = [e["type"] for e in events_of(home)]  # the store is whole, and says what happened
    assert types == ["custom"] * 3 + ["backup.started", "backup.failed"] * 2


def test_no_store_yet_is_one_line_and_creates_none(tmp_path: Path) -> None:
    home = tmp_path / "home"
    line = one_error_line(sloth(home, "backup"))
    assert "nothing to back up" in line
    assert not (home / "sloth.db").exists()


# -- restore ----------------------------------------------------------------------------


def test_restore_is_refused_while_serve_runs(tmp_path: Path) -> None:
    home = tmp_path / "home"
    fill(home, 5)
    copy = Path(backup_json(home)["destination"])
    daemon = DaemonProcess(home).start()
    try:
        ask(daemon.socket, {"type": "custom", "data": {"name": "after", "message": "m"}})
        line = one_error_line(sloth(home, "restore", str(copy), "--yes"))
        failed = wait_for(lambda: events_of(home, "restore.failed"), 10, "restore.failed")
        assert daemon.proc is not None and daemon.proc.poll() is None
    finally:
        daemon.signal(signal.SIGTERM)
    assert "an engine is running" in line and str(daemon.proc.pid) in line  # type: ignore[union-attr]
    assert "after" in {e["data"].get("name") for e in events_of(home)}  # untouched
    assert not list(home.glob("sloth.db.pre-restore-*")) and leftovers(home) == []
    assert_catalog_fields(failed[0])


def test_restore_then_serve_sees_the_backup_and_the_old_store_is_kept(tmp_path: Path) -> None:
    """The old store is left by a killed daemon, its last events only in its -wal: the
    restore must neither apply that log to the new file nor lose it from the old one."""
    home = tmp_path / "home"
    fill(home, 5, "kept")
    result = backup_json(home)
    daemon = DaemonProcess(home).start()
    replies = ask(
        daemon.socket,
        *({"type": "custom", "data": {"name": "later", "message": "m"}} for _ in range(5)),
    )
    assert all(r["ok"] for r in replies)
    daemon.signal(signal.SIGKILL)  # no checkpoint: "later" is in sloth.db-wal
    assert (home / "sloth.db-wal").stat().st_size > 0
    assert (home / "sloth.db-text").exists()  # serve's text index of the old store

    proc = sloth(home, "restore", result["destination"], "--yes", "--json")
    assert proc.returncode == 0, proc.stderr
    assert not (home / "sloth.db-text").exists()  # it went with the store it indexed
    out = json.loads(proc.stdout)
    assert out["events_recorded"] is True and out["backup_id"] == result["backup_id"]
    side = Path(out["previous"])
    assert not (home / "sloth.db-wal").exists() or (home / "sloth.db-wal").stat().st_size == 0

    daemon = DaemonProcess(home).start()
    try:
        listed = json.loads(
            subprocess.run(
                [*SLOTH, "--home", str(home), "event", "list", "--json", "--limit", "1000"],
                capture_output=True,
                text=True,
                timeout=60,
                check=True,
            ).stdout
        )
    finally:
        daemon.signal(signal.SIGTERM)
    names = [e["data"].get("name") for e in listed if e["type"] == "custom"]
    assert names.count("kept") == 5 and "later" not in names
    restore_events = {e["type"]: e for e in listed if e["type"].startswith("restore.")}
    assert set(restore_events) == {"restore.started", "restore.completed"}
    for event in restore_events.values():
        assert event["data"]["backup_id"] == result["backup_id"]
        assert_catalog_fields(event)
        assert event["warnings"] == []
    assert integrity(home / "sloth.db") == "ok"

    # The side copy holds the old store whole, "later" included: restoring it undoes.
    later = sqlite3.connect(side)  # applies its -wal if it kept one
    try:
        assert later.execute(
            "SELECT count(*) FROM events WHERE data LIKE '%later%'"
        ).fetchone() == (5,)
    finally:
        later.close()
    undo = sloth(home, "restore", str(side), "--yes")
    assert undo.returncode == 0, undo.stderr
    assert len([e for e in events_of(home) if e["data"].get("name") == "later"]) == 5


def _newer(src: Path, dest: Path) -> None:
    dest.write_bytes(src.read_bytes())
    conn = sqlite3.connect(dest)
    conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    conn.commit()
    conn.close()


def _foreign(src: Path, dest: Path) -> None:
    conn = sqlite3.connect(dest)
    conn.execute("CREATE TABLE t(x)")
    conn.commit()
    conn.close()


def _damaged(src: Path, dest: Path) -> None:
    data = bytearray(src.read_bytes())
    data[4096 * 2 : 4096 * 6] = b"\xff" * (4096 * 4)  # b-tree pages past the header
    dest.write_bytes(bytes(data))


@pytest.mark.parametrize(
    "make, why",
    [
        (lambda src, dest: dest.write_bytes(b"garbage" * 1000), "not a sloth-tui backup"),
        (lambda src, dest: dest.write_bytes(b""), "not a sloth-tui store"),
        (_newer, "newer than this sloth-tui"),
        (_foreign, "not a sloth-tui store"),
        (_damaged, "damaged"),
    ],
    ids=["garbage", "empty", "newer-schema", "not-ours", "damaged"],
)
def test_a_bad_file_is_refused_and_the_store_untouched(tmp_path: Path, make: Any, why: str) -> None:
    home = tmp_path / "home"
    fill(home, 30)
    good = Path(backup_json(home)["destination"])
    bad = tmp_path / "bad.db"
    make(good, bad)
    before = events_of(home)
    line = one_error_line(sloth(home, "restore", str(bad), "--yes"))
    assert why in line, line
    failed = events_of(home, "restore.failed")  # recorded in the store it did not replace
    assert len(failed) == 1 and why in failed[0]["data"]["error"]
    assert failed[0]["data"]["backup_id"] == "bad.db"
    assert events_of(home) == [*before, *failed]  # that event, and nothing else changed
    assert not list(home.glob("sloth.db.pre-restore-*")) and leftovers(home) == []


def test_an_older_schema_restores_and_is_upgraded_at_the_next_open(tmp_path: Path) -> None:
    home = tmp_path / "home"
    fill(home, 2)
    old = tmp_path / "old.db"
    conn = sqlite3.connect(old, isolation_level=None)
    for number in range(3):
        conn.executescript(
            "BEGIN;" + MIGRATIONS[number] + f"; PRAGMA user_version = {number + 1};COMMIT;"
        )
    conn.execute(
        "INSERT INTO events (type, category, source, ts, status, data) "
        "VALUES ('custom', 'custom', 'cli', 1.0, 'completed', '{\"name\": \"old\"}')"
    )
    conn.close()
    proc = sloth(home, "restore", str(old), "--yes")
    assert proc.returncode == 0, proc.stderr
    assert rows(home / "sloth.db", "PRAGMA user_version")[0][0] == SCHEMA_VERSION
    types = [e["type"] for e in events_of(home)]
    assert types == ["custom", "restore.started", "restore.completed"]


def test_restore_without_yes_on_a_pipe_asks_for_it(tmp_path: Path) -> None:
    home = tmp_path / "home"
    fill(home, 2)
    copy = backup_json(home)["destination"]
    before = ids_in(home / "sloth.db")
    line = one_error_line(sloth(home, "restore", copy))
    assert "--yes" in line
    assert ids_in(home / "sloth.db") == before and leftovers(home) == []


# -- [backup] in config.toml --------------------------------------------------------------


@pytest.mark.parametrize(
    "text, part",
    [
        ("[backup]\nkeep = 0\n", "keep = 0 is out of range"),
        ('[backup]\nkeep = "7"\n', "not a whole number"),
        ("[backup]\nkeep = true\n", "not a whole number"),
        ("[backup]\ndir = 5\n", "is not a path"),
        ('[backup]\ndir = ""\n', "is not a path"),
        ("[backup]\nkep = 3\n", "unknown setting 'kep'"),
        ('backup = "daily"\n', "must be a table"),
    ],
)
def test_bad_backup_config_is_one_line(home: Path, text: str, part: str) -> None:
    write_config(home, text)
    result = CliRunner().invoke(main, ["--home", str(home), "backup"])
    assert result.exit_code == 1
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and part in lines[0] and "[backup]" in lines[0], result.output


def test_backup_dir_is_relative_to_the_data_dir(home: Path) -> None:
    write_config(home, '[backup]\ndir = "snap"\nkeep = 3\n')
    cfg = backup_settings(load_settings(home))
    assert cfg.dir == home / "snap" and cfg.keep == 3


_VALUES = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=True),
    st.text(max_size=50),
    st.lists(st.integers(), max_size=3),
    st.dictionaries(st.text(max_size=5), st.integers(), max_size=3),
)


@settings(max_examples=200, deadline=None)
@given(
    table=st.one_of(
        st.dictionaries(st.sampled_from(["dir", "keep", "extra", "\x1b[2J"]), _VALUES, max_size=3),
        _VALUES,
    )
)
def test_any_backup_table_is_settings_or_one_line(table: Any) -> None:
    from dataclasses import replace

    base = load_settings("/tmp/sloth-backup-hypothesis-home")
    settings_ = replace(base, source_tables=(("backup", table),))
    try:
        cfg = backup_settings(settings_)
    except ConfigError as exc:
        assert "\n" not in str(exc) and "[backup]" in str(exc)
        return
    assert cfg.keep is None or cfg.keep >= 1
    assert isinstance(cfg.dir, Path)


def test_help_explains_the_options() -> None:
    runner = CliRunner()
    backup = runner.invoke(main, ["backup", "--help"]).output
    assert "--to" in backup and "--overwrite" in backup and "keep" in backup
    restore = runner.invoke(main, ["restore", "--help"]).output
    assert "--yes" in restore and "pre-restore" in restore


def test_interrupting_leaves_no_partial_file(tmp_path: Path) -> None:
    """SIGINT in the middle of a copy: exit 130, nothing in the backup dir."""
    home = tmp_path / "home"
    fill(home, 4000)  # ~8 MB
    proc = subprocess.Popen(
        [*SLOTH, "--home", str(home), "backup"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    folder = home / "backups"
    deadline = time.monotonic() + 30
    while proc.poll() is None and time.monotonic() < deadline:
        if folder.is_dir() and any(".partial" in p.name for p in folder.iterdir()):
            proc.send_signal(signal.SIGINT)
            break
        time.sleep(0.001)
    _out, err = proc.communicate(timeout=60)
    assert "Traceback" not in err
    if proc.returncode == 0:
        pytest.skip("the copy finished before it could be interrupted (a fast disk)")
    assert proc.returncode == 130, err
    assert leftovers(folder) == [] and not list(folder.glob("sloth-backup-*"))


def test_a_cancel_after_the_rename_takes_the_backup_back_but_not_an_overwrite(
    tmp_path: Path,
) -> None:
    """The last moment of an interrupt (seen in CI): the copy is renamed into place just
    before the cancel arrives. Interrupted still means no backup. With --overwrite the
    file it replaced is gone already, so the new one stays. A cancel before the rename
    stops the copy and leaves no file at all."""
    home = tmp_path / "home"
    fill(home, 50)
    db = load_settings(home=home).db_path
    dest = tmp_path / "b.db"
    late = CopyCancel()
    copy_store(db, dest, cancel=late)
    assert dest.is_file()
    late.set()
    assert not dest.exists()
    copy_store(db, dest)
    late_overwrite = CopyCancel()
    copy_store(db, dest, overwrite=True, cancel=late_overwrite)
    late_overwrite.set()
    assert integrity(dest) == "ok"
    early = CopyCancel()
    early.set()
    with pytest.raises(BackupCancelled):
        copy_store(db, tmp_path / "c.db", cancel=early)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["b.db", "home"]


def test_a_backup_of_another_home_is_adopted_not_refused_as_replaced(tmp_path: Path) -> None:
    """Each store has an id the data dir records (store_faults); a restore is the
    operator's choice, so the record of the old id goes aside with the old store."""
    a, b = tmp_path / "a", tmp_path / "b"
    fill(a, 2, "from-a")
    fill(b, 2, "from-b")
    copy = backup_json(a)["destination"]
    proc = sloth(b, "restore", copy, "--yes", "--json")
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["events_recorded"] is True  # an engine opened it
    names = {e["data"].get("name") for e in events_of(b)}
    assert "from-a" in names and "from-b" not in names
    side = Path(json.loads(proc.stdout)["previous"])
    assert Path(f"{side}.identity").exists()  # b's own record, kept for an undo
    assert sloth(b, "restore", str(side), "--yes").returncode == 0
    assert "from-b" in {e["data"].get("name") for e in events_of(b)}
