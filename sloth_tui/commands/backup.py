"""`sloth-tui backup` and `sloth-tui restore`: the click side, and their events.

The copying is engine/backup_copy.py. Here: the options, the output, and backup.* /
restore.* events through an engine (the daemon's when one answers, else a local one,
as every command gets it). The events are a record, not a condition: when no engine can
take them (the store is damaged, another engine holds the home without a socket) the
backup or restore still happens, and a warning says the events were not recorded.

A restore runs with no engine on the home (it refuses otherwise), so nothing can record
`restore.started` in a store that will survive: written to the old store, it would leave
with it. Both restore.started and restore.completed are written to the restored store
right after the swap, by a local engine (which also migrates an older schema). A refused
or failed restore leaves the store as it was, and restore.failed goes there (through the
daemon when the refusal is that one runs).

A scheduled backup (issue 16, schedules) is engine/backup_run.run_backup given the
serving engine: see its docstring.
"""

from __future__ import annotations

import sys
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import click

from sloth_tui.commands.common import emit_json, engine_for, fail, run, settings_from
from sloth_tui.commands.output import byte_size, clean, say, warn
from sloth_tui.config import Settings
from sloth_tui.engine.backup_copy import (
    BACKUP_NAME,
    BackupSettings,
    backup_settings,
    engine_pid,
    prepare_restore,
    swap_in,
)
from sloth_tui.engine.backup_run import Recorder, run_backup
from sloth_tui.engine.lock import DataDirLock
from sloth_tui.model.errors import EngineLocked, SlothError


@asynccontextmanager
async def recorder(ctx: click.Context) -> AsyncIterator[Recorder]:
    """The engine for the events (engine_for's), or a Recorder that says why none."""
    opened = engine_for(ctx)
    try:
        api = await opened.__aenter__()
    except SlothError as exc:
        problem = str(exc)
    else:
        try:
            yield Recorder(api)
        finally:
            await opened.__aexit__(None, None, None)
        return
    yield Recorder(None, problem)


def _config(settings: Settings) -> BackupSettings:
    try:
        return backup_settings(settings)
    except SlothError as exc:
        fail(str(exc))
    raise AssertionError("unreachable")


# -- backup ---------------------------------------------------------------------------


@click.command("backup")
@click.option(
    "--to",
    "to",
    metavar="FILE",
    type=click.Path(path_type=Path),
    default=None,
    help="Write the backup here. An existing directory gets a file named for the time. "
    "Default: the backup dir ([backup] dir in config.toml, else backups/ in the data dir), "
    "where [backup] keep = N keeps the newest N.",
)
@click.option("--overwrite", is_flag=True, help="Replace FILE if it exists (default: refuse).")
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
@click.pass_context
def backup_command(ctx: click.Context, to: Path | None, overwrite: bool, as_json: bool) -> None:
    """Copy the store (events, hooks, runs, hook state) to a file, safely, while an
    engine serves.

    Uses SQLite's online backup API from a read-only connection: the engine keeps
    writing, and the copy is the store as it was when the backup began. The copy is
    written under a hidden .partial name, checked, and renamed only when complete, so a
    failed or interrupted backup leaves no file that looks like one. Records
    backup.started, then backup.completed or backup.failed. Restore with
    `sloth-tui restore FILE`.
    """
    settings = settings_from(ctx)
    _config(settings)
    if not settings.db_path.is_file():  # or the engine opened for the events would make one
        fail(f"there is no store at {settings.db_path} yet: nothing to back up")

    async def body() -> tuple[dict[str, Any], Recorder]:
        async with recorder(ctx) as rec:
            return await run_backup(settings, rec, to=to, overwrite=overwrite), rec

    result, rec = run(body)
    if as_json:
        emit_json({**result, "events_recorded": rec.recorded})
        return
    pruned = result["pruned"]
    tail = (
        f"; removed {len(pruned)} older backup{'s' if len(pruned) != 1 else ''}" if pruned else ""
    )
    say(
        f"backed up {result['events']} events ({byte_size(result['size'])}) to "
        f"{clean(result['destination'])} in {result['duration']:.2f} s{tail}"
    )
    if rec.problem:
        warn(f"backup events not recorded: {rec.problem}")


# -- restore --------------------------------------------------------------------------


def _running_message(settings: Settings, pid: int) -> str:
    who = f"pid {pid}" if pid > 0 else "pid unknown"
    return (
        f"an engine is running on {settings.home} ({who}): stop it (`serve`, or the "
        "dashboard) before restoring; nothing was changed"
    )


async def _record_failure(ctx: click.Context, backup_id: str, error: str) -> None:
    async with recorder(ctx) as rec:
        await rec.emit("restore.failed", {"backup_id": backup_id, "error": error})


@click.command("restore")
@click.argument("file", metavar="FILE", type=click.Path(path_type=Path))
@click.option("--yes", is_flag=True, help="Replace the store without asking.")
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
@click.pass_context
def restore_command(ctx: click.Context, file: Path, yes: bool, as_json: bool) -> None:
    """Replace the store with a backup FILE (made by `sloth-tui backup`).

    Refused while an engine (serve, or a dashboard) runs on this data dir. FILE must be
    a whole sloth-tui store (PRAGMA integrity_check) of this version's schema or older
    (an older one is upgraded at the next start); anything else is refused and the store
    is not touched. The current store is kept beside it as sloth.db.pre-restore-TIME:
    `sloth-tui restore` that file to undo. Records restore.started and
    restore.completed in the restored store, or restore.failed in the untouched one.
    """
    settings = settings_from(ctx)
    db = settings.db_path
    named = BACKUP_NAME.match(file.name)  # its own id when `sloth-tui backup` named it
    backup_id = named.group(1) if named else file.name
    started = time.monotonic()

    def refuse(message: str) -> None:
        run(lambda: _record_failure(ctx, backup_id, message))
        fail(message)

    pid = engine_pid(settings.lock_path)
    if pid is not None:
        refuse(_running_message(settings, pid))
    try:
        candidate = prepare_restore(file, db)
    except SlothError as exc:
        refuse(f"not restored: {exc}")
        raise AssertionError("unreachable") from None
    try:
        if not yes:
            if not sys.stdin.isatty():
                fail(f"restore replaces the store at {db}: add --yes to confirm")
            click.confirm(
                f"Replace the store at {db} with {file} ({candidate.events} events)?",
                abort=True,
            )
        lock = DataDirLock(settings.lock_path)
        try:
            lock.acquire()  # held through the swap: no engine starts on a half-done home
        except EngineLocked:
            refuse(_running_message(settings, lock.owner_pid() or -1))
        except SlothError as exc:  # a data dir this user cannot write
            refuse(f"not restored: {exc}")
        try:
            side = swap_in(candidate, db, time.time())
        except SlothError as exc:
            lock.release()
            refuse(str(exc))
            raise AssertionError("unreachable") from None
        lock.release()
    finally:
        candidate.discard()  # gone already when it was swapped in
    duration = round(time.monotonic() - started, 3)

    async def body() -> Recorder:
        async with recorder(ctx) as rec:
            await rec.emit("restore.started", {"backup_id": backup_id, "destination": str(db)})
            await rec.emit(
                "restore.completed",
                {"backup_id": backup_id, "duration": duration, "events": candidate.events},
            )
            return rec

    rec = run(body)
    result = {
        "backup_id": backup_id,
        "file": str(file),
        "destination": str(db),
        "previous": str(side) if side else None,
        "events": candidate.events,
        "schema_version": candidate.schema_version,
        "duration": duration,
        "events_recorded": rec.recorded,
    }
    if as_json:
        emit_json(result)
        return
    undo = f"; the previous store is kept as {side} (restore it to undo)" if side else ""
    say(f"restored {candidate.events} events from {clean(file)} into {clean(db)}{clean(undo)}")
    if rec.problem:
        warn(f"restore events not recorded: {rec.problem}")
