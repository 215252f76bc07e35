"""One backup with its events, against any EngineAPI: what `sloth-tui backup` runs, and
what a scheduled backup would run inside `serve` (see `run_backup`).

The events are a record, not a condition: `Recorder` sends them when it has an engine
and remembers why not otherwise, and the backup happens either way.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sloth_tui.config import Settings
from sloth_tui.engine.api import EngineAPI
from sloth_tui.engine.backup_copy import (
    BackupError,
    CopyCancel,
    backup_settings,
    copy_store,
    destination,
    new_backup_id,
    prune,
)
from sloth_tui.model.errors import SlothError

# The events' source. A socket client may only name client sources (a CLI command is
# "cli"), so the command uses the same word with a local engine: `src:cli type:backup.*`.
CLI_SOURCE = "cli"


@dataclass
class Recorder:
    """Sends events to an engine if one could be had; remembers why not otherwise."""

    api: EngineAPI | None
    problem: str | None = None
    source: str = CLI_SOURCE
    sent: list[str] = field(default_factory=list)

    @property
    def recorded(self) -> bool:
        return self.api is not None and self.problem is None

    async def emit(self, type: str, data: dict[str, Any]) -> None:
        if self.api is None:
            return
        try:
            await self.api.dispatch(type, data, source=self.source)
            self.sent.append(type)
        except SlothError as exc:
            self.problem = self.problem or str(exc)


async def run_backup(
    settings: Settings,
    rec: Recorder,
    *,
    to: Path | None = None,
    overwrite: bool = False,
    now: float | None = None,
) -> dict[str, Any]:
    """backup.started, the copy (in a thread), retention, backup.completed; or
    backup.failed and the BackupError again.

    A scheduled backup (issue 16's schedules) is this call from a producer inside
    `serve`: `await run_backup(api.settings, Recorder(api, source="schedule"))`, with
    no `to`, so it lands in the backup dir and `[backup] keep` prunes. (A source that
    imports this module needs its line in tests/test_imports.py's ROOTS: sources ->
    engine.) Cancelling the task stops the copy at its next step and deletes the
    partial file.
    """
    cfg = backup_settings(settings)
    backup_id = new_backup_id(time.time() if now is None else now)
    db = settings.db_path
    base = {"backup_id": backup_id}
    await rec.emit("backup.started", {**base, "backup_type": "full", "source": str(db)})
    cancel = CopyCancel()
    try:
        dest = destination(cfg, to, backup_id)
        copied = await asyncio.to_thread(copy_store, db, dest, overwrite=overwrite, cancel=cancel)
    except asyncio.CancelledError:
        cancel.set()  # the thread sees it between two steps; a finished copy is deleted
        raise
    except BackupError as exc:
        # partial_data: whether anything of this backup is left on disk. Never: the copy
        # is written under a hidden name and deleted on failure.
        await rec.emit("backup.failed", {**base, "error": str(exc), "partial_data": False})
        raise
    removed = prune(cfg.dir, cfg.keep) if to is None and cfg.keep else []
    result = {
        **base,
        "destination": str(copied.path),
        "size": copied.size,
        "duration": round(copied.duration, 3),
        "events": copied.events,
        "schema_version": copied.schema_version,
        "pruned": [str(p) for p in removed],
    }
    await rec.emit(
        "backup.completed",
        {k: result[k] for k in ("backup_id", "size", "duration", "destination", "events")},
    )
    return result
