"""A schedule's enabled switch, written where `sloth-tui schedule enable|disable` writes it.

A schedule made by `schedule add` carries its own `enabled` in schedules.json; one of
config.toml's gets a switch in schedules.json's `config_switches` (config.toml is never
rewritten). Both under the CLI's lock, checked against config.toml before and after, as
commands/schedule.py does, so the dashboard and the CLI keep one truth that a running
source re-reads. An unchanged switch is left as it is: its time is when fires count from.
"""

from __future__ import annotations

from dataclasses import replace

from sloth_tui.config import Settings
from sloth_tui.model.errors import SlothError
from sloth_tui.sources.schedule_spec import ScheduleSpec
from sloth_tui.sources.schedule_store import (
    CliSchedules,
    Switch,
    cli_lock,
    cli_path,
    config_schedules,
    load_cli,
    merge,
    save_cli,
)


def switched(
    cli: CliSchedules, config: tuple[ScheduleSpec, ...], name: str, enabled: bool, now: float
) -> tuple[CliSchedules, bool]:
    """(the CLI's schedules with `name` switched, whether it was enabled before)."""
    for spec in cli.specs:
        if spec.name == name:
            if spec.enabled == enabled:
                return cli, spec.enabled
            new = replace(spec, enabled=enabled, changed=now)
            specs = tuple(new if s.name == name else s for s in cli.specs)
            return replace(cli, specs=specs), spec.enabled
    for spec in config:
        if spec.name == name:
            sw = cli.switches.get(name)
            was = sw.enabled if sw else spec.enabled
            if was == enabled:
                return cli, was
            return replace(cli, switches={**cli.switches, name: Switch(enabled, now)}), was
    raise SlothError(f"no schedule named {name!r}")


def switch_schedule(settings: Settings, name: str, enabled: bool, now: float) -> bool:
    """Set schedule `name` on or off in schedules.json; whether it was on before.
    Blocking (a file lock, an fsync): call it in a thread. SlothError (one line) for a
    name that is no schedule, or files that do not hold together."""
    path = cli_path(settings)
    with cli_lock(settings):
        config = config_schedules(settings)
        cli = load_cli(path)
        merge(config, cli, path)  # the file as it is must be sound first
        fresh, was = switched(cli, config, name, enabled, now)
        if fresh is not cli:
            merge(config, fresh, path)
            save_cli(path, fresh)
    return was
