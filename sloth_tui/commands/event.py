"""`sloth-tui event ...`: dispatch, rerun, list, show, delete, cleanup, types."""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING

import click

from sloth_tui.commands import completion as complete
from sloth_tui.commands.common import (
    COUNT,
    EVENT_ID,
    emit_json,
    engine_for,
    fail,
    fmt_ts,
    parse_duration,
    parse_json_object,
    parse_pairs,
    run,
    settings_from,
    table,
)
from sloth_tui.commands.lazy_group import LazyGroup
from sloth_tui.commands.output import clean, json_text, say, value_text, warn
from sloth_tui.model.errors import EventRefused
from sloth_tui.model.filters import TIME_HINT, Filter, Term, parse_time
from sloth_tui.model.records import EVENT_STATUSES, OK_STATUSES, Event, Execution

if TYPE_CHECKING:
    _TimeParamBase = click.ParamType[float]
else:  # click before 8.2 (the floor in pyproject) has no type parameters at run time
    _TimeParamBase = click.ParamType


class TimeParam(_TimeParamBase):
    """`--since`/`--until`: an age (10m, 2h, 7d: back from now) or an ISO date or
    date-time, local unless it ends in Z or an offset; the filter language's `since:`."""

    name = "TIME"

    def convert(
        self, value: object, param: click.Parameter | None, ctx: click.Context | None
    ) -> float:
        if isinstance(value, float):
            return value
        try:
            return parse_time(str(value))
        except ValueError as exc:
            self.fail(str(exc), param, ctx)


TIME = TimeParam()
JSONL_PAGE = 500  # events per store query for `event list --jsonl`
SINCE_HELP = f"Only what happened at or after TIME: {TIME_HINT} (local time unless Z/+01:00)."
UNTIL_HELP = "Only what happened before TIME (same forms as --since)."


@click.group("event", cls=LazyGroup)  # cli.py names its lazy subcommands
def event_group() -> None:
    """Dispatch, query and clean up events."""


def summary(event: Event, width: int = 60) -> str:
    """`key=value ...` on one line: strings as they are, other values as JSON, an object
    by its name when it has one; control characters escaped, cut to `width`."""
    parts = []
    for key, value in event.data.items():
        if isinstance(value, dict):
            value = value.get("name", "{…}")
        parts.append(f"{key}={value_text(value)}")
    text = clean(" ".join(parts))
    return text if len(text) <= width else text[: width - 1] + "…"


@click.command("dispatch")
@click.argument("event_type", metavar="TYPE", shell_complete=complete.event_types)
@click.argument("pairs", nargs=-1, metavar="[KEY=VALUE]...")
@click.option("--data", metavar="JSON", help="Event data as a JSON object (pairs are merged in).")
@click.option(
    "--strict", is_flag=True, default=None, help="Refuse data that does not match the catalog."
)
@click.option("--stack", metavar="S", help="The stack the event belongs to (Sloth Runner).")
@click.option("--agent", metavar="A", help="The agent the event comes from (Sloth Runner).")
@click.option("--run-id", metavar="R", help="The run the event belongs to (Sloth Runner).")
@click.option("--json", "as_json", is_flag=True, help="Print {id, executions} as JSON.")
@click.pass_context
def event_dispatch(
    ctx: click.Context,
    event_type: str,
    pairs: tuple[str, ...],
    data: str | None,
    strict: bool | None,
    stack: str | None,
    agent: str | None,
    run_id: str | None,
    as_json: bool,
) -> None:
    """Store an event of TYPE, run the matching hooks to the end, print the id and executions.

    A VALUE is parsed as JSON when it parses (3, true, [1,2]), otherwise it is a string:

        sloth-tui event dispatch deploy.failed service=api rollback_needed=true

    --stack, --agent and --run-id set Sloth Runner's context: a hook with a stack runs
    only on events of that stack, and the filters stack:, agent: and run: find them.
    """
    from sloth_tui import catalog  # here: its records cost every command's start-up

    try:
        catalog.check_type_name(event_type)
    except EventRefused as exc:
        raise click.BadParameter(str(exc), param_hint="TYPE") from None
    payload = parse_json_object(data) | parse_pairs(pairs)

    async def body() -> tuple[Event, list[Execution]]:
        async with engine_for(ctx) as engine:
            return await engine.dispatch_and_run(
                event_type,
                payload,
                source="cli",
                strict=strict or None,
                stack=stack,
                agent=agent,
                run_id=run_id,
            )

    event, executions = run(body, oneshot=True)
    if not as_json:
        for warning in event.warnings:
            warn(warning)
    _print_runs(event, executions, as_json, f"dispatched {event.type} id={event.id}")


def _print_runs(event: Event, executions: list[Execution], as_json: bool, headline: str) -> None:
    """{id, event, executions} as JSON, or the headline and one line per hook run."""
    if as_json:
        emit_json(
            {
                "id": event.id,
                "event": event.to_dict(),
                "executions": [e.to_dict() for e in executions],
            }
        )
        return
    say(clean(headline))
    for ex in executions:
        say(
            f"  {clean(ex.hook)}: {clean(ex.status)} ({ex.duration_ms:.1f} ms)"
            + (f" - {clean(ex.error)}" if ex.error else "")
        )


event_group.add_command(event_dispatch)


@event_group.command("list")
@click.option(
    "--type",
    "type_pattern",
    metavar="PATTERN",
    shell_complete=complete.type_patterns,
    help="Type or glob (deploy.*).",
)
@click.option(
    "--category",
    metavar="C",
    shell_complete=complete.categories,
    help="Category (deploy, security, ...).",
)
@click.option("--status", type=click.Choice(EVENT_STATUSES), help="Event status.")
@click.option("--source", metavar="S", help="Source (cli, socket, hook, watcher, ...).")
@click.option(
    "--filter",
    "filter_text",
    metavar="EXPR",
    help="Dashboard filter syntax: 'type:deploy.* !src:demo since:1h service=api', "
    "or @NAME for a filter saved under [filters] in config.toml.",
)
@click.option("--since", type=TIME, default=None, help=SINCE_HELP)
@click.option("--until", type=TIME, default=None, help=UNTIL_HELP)
@click.option("--limit", type=COUNT, default=50, show_default=True, help="Newest N events.")
@click.option("--json", "as_json", is_flag=True, help="Print an array of events.")
@click.option(
    "--jsonl",
    is_flag=True,
    help="Print one JSON object per line, each an item of --json's array, read from the "
    f"store {JSONL_PAGE} at a time (for big --limit values and pipes into jq).",
)
@click.pass_context
def event_list(
    ctx: click.Context,
    type_pattern: str | None,
    category: str | None,
    status: str | None,
    source: str | None,
    filter_text: str | None,
    since: float | None,
    until: float | None,
    limit: int,
    as_json: bool,
    jsonl: bool,
) -> None:
    """List stored events, newest first.

    \b
        sloth-tui event list --since 30m --filter 'type:deploy.*'
        sloth-tui event list --since 2026-11-30T12:00 --until 2026-11-30T13:00
        sloth-tui event list --jsonl --limit 100000 | jq -c 'select(.status == "failed")'
    """
    if as_json and jsonl:
        raise click.UsageError("--json and --jsonl exclude each other")
    from sloth_tui.model.filters import FilterError, expand_saved, parse_filter

    try:
        saved = settings_from(ctx).filters
        flt = parse_filter(expand_saved(filter_text, saved)) if filter_text else Filter()
    except FilterError as exc:
        raise click.BadParameter(str(exc), param_hint="--filter") from None
    for kind, value in (
        ("type", type_pattern),
        ("category", category),
        ("status", status),
        ("source", source),
    ):
        if value:
            flt = flt.with_terms(Term(kind, value))

    if jsonl:
        run(lambda: _stream_jsonl(ctx, flt, limit, since, until))
        return

    async def body() -> list[Event]:
        async with engine_for(ctx, readonly=True) as engine:
            return await engine.query_events(flt, limit=limit, since=since, until=until)

    events = run(body, oneshot=True)
    if as_json:
        emit_json([e.to_dict() for e in events])
        return
    table(
        [
            [
                str(e.id),
                fmt_ts(e.ts),
                e.type,
                e.source,
                e.status,
                ("⚠ " if e.warnings else "") + summary(e),
            ]
            for e in events
        ],
        ["id", "time", "type", "source", "status", "data"],
    )


async def _stream_jsonl(
    ctx: click.Context, flt: Filter, limit: int, since: float | None, until: float | None
) -> None:
    """The events --json would print, one line each, newest first, a page at a time: the
    first lines come out at once and memory stays one page whatever --limit is. Each
    page continues below the last id printed, so events stored meanwhile (newer ids)
    neither repeat nor shift the pages."""
    async with engine_for(ctx, readonly=True) as engine:
        left, before = limit, None
        while left > 0:
            size = min(JSONL_PAGE, left)
            page = await engine.query_events(
                flt, limit=size, before_id=before, since=since, until=until
            )
            for event in page:
                click.echo(json_text(event.to_dict()))  # C0 and bidi escaped: one line
            if len(page) < size:
                return
            left -= len(page)
            before = page[-1].id


@event_group.command("show")
@click.argument("event_id", type=EVENT_ID)
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_context
def event_show(ctx: click.Context, event_id: int, as_json: bool) -> None:
    """Show an event: data, warnings, the executions it caused and its child events."""

    async def body() -> tuple[Event, list[Execution], list[Event]]:
        async with engine_for(ctx, readonly=True) as engine:
            event = await engine.get_event(event_id)
            return event, await engine.executions_of(event_id), await engine.child_events(event_id)

    event, executions, children = run(body, oneshot=True)
    if as_json:
        emit_json(
            event.to_dict()
            | {
                "executions": [e.to_dict() for e in executions],
                "children": [c.to_dict() for c in children],
            }
        )
        return
    say(f"id:       {event.id}\ntype:     {clean(event.type)}  ({clean(event.category)})")
    say(f"time:     {fmt_ts(event.ts)}\nsource:   {clean(event.source)}")
    for label, value in (("stack", event.stack), ("agent", event.agent), ("run", event.run_id)):
        if value is not None:  # Sloth Runner's context, when the event has it
            say(f"{label + ':':<10}{clean(value)}")
    say(f"status:   {clean(event.status)}")
    if event.parent_id:
        say(f"parent:   {event.parent_id} (depth {event.depth})")
    for warning in event.warnings:
        say(f"warning:  {clean(warning)}")
    # Still JSON (escapes a JSON reader reads back), one value per line.
    say("data:\n" + json_text(event.data, indent=2))
    for ex in executions:
        say(
            f"execution: {clean(ex.hook)} {clean(ex.status)} {ex.duration_ms:.1f} ms"
            + (" (dry run)" if ex.dry_run else "")
            + (f" ({clean(ex.origin)}'s run)" if ex.origin else "")
            + (f" - {clean(ex.error)}" if ex.error else "")
        )
    for child in children:
        say(f"child:    {child.id} {clean(child.type)}")


@event_group.command("rerun")
@click.argument("event_id", type=EVENT_ID)
@click.option(
    "--hook",
    "hooks",
    multiple=True,
    metavar="NAME",
    shell_complete=complete.hook_names,
    help="Re-run only this hook (repeatable); it runs even if its patterns do not match.",
)
@click.option("--json", "as_json", is_flag=True, help="Print {id, event, executions} as JSON.")
@click.pass_context
def event_rerun(ctx: click.Context, event_id: int, hooks: tuple[str, ...], as_json: bool) -> None:
    """Run hooks again, for real, on stored event EVENT_ID, and print the new executions.

    Use it after fixing a hook that failed on an event. Without --hook, every enabled hook that
    matches the event's type runs. The new runs are recorded beside the old ones (see
    `event show`) and the event's status follows them. Exits 1 when a run does not
    succeed.

        sloth-tui event rerun 42 --hook deploy-alert
    """

    async def body() -> tuple[Event, list[Execution]]:
        async with engine_for(ctx) as engine:
            return await engine.rerun(event_id, list(hooks) or None)

    event, executions = run(body)
    _print_runs(event, executions, as_json, f"re-ran {event.type} id={event.id}: {event.status}")
    if any(ex.status not in OK_STATUSES for ex in executions):
        ctx.exit(1)


@event_group.command("delete")
@click.argument("event_id", type=EVENT_ID)
@click.pass_context
def event_delete(ctx: click.Context, event_id: int) -> None:
    """Delete one event and its executions."""

    async def body() -> None:
        async with engine_for(ctx) as engine:
            await engine.delete_event(event_id)

    run(body)
    say(f"deleted event {event_id}")


@event_group.command("cleanup")
@click.option(
    "--older-than",
    "older_than",
    required=True,
    metavar="DURATION",
    help="Age such as 90s, 30m, 24h, 7d.",
)
@click.option("--json", "as_json", is_flag=True, help="Print {deleted: N}.")
@click.pass_context
def event_cleanup(ctx: click.Context, older_than: str, as_json: bool) -> None:
    """Delete events (and their executions) older than DURATION."""
    seconds = parse_duration(older_than)

    async def body() -> int:
        async with engine_for(ctx) as engine:
            return await engine.cleanup(seconds)

    deleted = run(body)
    if as_json:
        emit_json({"deleted": deleted})
    else:
        say(f"deleted {deleted} events older than {clean(older_than)}")


@event_group.command("types")
@click.option(
    "--category", metavar="C", shell_complete=complete.categories, help="Only this category."
)
@click.option(
    "--only",
    type=click.Choice(["seed", "extensions"]),
    help="Only the seed's 86 types, or only the sloth-runner extensions.",
)
@click.option(
    "--produced/--unproduced",
    "produced",
    default=None,
    help="Only the types something in this install produces (config.toml's sources, the "
    "engine, the CLI), or only those nothing here produces.",
)
@click.option("--json", "as_json", is_flag=True, help="Print the catalog as JSON.")
@click.pass_context
def event_types(
    ctx: click.Context,
    category: str | None,
    only: str | None,
    produced: bool | None,
    as_json: bool,
) -> None:
    """The event catalog: every type with its description, fields and PRODUCER: what in
    this install emits it ("monitor", "watcher:etc", "engine", ... ; "-" for nothing
    here; see `event producers`). Types Sloth Runner emits beyond the seed are marked
    "sloth-runner extension" (JSON: "extension")."""
    from sloth_tui import catalog  # here: its records cost every command's start-up

    try:
        entries = catalog.types(category, extensions=True)
    except KeyError as exc:
        raise click.BadParameter(exc.args[0], param_hint="--category") from None
    if only is not None:
        entries = [t for t in entries if (t.extension is not None) == (only == "extensions")]
    producers = _install_producers(ctx)
    if produced is not None:
        entries = [t for t in entries if bool(producers.for_type(t.type)) == produced]
    if as_json:
        emit_json(
            [
                {
                    "type": t.type,
                    "category": t.category,
                    "description": t.description,
                    "fields": [{"name": f.name, "kind": f.kind} for f in t.fields],
                    "extension": t.extension,
                    "producers": list(producers.for_type(t.type)),
                }
                for t in entries
            ]
        )
        return
    suffix = {"list": "[]", "object": "{}", "scalar": ""}
    table(
        [
            [
                t.type,
                t.category,
                _names(producers.for_type(t.type)),
                t.description,
                ", ".join(f.name + suffix[f.kind] for f in t.fields),
                t.origin,
            ]
            for t in entries
        ],
        ["type", "category", "producer", "description", "fields", "origin"],
    )


if TYPE_CHECKING:
    from sloth_tui.sources.producers import ProducerMap

NO_PRODUCER = "-"
SHOWN_NAMES = 3  # producer names in a cell; more are counted ("+4")


def _names(names: tuple[str, ...]) -> str:
    if not names:
        return NO_PRODUCER
    more = len(names) - SHOWN_NAMES
    return ", ".join(names[:SHOWN_NAMES]) + (f" +{more}" if more > 0 else "")


def _install_producers(ctx: click.Context, example: bool = False) -> ProducerMap:
    """This install's producers (a bad config.toml: one line and exit 1)."""
    # Imported here: the sources pull in watchdog, psutil and the rest, which the other
    # event commands need not load.
    from sloth_tui.model.errors import SlothError
    from sloth_tui.sources.producers import example_producers, install_producers

    try:
        return example_producers() if example else install_producers(settings_from(ctx))
    except SlothError as exc:
        fail(str(exc))
    raise AssertionError("unreachable")


@event_group.command("producers")
@click.option(
    "--example",
    is_flag=True,
    help="Not this install: one configured with every kind of source (the config is "
    "printed with --show-example).",
)
@click.option("--show-example", is_flag=True, help="Print that example config.toml and exit.")
@click.option("--json", "as_json", is_flag=True, help="Print {categories, producers} as JSON.")
@click.pass_context
def event_producers(ctx: click.Context, example: bool, show_example: bool, as_json: bool) -> None:
    """Per category: how many of its types something here produces, which producers, and
    how each is configured; then "N of 16 categories have a producer here"."""
    if show_example:
        from sloth_tui.sources.producers import EXAMPLE_CONFIG

        click.echo(EXAMPLE_CONFIG, nl=False)
        return
    from sloth_tui import catalog  # here: its records cost every command's start-up

    producers = _install_producers(ctx, example)
    rows = producers.coverage()
    covered = producers.produced_categories()
    total = len(catalog.categories())
    if as_json:
        emit_json(
            {
                "categories": [dataclasses.asdict(r) for r in rows],
                "produced_categories": covered,
                "seed_categories": total,
                "producers": [
                    {"name": p.name, "kind": p.kind, "produces": list(p.produces)}
                    for p in producers.producers
                ],
            }
        )
        return
    table(
        [
            [
                r.category + (" (ext)" if r.extension else ""),
                f"{r.produced}/{r.types}",
                _names(r.producers),
                "; ".join(r.how) or NO_PRODUCER,
            ]
            for r in rows
        ],
        ["category", "types", "producer", "how to configure"],
    )
    say(f"{len(covered)} of {total} categories have a producer here")
