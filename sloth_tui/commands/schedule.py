"""`sloth-tui schedule add/update/list/remove/enable/disable`: cron schedules.

Schedules made here live in the data dir's schedules.json (config.toml is the operator's
file and is never rewritten; its [[schedules]] are listed beside them, and enable/disable
work on them too, as a switch kept in schedules.json). A running `serve` re-reads the
file within a second. Each change is recorded as a schedule.* event through the engine
this command reaches: the daemon when one runs, else a local engine.
"""

from __future__ import annotations

import asyncio
import getpass
import time
from collections.abc import Callable
from dataclasses import replace
from typing import Any

import click

from sloth_tui.commands.common import (
    emit_json,
    engine_for,
    fail,
    parse_json_object,
    settings_from,
    table,
)
from sloth_tui.commands.output import clean, say, warn
from sloth_tui.config import Settings
from sloth_tui.model.errors import SlothError
from sloth_tui.sources.schedule_spec import (
    ScheduleSpec,
    check_cron,
    check_event,
    check_name,
    check_timezone,
    fires_after,
    iso_local,
    iso_utc,
)
from sloth_tui.sources.schedule_store import (
    CliSchedules,
    Switch,
    cli_lock,
    cli_path,
    config_schedules,
    load_cli,
    load_marks,
    merge,
    save_cli,
    state_path,
)

_CRON_HELP = (
    'Cron expression, quoted: "0 2 * * *" (02:00 daily), "*/15 * * * *"; a sixth field in '
    "front is seconds. L, LW, MON#1 and 5L work as in cronsim."
)
_TZ_HELP = "IANA timezone the cron is read in (Europe/Berlin, America/New_York). Default UTC."
_EVENT_HELP = "Also dispatch an event of this type on each fire (custom, or category.action)."
_DATA_HELP = "With --event: that event's data, a JSON object."
_WORKFLOW_HELP = "The workflow this schedule stands for (workflow_name in its events)."


@click.group("schedule")
def schedule_group() -> None:
    """Cron schedules: `serve` dispatches schedule.triggered on each fire (and an event
    of your own, if given), and schedule.missed for fires that fell while it was down."""


def _who() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):  # no name for this uid (containers)
        return "unknown"


def _checked(action: Callable[[], Any]) -> Any:
    """A ConfigError (or any one-line SlothError) from the checks: one line, exit 1."""
    try:
        return action()
    except SlothError as exc:
        fail(str(exc))


def _emit(ctx: click.Context, event_type: str, data: dict[str, Any]) -> None:
    """Record the change as an event. The change itself is already saved, so a failure
    here is a warning, not an error."""

    async def body() -> int:
        async with engine_for(ctx) as engine:
            return (await engine.dispatch(event_type, data, source="cli")).id

    try:
        event_id = asyncio.run(body())
    except SlothError as exc:
        warn(f"saved, but {event_type} was not recorded: {exc}")
        return
    say(f"{event_type} id={event_id}")


def _next_text(spec: ScheduleSpec) -> str:
    t = next(fires_after(spec, time.time()), None)
    return iso_local(t, spec.zone) if t is not None else "-"


def _change(
    settings: Settings, edit: Callable[[list[ScheduleSpec], CliSchedules], CliSchedules]
) -> None:
    """Read-modify-write of the CLI's file under its lock, checked against config.toml."""
    path = cli_path(settings)
    with cli_lock(settings):
        config = list(config_schedules(settings))
        cli = load_cli(path)
        merge(tuple(config), cli, path)  # the file as it is must be sound first
        fresh = edit(config, cli)
        merge(tuple(config), fresh, path)
        save_cli(path, fresh)


@schedule_group.command("add")
@click.argument("name")
@click.option("--cron", "cron", required=True, metavar="EXPR", help=_CRON_HELP)
@click.option("--timezone", default="UTC", show_default=True, metavar="TZ", help=_TZ_HELP)
@click.option("--event", "event_type", metavar="TYPE", help=_EVENT_HELP)
@click.option("--data", metavar="JSON", help=_DATA_HELP)
@click.option("--workflow", default="", metavar="NAME", help=_WORKFLOW_HELP)
@click.option("--disabled", is_flag=True, help="Add it switched off (enable it later).")
@click.pass_context
def schedule_add(
    ctx: click.Context,
    name: str,
    cron: str,
    timezone: str,
    event_type: str | None,
    data: str | None,
    workflow: str,
    disabled: bool,
) -> None:
    """Add schedule NAME (kept in the data dir's schedules.json).

    \b
        sloth-tui schedule add nightly --cron "0 2 * * *" --timezone Europe/Berlin
        sloth-tui schedule add ping --cron "*/5 * * * *" --event custom --data '{"k": 1}'
    """
    settings = settings_from(ctx)
    payload = parse_json_object(data) if data is not None else None

    def build() -> ScheduleSpec:
        event, event_data = check_event(event_type, payload)
        if len(workflow) > 200:
            raise SlothError("--workflow: at most 200 characters")
        return ScheduleSpec(
            name=check_name(name),
            cron=check_cron(cron),
            timezone=check_timezone(timezone),
            enabled=not disabled,
            event=event,
            data=event_data,
            workflow_name=workflow,
            origin="cli",
            changed=time.time(),
        )

    spec: ScheduleSpec = _checked(build)

    def add(config: list[ScheduleSpec], cli: CliSchedules) -> CliSchedules:
        if any(s.name == name for s in [*config, *cli.specs]):
            raise SlothError(f"a schedule named {name!r} already exists (remove it first)")
        return replace(cli, specs=(*cli.specs, spec))

    _checked(lambda: _change(settings, add))
    state = "" if spec.enabled else " (disabled)"
    say(f"added schedule {clean(name)}{state}: next fire {clean(_next_text(spec))}")
    _emit(
        ctx,
        "schedule.created",
        {
            "schedule_name": spec.name,
            "cron_expr": spec.cron,
            "workflow_name": spec.workflow_name,
            "schedule_id": spec.schedule_id,
            "timezone": spec.timezone,
            "enabled": spec.enabled,
            "event": spec.event,
        },
    )


@schedule_group.command("update")
@click.argument("name")
@click.option("--cron", "cron", metavar="EXPR", help=_CRON_HELP)
@click.option("--timezone", metavar="TZ", help=_TZ_HELP)
@click.option("--event", "event_type", metavar="TYPE", help=_EVENT_HELP + " 'none' drops it.")
@click.option("--data", metavar="JSON", help=_DATA_HELP)
@click.option("--workflow", metavar="NAME", help=_WORKFLOW_HELP)
@click.pass_context
def schedule_update(
    ctx: click.Context,
    name: str,
    cron: str | None,
    timezone: str | None,
    event_type: str | None,
    data: str | None,
    workflow: str | None,
) -> None:
    """Change schedule NAME (one made with `schedule add`); emits schedule.updated."""
    settings = settings_from(ctx)
    payload = parse_json_object(data) if data is not None else None
    changes: list[str] = []

    def edit(config: list[ScheduleSpec], cli: CliSchedules) -> CliSchedules:
        old = _cli_spec(name, config, cli)
        new_event: str | None = old.event if event_type is None else event_type
        if event_type == "none":
            new_event = None
        new_data = old.data if payload is None else payload
        event, event_data = check_event(new_event, new_data if new_event else None)
        new = replace(
            old,
            cron=check_cron(cron) if cron is not None else old.cron,
            timezone=check_timezone(timezone) if timezone is not None else old.timezone,
            event=event,
            data=event_data,
            workflow_name=old.workflow_name if workflow is None else workflow,
        )
        if (new.cron, new.timezone) != (old.cron, old.timezone):  # fires count from now
            new = replace(new, changed=time.time())
        for key, before, after in (
            ("cron_expr", old.cron, new.cron),
            ("timezone", old.timezone, new.timezone),
            ("event", old.event, new.event),
            ("data", old.data, new.data),
            ("workflow_name", old.workflow_name, new.workflow_name),
        ):
            if before != after:
                changes.append(f"{key}: {before} -> {after}")
        if not changes:
            raise SlothError(
                "nothing to change: give --cron, --timezone, --event, --data or --workflow"
            )
        return replace(cli, specs=tuple(new if s.name == name else s for s in cli.specs))

    _checked(lambda: _change(settings, edit))
    say(f"updated schedule {clean(name)}: {clean('; '.join(changes))}")
    _emit(ctx, "schedule.updated", {"schedule_name": name, "changes": "; ".join(changes)})


def _cli_spec(name: str, config: list[ScheduleSpec], cli: CliSchedules) -> ScheduleSpec:
    for spec in cli.specs:
        if spec.name == name:
            return spec
    if any(s.name == name for s in config):
        raise SlothError(f"schedule {name!r} is defined in config.toml: change it there")
    raise SlothError(f"no schedule named {name!r}")


@schedule_group.command("remove")
@click.argument("name")
@click.pass_context
def schedule_remove(ctx: click.Context, name: str) -> None:
    """Remove schedule NAME (one made with `schedule add`); emits schedule.deleted."""
    settings = settings_from(ctx)

    def edit(config: list[ScheduleSpec], cli: CliSchedules) -> CliSchedules:
        _cli_spec(name, config, cli)
        return replace(cli, specs=tuple(s for s in cli.specs if s.name != name))

    _checked(lambda: _change(settings, edit))
    say(f"removed schedule {clean(name)}")
    _emit(ctx, "schedule.deleted", {"schedule_name": name, "deleted_by": _who()})


def _switch(ctx: click.Context, name: str, enabled: bool) -> None:
    settings = settings_from(ctx)
    was: list[bool] = []

    def edit(config: list[ScheduleSpec], cli: CliSchedules) -> CliSchedules:
        now = time.time()
        # An unchanged switch is left as it is: its time is when fires start to count.
        for spec in cli.specs:
            if spec.name == name:
                was.append(spec.enabled)
                if spec.enabled == enabled:
                    return cli
                new = replace(spec, enabled=enabled, changed=now)
                specs = tuple(new if s.name == name else s for s in cli.specs)
                return replace(cli, specs=specs)
        for spec in config:
            if spec.name == name:
                sw = cli.switches.get(name)
                was.append(sw.enabled if sw else spec.enabled)
                if was[0] == enabled:
                    return cli
                return replace(cli, switches={**cli.switches, name: Switch(enabled, now)})
        raise SlothError(f"no schedule named {name!r}")

    _checked(lambda: _change(settings, edit))
    word = "enabled" if enabled else "disabled"
    if was and was[0] == enabled:
        say(f"schedule {clean(name)} was already {word}")
        return
    say(f"{word} schedule {clean(name)}")
    _emit(ctx, f"schedule.{word}", {"schedule_name": name, f"{word}_by": _who()})


@schedule_group.command("enable")
@click.argument("name")
@click.pass_context
def schedule_enable(ctx: click.Context, name: str) -> None:
    """Switch schedule NAME on (fires from now on; nothing before counts as missed)."""
    _switch(ctx, name, True)


@schedule_group.command("disable")
@click.argument("name")
@click.pass_context
def schedule_disable(ctx: click.Context, name: str) -> None:
    """Switch schedule NAME off (config.toml's too: the switch is kept in the data dir)."""
    _switch(ctx, name, False)


@schedule_group.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print an array of schedules.")
@click.option(
    "--next",
    "count",
    type=click.IntRange(1, 100),
    default=3,
    show_default=True,
    help="How many next fire times --json lists.",
)
@click.pass_context
def schedule_list(ctx: click.Context, as_json: bool, count: int) -> None:
    """Every schedule (config.toml's and the CLI's), with its next fire time."""
    settings = settings_from(ctx)
    path = cli_path(settings)
    specs: list[ScheduleSpec] = _checked(
        lambda: merge(config_schedules(settings), load_cli(path), path)
    )
    marks, _problem = load_marks(state_path(settings))
    now = time.time()
    rows: list[dict[str, Any]] = []
    for spec in specs:
        upcoming = []
        for t in fires_after(spec, now):
            upcoming.append(t)
            if len(upcoming) >= count:
                break
        mark = marks.get(spec.name)
        last = mark.last_fire if mark is not None else None
        rows.append(
            dict(
                spec.to_entry(),
                schedule_id=spec.schedule_id,
                origin=spec.origin,
                next_fires=[iso_utc(t) for t in upcoming],
                next_fire_local=iso_local(upcoming[0], spec.zone) if upcoming else None,
                last_fire=iso_utc(last) if last is not None else None,
            )
        )
    if as_json:
        emit_json(rows)
        return
    table(
        [
            [
                r["name"],
                "yes" if r["enabled"] else "no",
                r["cron"],
                r["timezone"],
                (r["next_fire_local"] or "-") if r["enabled"] else "(disabled)",
                r["last_fire"] or "-",
                r.get("event") or "-",
                "config.toml" if r["origin"] == "config" else "cli",
            ]
            for r in rows
        ],
        ["name", "enabled", "cron", "timezone", "next fire", "last fire", "event", "from"],
    )
