"""Scheduled backups (issue 16.5): `[backup] schedule` makes serve copy the store on a
cron, into the backup dir, keeping the newest `keep`. A real engine and store, a clock
the test moves (no real minutes)."""

from __future__ import annotations

from pathlib import Path

import pytest
from sourcekit import async_wait_for, db_rows

from sloth_tui.config import ConfigError, Settings, load_settings
from sloth_tui.engine.engine import Engine
from sloth_tui.sources.backup_schedule import SOURCE, BackupSchedule, backup_sources
from sloth_tui.sources.options import SourceOptions
from sloth_tui.sources.schedule_clock import ManualClock

START = 1_800_000_000.0  # 2027-01-15 08:00 UTC


def configured(home: Path, text: str) -> Settings:
    (home / "config.toml").write_text(text)
    return load_settings(home)


async def test_backups_on_the_cron_keep_the_newest(home: Path) -> None:
    settings = configured(home, '[backup]\nschedule = "0 3 * * *"\nkeep = 2\n')
    (source,) = backup_sources(settings, SourceOptions())
    assert isinstance(source, BackupSchedule)
    clock = ManualClock(START)
    source.clock = clock
    engine = await Engine.open(settings, lifecycle=True)
    try:
        await engine.dispatch("custom", {"n": 1})
        await source.start(engine)
        for day in range(1, 4):
            await async_wait_for(lambda: clock.waiting == 1, what="the source to wait")
            clock.set(START + day * 86_400)
            await async_wait_for(lambda d=day: source.made == d, timeout=30, what="a backup")
        assert "next" in source.health().detail and "3 made" in source.health().detail
    finally:
        await source.stop()
        await engine.close()
    kept = sorted((home / "backups").glob("sloth-backup-*.db"))
    assert len(kept) == 2  # keep = 2: the oldest of three went
    rows = db_rows(home, "SELECT type, source FROM events WHERE type LIKE 'backup.%'")
    assert sorted(rows) == sorted([("backup.started", SOURCE), ("backup.completed", SOURCE)] * 3)


def test_no_schedule_no_source_and_the_dashboard_leaves_it_to_serve(home: Path) -> None:
    assert backup_sources(configured(home, "[backup]\nkeep = 3\n"), SourceOptions()) == []
    scheduled = configured(home, '[backup]\nschedule = "0 3 * * *"\n')
    assert backup_sources(scheduled, SourceOptions(role="dashboard")) == []


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('[backup]\nschedule = "61 * * * *"\n', r"\[backup\]: invalid cron expression"),
        ('[backup]\nschedule = "0 3 * * *"\ntimezone = "Mars/Base"\n', r"\[backup\]: .*timezone"),
        ("[backup]\nschedule = 3\n", "is not text"),
        ('[backup]\nwhen = "0 3 * * *"\n', "unknown setting 'when'"),
    ],
)
def test_bad_schedules_are_one_line(home: Path, text: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message) as info:
        backup_sources(configured(home, text), SourceOptions())
    assert "\n" not in str(info.value)
