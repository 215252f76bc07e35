"""`sloth-tui events ...`: Sloth Runner's `events` group, spelt as upstream spells it.

Upstream: cmd/sloth-runner/commands/events/ (list -s -t -l, get, show, delete,
cleanup -H). The same store as sloth-tui's own `event` group; the JSON of `get` is
upstream's shape (commands/upstream_shapes.py). Ids are sloth-tui's integers.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import click

from sloth_tui.commands.common import COUNT, emit_json, engine_for, fmt_ts, run, table
from sloth_tui.commands.output import clean, clean_block, json_text, say
from sloth_tui.commands.upstream_shapes import (
    event_error,
    event_json,
    go_duration,
    output_text,
    processed_at,
    rfc3339,
    succeeded,
)
from sloth_tui.engine.api import EngineAPI
from sloth_tui.model.filters import Filter, Term
from sloth_tui.model.records import EVENT_STATUSES, Event, Execution

if TYPE_CHECKING:
    _IdBase = click.ParamType[int]
else:  # click before 8.2 has no type parameters at run time
    _IdBase = click.ParamType


class UpstreamEventId(_IdBase):
    """An event id as upstream's commands take it: here sloth-tui's integer id, which
    `events list` prints (upstream's are UUIDs, which name no event here)."""

    name = "EVENT_ID"

    def convert(
        self, value: object, param: click.Parameter | None, ctx: click.Context | None
    ) -> int:
        if isinstance(value, int):
            return value
        text = str(value).strip()
        if text.isascii() and text.isdigit() and int(text) < 2**63:
            return int(text)
        self.fail(
            f"{clean(text)!s} is not a sloth-tui event id: ids here are the integers "
            "`events list` shows (a Sloth Runner UUID names no event here)",
            param,
            ctx,
        )


EVENT_ID = UpstreamEventId()


@click.group("events")
def events_group() -> None:
    """Sloth Runner's `events` commands: list, get, show, delete, cleanup.

    Upstream's spelling of sloth-tui's `event` group, on the same events. Ids are
    sloth-tui's integer ids (upstream's are UUIDs).
    """


@events_group.command("list")
@click.option(
    "-s",
    "--status",
    type=click.Choice(EVENT_STATUSES),
    default=None,
    help="Filter by status (pending, processing, completed, failed).",
)
@click.option("-t", "--type", "event_type", metavar="TYPE", help="Filter by event type.")
@click.option(
    "-l", "--limit", type=COUNT, default=50, show_default=True, help="Limit number of results."
)
@click.option("--json", "as_json", is_flag=True, help="Print upstream's JSON of each event.")
@click.pass_context
def events_list(
    ctx: click.Context, status: str | None, event_type: str | None, limit: int, as_json: bool
) -> None:
    """List events, newest first: ID, TYPE, STATUS, CREATED, PROCESSED.

    Sloth Runner's spelling; sloth-tui's own is `sloth-tui event list`.

    \b
        sloth-tui events list --type task.failed --status completed --limit 100
    """
    flt = Filter()
    if status:
        flt = flt.with_terms(Term("status", status))
    if event_type:
        flt = flt.with_terms(Term("type", event_type))

    async def body() -> list[tuple[Event, list[Execution]]]:
        async with engine_for(ctx, readonly=True) as engine:
            events = await engine.query_events(flt, limit=limit)
            return [(e, await _real_runs(engine, e.id)) for e in events]

    rows = run(body)
    if as_json:
        emit_json([event_json(e, runs) for e, runs in rows])
        return
    table(
        [
            [
                str(e.id),
                e.type,
                e.status,
                rfc3339(e.ts),
                rfc3339(done) if (done := processed_at(e, runs)) is not None else "N/A",
            ]
            for e, runs in rows
        ],
        ["id", "type", "status", "created", "processed"],
    )
    say(f"Total events: {len(rows)}")


async def _real_runs(engine: EngineAPI, event_id: int) -> list[Execution]:
    return [ex for ex in await engine.executions_of(event_id) if not ex.dry_run]


@events_group.command("get")
@click.argument("event_id", type=EVENT_ID)
@click.pass_context
def events_get(ctx: click.Context, event_id: int) -> None:
    """Print event EVENT_ID as JSON, as upstream does (for jq).

    Sloth Runner's spelling; sloth-tui's own is `sloth-tui event show ID --json`.

    \b
        sloth-tui events get 42 | jq -r '.data.task.error'
    """

    async def body() -> tuple[Event, list[Execution]]:
        async with engine_for(ctx, readonly=True) as engine:
            return await engine.get_event(event_id), await _real_runs(engine, event_id)

    event, runs = run(body)
    emit_json(event_json(event, runs))


@events_group.command("show")
@click.argument("event_id", type=EVENT_ID)
@click.pass_context
def events_show(ctx: click.Context, event_id: int) -> None:
    """Show event EVENT_ID with the hook executions it caused.

    Sloth Runner's spelling; sloth-tui's own is `sloth-tui event show ID`.
    """

    async def body() -> tuple[Event, list[Execution]]:
        async with engine_for(ctx, readonly=True) as engine:
            return await engine.get_event(event_id), await _real_runs(engine, event_id)

    event, runs = run(body)
    say(f"Event: {event.id}")
    say(f"Type: {clean(event.type)}\nStatus: {clean(event.status)}")
    say(f"Created: {fmt_ts(event.ts)}")
    if (done := processed_at(event, runs)) is not None:
        say(f"Processed: {fmt_ts(done)}")
    for label, value in (("Stack", event.stack), ("Agent", event.agent), ("Run", event.run_id)):
        if value:
            say(f"{label}: {clean(value)}")
    if error := event_error(event, runs):
        say(f"Error: {clean(error)}")
    say("Event Data:\n" + json_text(event.data, indent=2))
    if not runs:
        say("\nNo hooks were executed for this event")
        return
    say("\nHook Executions")
    table(
        [
            [
                ex.hook,
                "Success" if succeeded(ex) else f"Failed ({ex.status})",
                go_duration(ex.duration_ms),
                fmt_ts(ex.started),
            ]
            for ex in runs
        ],
        ["hook name", "status", "duration", "executed at"],
    )
    for ex in runs:
        output = output_text(ex)
        if output or ex.error:
            say(f"\nHook: {clean(ex.hook)}")
            if output:
                say("Output:\n" + clean_block(output))
            if ex.error:
                say("Error:\n" + clean_block(ex.error))


@events_group.command("delete")
@click.argument("event_id", type=EVENT_ID)
@click.pass_context
def events_delete(ctx: click.Context, event_id: int) -> None:
    """Delete event EVENT_ID and its executions (no confirmation, as upstream).

    Sloth Runner's spelling; sloth-tui's own is `sloth-tui event delete ID`.
    """

    async def body() -> None:
        async with engine_for(ctx) as engine:
            await engine.delete_event(event_id)

    run(body)
    say(f"Event {event_id} deleted")


@events_group.command("cleanup")
@click.option(
    "-H",
    "--hours",
    type=click.IntRange(0, 24 * 365 * 100),
    default=24,
    show_default=True,
    help="Remove events older than this many hours.",
)
@click.option("--json", "as_json", is_flag=True, help="Print {deleted: N}.")
@click.pass_context
def events_cleanup(ctx: click.Context, hours: int, as_json: bool) -> None:
    """Remove completed and failed events older than --hours (no confirmation, as
    upstream); pending and processing ones are kept.

    Sloth Runner's spelling; sloth-tui's own is `sloth-tui event cleanup --older-than
    24h`, which removes every old event whatever its status.
    """
    age = hours * 3600.0

    async def body() -> int:
        async with engine_for(ctx) as engine:
            return await _cleanup_finished(engine, age)

    deleted = run(body)
    if as_json:
        emit_json({"deleted": deleted})
    else:
        say(f"Cleaned up {deleted} old events")


_UNFINISHED = ("pending", "processing")
_PAGE = 500


async def _cleanup_finished(engine: EngineAPI, age: float) -> int:
    """Upstream's cleanup: only completed/failed events go. When no unfinished event is
    that old (the usual case), the store's one bulk delete is exactly that; otherwise
    the finished ones are deleted one by one, so the unfinished ones stay."""
    import time

    cutoff = time.time() - age
    unfinished = [
        e
        for status in _UNFINISHED
        for e in await engine.query_events(Filter((Term("status", status),)), limit=1, until=cutoff)
    ]
    if not unfinished:
        return await engine.cleanup(age)
    deleted = 0
    for status in ("completed", "failed"):
        flt = Filter((Term("status", status),))
        seen: set[int] = set()
        while page := await engine.query_events(flt, limit=_PAGE, until=cutoff):
            if seen.issuperset(e.id for e in page):
                break  # nothing went: never loop on a store that keeps them
            for event in page:
                await engine.delete_event(event.id)
                seen.add(event.id)
            deleted += len(page)
    return deleted
