"""The schedules' two files in the data dir, and the merged list of schedules.

- `schedules.json`: the schedules `sloth-tui schedule add` made, and the enabled switch
  the CLI set on config.toml's own schedules. config.toml is the operator's file and is
  never rewritten; a name defined in both is an error. Writers hold `.schedules.lock`
  (flock) around read-modify-write, so two `schedule add` at once both land. A running
  source re-reads it when its (inode, mtime, size) changes.
- `schedule-state.json`: per schedule, the time through which its fires are accounted
  for (fired, or reported missed), the last fire, and the cron and timezone that time
  belongs to. Only the engine's schedule source writes it (one engine per home: the
  engine lock). See sources/schedules.py for the order of fire and write.

Both are written whole to a temporary file in the same directory, fsynced, then renamed
over the old one, so a reader (or a crash) sees the old file or the new one, never half.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import logging
import os
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from sloth_tui.atomic_file import PRIVATE, write_atomically
from sloth_tui.config import ConfigError, Settings
from sloth_tui.sources.schedule_spec import ScheduleSpec, parse_entry, parse_table

log = logging.getLogger("sloth_tui.schedules")

CLI_FILE = "schedules.json"
STATE_FILE = "schedule-state.json"
LOCK_FILE = ".schedules.lock"
MAX_FILE = 4 << 20  # bytes; a bigger file is not ours


def write_json_atomically(path: Path, value: Any) -> None:
    text = json.dumps(value, indent=1, ensure_ascii=False, allow_nan=False) + "\n"
    # sync_dir: the rename itself durable, so a fire written is not fired again.
    write_atomically(path, text, mode=PRIVATE, sync_dir=True)


def _read_json(path: Path) -> Any:
    """The file's JSON, None when it does not exist; ConfigError (one line) otherwise."""
    try:
        with path.open("rb") as f:
            raw = f.read(MAX_FILE + 1)
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise ConfigError(f"cannot read {path}: {exc.strerror or exc}") from None
    if len(raw) > MAX_FILE:
        raise ConfigError(f"{path}: larger than {MAX_FILE >> 20} MB")
    try:
        return json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise ConfigError(f"{path}: not valid JSON ({str(exc).splitlines()[0][:100]})") from None


def file_signature(path: Path) -> tuple[int, int, int] | None:
    """Changes whenever the file is replaced or written; None when it is absent."""
    try:
        st = path.stat()
    except OSError:
        return None
    return (st.st_ino, st.st_mtime_ns, st.st_size)


# -- the CLI's schedules -------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Switch:
    """The CLI's enable/disable of a schedule defined in config.toml."""

    enabled: bool
    changed: float


@dataclass(frozen=True, slots=True)
class CliSchedules:
    specs: tuple[ScheduleSpec, ...] = ()
    switches: dict[str, Switch] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {
            "version": 1,
            "schedules": [dict(s.to_entry(), changed=s.changed) for s in self.specs],
            "config_switches": {
                name: {"enabled": sw.enabled, "changed": sw.changed}
                for name, sw in sorted(self.switches.items())
            },
        }


def cli_path(settings: Settings) -> Path:
    return settings.home / CLI_FILE


def load_cli(path: Path) -> CliSchedules:
    raw = _read_json(path)
    if raw is None:
        return CliSchedules()
    if not isinstance(raw, dict) or raw.get("version") != 1:
        raise ConfigError(f"{path}: not a schedules file of this version")
    entries = raw.get("schedules", [])
    if not isinstance(entries, list):
        raise ConfigError(f"{path}: schedules must be a list")
    specs = [
        parse_entry(e, str(path), i + 1, origin="cli", extra=("changed",))
        for i, e in enumerate(entries)
    ]
    names = [s.name for s in specs]
    for name in names:
        if names.count(name) > 1:
            raise ConfigError(f"{path}: duplicate schedule name {name!r}")
    switches: dict[str, Switch] = {}
    raw_switches = raw.get("config_switches", {})
    if not isinstance(raw_switches, dict):
        raise ConfigError(f"{path}: config_switches must be an object")
    for name, sw in raw_switches.items():
        ok = isinstance(sw, dict) and isinstance(sw.get("enabled"), bool)
        changed = sw.get("changed", 0.0) if isinstance(sw, dict) else None
        if not ok or isinstance(changed, bool) or not isinstance(changed, int | float):
            raise ConfigError(f"{path}: config_switches: bad entry for {name[:70]!r}")
        switches[name] = Switch(sw["enabled"], float(changed))
    return CliSchedules(tuple(specs), switches)


def save_cli(path: Path, cli: CliSchedules) -> None:
    write_json_atomically(path, cli.to_json())


@contextlib.contextmanager
def cli_lock(settings: Settings) -> Iterator[None]:
    """Held around a read-modify-write of the CLI's file."""
    settings.home.mkdir(parents=True, exist_ok=True)
    fd = os.open(settings.home / LOCK_FILE, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # releases the lock


# -- the merged list -----------------------------------------------------------------------


def config_schedules(settings: Settings) -> tuple[ScheduleSpec, ...]:
    """config.toml's [[schedules]], checked (ConfigError naming file, table and entry)."""
    return parse_table(settings.table("schedules"), str(settings.config_file))


def merge(config: tuple[ScheduleSpec, ...], cli: CliSchedules, where: Path) -> list[ScheduleSpec]:
    """config.toml's schedules (with the CLI's switches applied), then the CLI's."""
    names = {s.name for s in config}
    for spec in cli.specs:
        if spec.name in names:
            raise ConfigError(
                f"{where}: schedule {spec.name!r} is also defined in config.toml; "
                "remove one of them"
            )
    merged = []
    for spec in config:
        sw = cli.switches.get(spec.name)
        merged.append(replace(spec, enabled=sw.enabled, changed=sw.changed) if sw else spec)
    return [*merged, *cli.specs]


def all_schedules(settings: Settings) -> list[ScheduleSpec]:
    """Every schedule the CLI and the engine see, checked."""
    path = cli_path(settings)
    return merge(config_schedules(settings), load_cli(path), path)


# -- the engine's marks ----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Mark:
    through: float  # fires at or before this are accounted for (fired or reported missed)
    last_fire: float | None  # the scheduled time of the last fire dispatched
    cron: str  # what `through` was measured against: another cron starts afresh
    timezone: str


def state_path(settings: Settings) -> Path:
    return settings.home / STATE_FILE


def load_marks(path: Path) -> tuple[dict[str, Mark], str]:
    """The marks, and a one-line problem ("" when none). A damaged file is not fatal:
    the schedules run on, with no missed fires counted for this start."""
    try:
        raw = _read_json(path)
    except ConfigError as exc:
        return {}, str(exc)
    if raw is None:
        return {}, ""
    marks: dict[str, Mark] = {}
    entries = raw.get("schedules") if isinstance(raw, dict) else None
    if not isinstance(entries, dict):
        return {}, f"{path}: not a schedule state file; starting afresh"
    for name, m in entries.items():
        try:
            last = m.get("last_fire")
            marks[name] = Mark(
                through=float(m["through"]),
                last_fire=float(last) if last is not None else None,
                cron=str(m["cron"]),
                timezone=str(m["timezone"]),
            )
        except (AttributeError, KeyError, TypeError, ValueError):
            continue  # that schedule starts afresh; the others keep their marks
    return marks, ""


def save_marks(path: Path, marks: dict[str, Mark]) -> None:
    write_json_atomically(
        path,
        {
            "version": 1,
            "schedules": {
                name: {
                    "through": m.through,
                    "last_fire": m.last_fire,
                    "cron": m.cron,
                    "timezone": m.timezone,
                }
                for name, m in sorted(marks.items())
            },
        },
    )
