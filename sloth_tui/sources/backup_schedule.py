"""Scheduled backups: `[backup] schedule = "0 3 * * *"` makes `serve` run the same copy as
`sloth-tui backup` (engine/backup_run.py) on that cron, into the backup dir, where
`[backup] keep` prunes the oldest.

A backup that fell while no engine ran is not made up for at start: the next fire makes
a fresh one, which is what a missed one would have been worth. A failed backup records
`backup.failed` (run_backup does) and the next fire tries again.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from typing import TYPE_CHECKING

from sloth_tui.config import ConfigError, Settings
from sloth_tui.engine.backup_copy import BackupError, backup_settings
from sloth_tui.engine.backup_run import Recorder, run_backup
from sloth_tui.sources.schedule_clock import Clock, SystemClock
from sloth_tui.sources.schedule_spec import ScheduleSpec, check_cron, check_timezone, next_fire
from sloth_tui.sources.status import Status, one_line

if TYPE_CHECKING:
    from sloth_tui.engine.api import EngineAPI
    from sloth_tui.model.stats import SourceHealth
    from sloth_tui.sources.options import SourceOptions

log = logging.getLogger("sloth_tui.backup")

SOURCE = "schedule:backup"  # the events' source: a scheduled backup, not a command


class BackupSchedule:
    """One cron on which the store is copied."""

    name = "backup"
    kind = "backup"
    produces = ("backup.started", "backup.completed", "backup.failed")

    def __init__(self, settings: Settings, spec: ScheduleSpec, clock: Clock | None = None):
        self.settings = settings
        self.spec = spec
        self.clock = clock or SystemClock()
        self._status = Status(self.name, self.kind)
        self._task: asyncio.Task[None] | None = None
        self.made = 0
        self.failed = 0
        self.last = ""  # the last backup's file, or why it failed
        self.next_at: float | None = None

    async def start(self, api: EngineAPI) -> None:
        self._task = asyncio.create_task(self._loop(api), name="backup-schedule")
        self._status.running()

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()  # a copy under way stops at its next step, leaving nothing
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        self._status.stopped()

    def health(self) -> SourceHealth:
        when = (
            time.strftime("%Y-%m-%d %H:%M %Z", time.localtime(self.next_at))
            if self.next_at
            else "never"
        )
        detail = f"{self.spec.cron} ({self.spec.timezone}) · next {when} · {self.made} made"
        if self.failed:
            detail += f", {self.failed} failed"
        if self.last:
            detail += f" · last: {self.last}"
        return self._status.health(detail)

    async def _loop(self, api: EngineAPI) -> None:
        while True:
            self.next_at = next_fire(self.spec, self.clock.now())
            if self.next_at is None:
                return  # a cron that never fires again (checked at load; belt and braces)
            await self.clock.sleep_until(self.next_at)
            if self.clock.now() < self.next_at:
                continue  # a clock set back: work out the next fire again
            await self.back_up(api)

    async def back_up(self, api: EngineAPI) -> None:
        try:
            result = await run_backup(self.settings, Recorder(api, source=SOURCE))
        except BackupError as exc:
            self.failed += 1
            self.last = one_line(f"failed: {exc}")
            log.error("scheduled backup failed: %s", exc)
            return
        self.made += 1
        self.last = str(result["destination"])
        log.info("scheduled backup: %s", self.last)


def backup_sources(settings: Settings, options: SourceOptions) -> list[BackupSchedule]:
    """The registry's line: `serve` with `[backup] schedule`; a dashboard's own engine
    leaves it to serve, like the schedules."""
    if options.role != "serve":
        return []
    cfg = backup_settings(settings)
    if cfg.schedule is None:
        return []
    where = f"{settings.config_file} [backup]"
    try:
        spec = ScheduleSpec(
            "backup", check_cron(cfg.schedule), check_timezone(cfg.timezone), workflow_name=""
        )
    except ConfigError as exc:
        raise ConfigError(f"{where}: {exc}") from None
    return [BackupSchedule(settings, spec)]
