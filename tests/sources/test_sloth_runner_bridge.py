"""The Sloth Runner bridge (issue 14.6) on real upstream files and a real engine.

Each test builds a hooks.db with upstream's schema (upstreamkit.py), writes to it the
way upstream does, and follows it with the bridge. Steps are driven with poll_once()
where order matters; the loop (start/stop, retries) is tested through health().
"""

from __future__ import annotations

import asyncio
import os
import sqlite3
import time
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sourcekit import async_wait_for
from upstreamkit import OLD_SCHEMA, UpstreamDB, mirrored_rows, upstream_rows

from sloth_tui.config import ConfigError, Settings, load_settings
from sloth_tui.engine.engine import Engine
from sloth_tui.sources.options import SourceOptions
from sloth_tui.sources.sloth_runner import (
    BridgeSettings,
    SlothRunnerBridge,
    bridge_settings,
    bridge_sources,
)
from sloth_tui.sources.upstream_db import UpstreamDBError, candidate_dirs, locate_hooks_db


def bridge_for(path: Path, **config: object) -> SlothRunnerBridge:
    cfg = BridgeSettings(db=str(path), poll_interval=0.05, **config)  # type: ignore[arg-type]
    return SlothRunnerBridge(cfg)


async def drain(bridge: SlothRunnerBridge, engine: Engine) -> None:
    bridge.api = engine
    while await bridge.poll_once():
        pass


@pytest.fixture
def up(tmp_path: Path) -> UpstreamDB:
    db = UpstreamDB(tmp_path / "sr" / "hooks.db")
    yield db  # type: ignore[misc]
    db.close()


async def test_events_and_runs_are_mirrored_once_with_upstreams_shapes(
    engine: Engine, up: UpstreamDB, home: Path
) -> None:
    uids = [up.event() for _ in range(5)]
    up.run(uids[0], success=False, error="boom", output="tried")
    up.run(uids[1])
    bridge = bridge_for(up.path)
    await drain(bridge, engine)
    assert mirrored_rows(home) == upstream_rows(up.path)
    events = [e for e in await engine.query_events(limit=50) if e.source == "sloth-runner"]
    assert {(e.stack, e.agent, e.run_id) for e in events} == {("prod", "web-1", "run-1")}
    assert all("task" in e.data for e in events)  # upstream's nesting kept
    runs = await engine.executions(hook="notify")
    assert sorted((r.status, r.origin) for r in runs) == [
        ("failed", "sloth-runner"),
        ("success", "sloth-runner"),
    ]
    # Polling again finds nothing new, and a restarted bridge resumes from the cursor.
    await drain(bridge, engine)
    again = bridge_for(up.path)
    await drain(again, engine)
    assert again.events == 0 and again.runs == 0
    assert mirrored_rows(home) == upstream_rows(up.path)
    assert len(await engine.executions(hook="notify")) == 2


async def test_many_rows_in_one_second_page_through(
    engine: Engine, up: UpstreamDB, home: Path
) -> None:
    second = int(time.time())
    for _ in range(23):
        up.event(created_at=second)
    bridge = SlothRunnerBridge(BridgeSettings(db=str(up.path)), page=5)
    await drain(bridge, engine)
    assert bridge.events == 23
    assert mirrored_rows(home) == upstream_rows(up.path)


async def test_a_row_committed_behind_the_cursor_is_still_taken(
    engine: Engine, up: UpstreamDB, home: Path
) -> None:
    now = int(time.time())
    up.event(created_at=now)
    bridge = bridge_for(up.path)
    await drain(bridge, engine)
    # created_at taken before a busy wait, committed after the bridge moved past it
    up.event(created_at=now - 3)
    await drain(bridge, engine)
    assert bridge.events == 2
    assert mirrored_rows(home) == upstream_rows(up.path)


async def test_upstream_status_changes_follow(engine: Engine, up: UpstreamDB) -> None:
    uid = up.event(status="pending")
    bridge = bridge_for(up.path)
    await drain(bridge, engine)
    (event,) = [e for e in await engine.query_events(limit=5) if e.source == "sloth-runner"]
    assert event.status == "pending"
    up.set_status(uid, "processing")
    await drain(bridge, engine)
    assert (await engine.get_event(event.id)).status == "processing"
    up.set_status(uid, "failed")
    await drain(bridge, engine)
    assert (await engine.get_event(event.id)).status == "failed"
    # A new bridge (a restart) sweeps recent events once for changes it missed.
    up2 = up.event(status="pending")
    await drain(bridge, engine)
    up.set_status(up2, "completed")
    fresh = bridge_for(up.path)
    await drain(fresh, engine)
    statuses = {e.status for e in await engine.query_events(limit=10) if e.source == "sloth-runner"}
    assert statuses == {"failed", "completed"}


async def test_run_of_an_event_upstream_deleted_is_skipped_and_counted(
    engine: Engine, up: UpstreamDB
) -> None:
    kept = up.event()
    up.run(kept)
    up.run("gone-uuid")  # its event was cleaned up upstream before the bridge saw it
    bridge = bridge_for(up.path)
    await drain(bridge, engine)
    assert (bridge.runs, bridge.orphans) == (1, 1)
    assert "1 runs of deleted events skipped" in bridge.health().detail


async def test_an_old_upstream_schema_is_read(engine: Engine, tmp_path: Path, home: Path) -> None:
    old = UpstreamDB(tmp_path / "old" / "hooks.db", schema=OLD_SCHEMA)
    old.event()
    old.event(type_="agent.registered", data={"agent": {"name": "a1"}})
    bridge = bridge_for(old.path)
    await drain(bridge, engine)
    assert bridge.events == 2
    events = [e for e in await engine.query_events(limit=5) if e.source == "sloth-runner"]
    assert {e.stack for e in events} == {None}
    old.close()


async def test_wal_upstream_with_a_writer_running(
    engine: Engine, tmp_path: Path, home: Path
) -> None:
    wal = UpstreamDB(tmp_path / "wal" / "hooks.db", wal=True)
    stop = False

    def write() -> None:
        writer = UpstreamDB(wal.path)
        try:
            while not stop:
                writer.event()
        finally:
            writer.close()

    task = asyncio.get_running_loop().run_in_executor(None, write)
    bridge = bridge_for(wal.path)
    bridge.api = engine
    await async_wait_for(lambda: len(wal.ids()) > 200, timeout=30, what="the writer")
    for _ in range(5):
        await bridge.poll_once()
    stop = True
    await task
    await drain(bridge, engine)
    assert mirrored_rows(home) == upstream_rows(wal.path)
    wal.close()


async def test_the_upstream_file_is_never_written(engine: Engine, up: UpstreamDB) -> None:
    up.event()
    up.close()
    before = (up.path.read_bytes(), os.stat(up.path).st_mtime_ns)
    leftovers = set(os.listdir(up.path.parent))
    bridge = bridge_for(up.path)
    await drain(bridge, engine)
    assert (up.path.read_bytes(), os.stat(up.path).st_mtime_ns) == before
    assert set(os.listdir(up.path.parent)) == leftovers  # no journal, no -wal, no -shm
    reader = bridge.reader
    assert reader is not None and reader.conn is not None
    with pytest.raises(sqlite3.OperationalError, match=r"readonly|read-only"):
        reader.conn.execute("DELETE FROM events")
    bridge.reader.close() if bridge.reader else None
    up.conn = sqlite3.connect(up.path, isolation_level=None)  # for the fixture's close


# -- the loop: faults are said in health() and retried -------------------------------


async def test_missing_then_present_file(engine: Engine, tmp_path: Path, home: Path) -> None:
    path = tmp_path / "later" / "hooks.db"
    bridge = bridge_for(path)
    await bridge.start(engine)
    try:
        health = await async_wait_for(
            lambda: bridge.health() if bridge.health().state == "retrying" else None
        )
        assert "no such file" in health.detail and health.header.startswith("⚠ sloth-runner")
        db = UpstreamDB(path)
        db.event()
        await async_wait_for(lambda: bridge.events == 1, timeout=40, what="the file to be found")
        await async_wait_for(lambda: bridge.health().state == "running")
        assert bridge.health().header == "⇄ sloth-runner lag 0s"
        db.close()
    finally:
        await bridge.stop()
    assert bridge.health().state == "stopped"


async def test_a_truncated_file_then_a_good_one(engine: Engine, tmp_path: Path, home: Path) -> None:
    path = tmp_path / "trunc" / "hooks.db"
    good = UpstreamDB(tmp_path / "good" / "hooks.db")
    for _ in range(3):
        good.event()
    good.close()
    path.parent.mkdir()
    path.write_bytes(good.path.read_bytes()[:1000])  # a copy cut short
    bridge = bridge_for(path)
    await bridge.start(engine)
    try:
        await async_wait_for(lambda: bridge.health().state == "retrying")
        assert "database" in bridge.health().detail
        tmp = path.with_suffix(".new")
        tmp.write_bytes(good.path.read_bytes())
        tmp.replace(path)
        await async_wait_for(lambda: bridge.events == 3, timeout=40, what="the good file")
    finally:
        await bridge.stop()
    assert mirrored_rows(home) == upstream_rows(path)


async def test_a_locked_file_is_waited_for(engine: Engine, up: UpstreamDB, home: Path) -> None:
    up.event()
    bridge = bridge_for(up.path, busy_timeout=0.1)
    holder = sqlite3.connect(up.path, isolation_level=None)
    holder.execute("BEGIN EXCLUSIVE")  # a writer holding the lock (rollback journal)
    await bridge.start(engine)
    try:
        health = await async_wait_for(
            lambda: bridge.health() if bridge.health().state == "retrying" else None
        )
        assert "locked" in health.detail
        holder.execute("ROLLBACK")
        await async_wait_for(lambda: bridge.events == 1, timeout=40, what="the lock to go")
    finally:
        holder.close()
        await bridge.stop()


async def test_a_replaced_file_is_read_whole_without_doubles(
    engine: Engine, up: UpstreamDB, tmp_path: Path, home: Path
) -> None:
    for _ in range(3):
        up.event()
    bridge = bridge_for(up.path)
    await drain(bridge, engine)
    # Restored from a copy that has two more rows, older than the cursor: a new inode.
    copy = tmp_path / "copy.db"
    up.conn.execute("VACUUM INTO ?", (str(copy),))
    extra = UpstreamDB(copy)
    extra.event(created_at=int(time.time()) - 100)
    extra.event(created_at=int(time.time()) - 200)
    extra.close()
    up.close()
    copy.replace(up.path)
    await drain(bridge, engine)
    assert bridge.events == 5
    assert "replaced" in bridge.health().detail
    assert mirrored_rows(home) == upstream_rows(up.path)
    up.conn = sqlite3.connect(up.path, isolation_level=None)


async def test_run_hooks_runs_local_hooks(engine: Engine, up: UpstreamDB, tmp_path: Path) -> None:
    hook = tmp_path / "h.lua"
    hook.write_text("function on_event(event) log.info(event.data.task.task_name) end\n")
    await engine.add_hook("mine", ["task.completed"], hook)
    up.event()
    bridge = bridge_for(up.path, run_hooks=True)
    await drain(bridge, engine)
    assert await engine.wait_idle()
    (run,) = await engine.executions(hook="mine")
    assert run.status == "success" and run.origin is None


# -- where the file is, and the config ----------------------------------------------


def test_discovery_follows_upstreams_order(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    env_dir = tmp_path / "env"
    home_dir = tmp_path / "h"
    assert candidate_dirs({"SLOTH_RUNNER_DATA_DIR": str(env_dir)}, home_dir) == [env_dir]
    assert candidate_dirs({}, home_dir) == [
        Path("/etc/sloth-runner"),
        home_dir / ".sloth-runner",
        Path(".sloth-cache"),
    ]
    (home_dir / ".sloth-runner").mkdir(parents=True)
    (home_dir / ".sloth-runner" / "hooks.db").write_bytes(b"")
    monkeypatch.chdir(tmp_path)
    if not Path("/etc/sloth-runner/hooks.db").exists():
        assert locate_hooks_db(None, {}, home_dir) == home_dir / ".sloth-runner" / "hooks.db"
    with pytest.raises(UpstreamDBError, match=r"looked at .*env/hooks\.db.*--db PATH"):
        locate_hooks_db(None, {"SLOTH_RUNNER_DATA_DIR": str(env_dir)}, home_dir)
    assert (
        locate_hooks_db(str(home_dir / ".sloth-runner")) == home_dir / ".sloth-runner" / "hooks.db"
    )


def _settings(home: Path, text: str) -> Settings:
    (home / "config.toml").write_text(text)
    return load_settings(home)


def test_config_table(home: Path) -> None:
    s = _settings(
        home,
        '[sources.sloth_runner]\ndb = "/srv/hooks.db"\nrun_hooks = true\npoll_interval = 2\n',
    )
    assert bridge_settings(s) == BridgeSettings(
        db="/srv/hooks.db", run_hooks=True, poll_interval=2.0
    )
    assert len(bridge_sources(s, SourceOptions())) == 1
    assert bridge_sources(s, SourceOptions(role="dashboard")) == []
    off = _settings(home, "[sources.sloth_runner]\nenabled = false\n")
    assert bridge_sources(off, SourceOptions()) == []
    assert bridge_settings(_settings(home, "")) is None


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[sources.sloth_runner]\nrun_hook = true\n", "unknown key 'run_hook'"),
        ("[sources.sloth_runner]\npoll_interval = 0\n", "poll_interval must be between"),
        ("[sources.sloth_runner]\nrun_hooks = 1\n", "run_hooks has the wrong type"),
        ("[sources.other]\nx = 1\n", "unknown source 'other'"),
        ("sources = 3\n", "must be a table"),
    ],
)
def test_config_errors_are_one_line(home: Path, text: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message) as info:
        bridge_settings(_settings(home, text))
    assert "\n" not in str(info.value)


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(st.text(max_size=2000))
def test_hostile_upstream_data_is_kept_as_data(text: str) -> None:
    from sloth_tui.sources.upstream_reader import event_data

    data = event_data(text)
    assert isinstance(data, dict)


async def test_hostile_upstream_rows_never_stop_the_bridge(
    engine: Engine, up: UpstreamDB, home: Path
) -> None:
    hostile = ["[red]x[/]", "\x1b[2J\x07", "a\nb", "ünï", "x" * 10_000, "{not json"]
    insert = (
        "INSERT INTO events (id, type, data, status, timestamp, created_at) "
        "VALUES (?, ?, ?, ?, 1, 1)"
    )
    for i, text in enumerate(hostile):
        up.conn.execute(insert, (f"h{i}", "custom", text, "completed"))
    up.conn.execute(insert, ("bad-type", "\x1b[31mnot a type", "{}", "weird"))
    up.conn.execute(insert, ("huge", "custom", '{"a": "' + "y" * 400_000 + '"}', "completed"))
    bridge = bridge_for(up.path)
    await drain(bridge, engine)
    assert (bridge.events, bridge.refused) == (7, 1)
    events = {e.id: e for e in await engine.query_events(limit=50) if e.source == "sloth-runner"}
    raws = sorted(str(e.data.get("raw", "")) for e in events.values())
    assert "{not json" in raws and "[red]x[/]" in raws
    (big,) = [
        e for e in events.values() if "bridge_note" in e.data and "limit" in e.data["bridge_note"]
    ]
    assert "KiB" in big.data["bridge_note"]
