"""`sloth-tui event tail`: follow events as JSON lines, for scripts and `jq`.

From the daemon's live stream when one answers (reconnecting, and
backfilling from the store what it missed meanwhile); otherwise by polling
the store read-only, which also follows a dashboard's embedded engine.
"""

from __future__ import annotations

import asyncio
import sys
from collections import deque
from typing import Any

import click

from sloth_tui.commands.common import COUNT, choose_engine_socket, engine_for, run, settings_from
from sloth_tui.commands.output import clean, json_text, say
from sloth_tui.engine.api import EngineAPI
from sloth_tui.model.filters import Filter, FilterError, expand_saved, parse_filter
from sloth_tui.remote.wire import Address

KINDS = ("event", "event_status", "execution")
POLL_S = 0.5


# A hook's child event gets its id when the hook calls event.dispatch, but is stored
# (and announced) only when that run commits: meanwhile events with higher ids may be
# stored. So "printed" is a set of ids, not a high-water mark, and a backfill reads
# from RESUME_SLACK ids below the highest printed one.
RESUME_SLACK = 1000
REMEMBERED = 100_000  # printed ids kept for deduplication


class _Printer:
    """Prints records once each, and stops after `count` when given."""

    def __init__(self, flt: Filter, kinds: tuple[str, ...], count: int | None) -> None:
        self.flt = flt
        self.kinds = kinds
        self.count = count
        self.printed = 0
        self.last_id = 0  # the highest event id printed
        self.floor = 0  # the newest id when tail started: older events are history
        self._seen: set[int] = set()
        self._order: deque[int] = deque()

    @property
    def done(self) -> bool:
        return self.count is not None and self.printed >= self.count

    @property
    def resume_after(self) -> int:
        """Where a backfill starts reading: a little below the highest id printed."""
        return max(self.floor, self.last_id - RESUME_SLACK)

    def _first_sight(self, event_id: int) -> bool:
        if event_id in self._seen:
            return False
        self._seen.add(event_id)
        self._order.append(event_id)
        if len(self._order) > REMEMBERED:
            self._seen.discard(self._order.popleft())
        self.last_id = max(self.last_id, event_id)
        return True

    def emit(self, kind: str, record: Any) -> None:
        if self.done or kind not in self.kinds:
            return
        if kind in ("event", "event_status"):
            if not self.flt.matches(record):
                return
            if kind == "event" and not self._first_sight(record.id):
                return  # already printed, live or by a backfill
        out = record.to_dict()
        if len(self.kinds) > 1:
            out = {"kind": kind, **out}
        click.echo(json_text(out))  # JSON escapes: exact for jq, inert on a terminal
        self.printed += 1


async def _backfill(engine: EngineAPI, printer: _Printer, last: int | None) -> None:
    """Events already stored: the newest `last` at start, or all since the last one printed."""
    if last is not None:
        latest = await engine.query_events(None, limit=1)
        printer.floor = latest[0].id if latest else 0
        events = list(reversed(await engine.query_events(printer.flt, limit=last))) if last else []
    else:
        after = printer.resume_after
        events = await engine.query_events(printer.flt, after_id=after, limit=100_000)
    for event in events:
        printer.emit("event", event)


async def _follow_daemon(ctx: click.Context, socket: Address, printer: _Printer, last: int) -> None:
    from sloth_tui.remote.client import RemoteEngine

    engine = await RemoteEngine.open(settings_from(ctx), socket)
    sub = engine.subscribe()
    try:
        await engine.wait_subscribed()  # live first, then backfill: no gap between the two
        await _backfill(engine, printer, last)
        while not printer.done:
            notice = await sub.get()
            if notice.kind == "disconnected":
                say(f"tail: {clean(notice.payload)}; reconnecting", err=True)
            elif notice.kind == "connected":
                say("tail: reconnected", err=True)
                await _backfill(engine, printer, None)
            elif notice.kind == "dropped":
                say(f"tail: missed {clean(notice.payload)} notices (reading too slowly)", err=True)
            elif notice.kind in KINDS:
                printer.emit(notice.kind, notice.payload)
    finally:
        sub.close()
        await engine.close()


async def _follow_store(ctx: click.Context, printer: _Printer, last: int) -> None:
    async with engine_for(ctx, readonly=True) as engine:
        await _backfill(engine, printer, last)
        while not printer.done:
            await asyncio.sleep(POLL_S)
            await _backfill(engine, printer, None)


@click.command("tail")
@click.option(
    "--filter",
    "filter_text",
    metavar="EXPR",
    default="",
    help="Dashboard filter syntax: 'type:deploy.* !src:demo since:10m service=api', "
    "or @NAME for a filter saved under [filters] in config.toml. Ages count from the start.",
)
@click.option(
    "--kind",
    "kinds",
    multiple=True,
    type=click.Choice(KINDS),
    help="What to print (repeatable; default: event). With several, each line "
    "gets a `kind` field. event_status and execution need the daemon.",
)
@click.option(
    "-n",
    "--last",
    type=COUNT,
    default=0,
    show_default=True,
    help="First print the newest N events.",
)
@click.option("--count", type=COUNT, default=None, help="Exit after printing N lines.")
@click.pass_context
def event_tail(
    ctx: click.Context, filter_text: str, kinds: tuple[str, ...], last: int, count: int | None
) -> None:
    """Follow events as they are stored, one JSON object a line (pipe it to jq).

    sloth-tui event tail --filter 'type:deploy.* service=api' | jq -r .type
    """
    try:
        flt = parse_filter(expand_saved(filter_text, settings_from(ctx).filters))
    except FilterError as exc:
        raise click.BadParameter(str(exc), param_hint="--filter") from None
    if flt.needs_hooks():
        raise click.BadParameter(
            "hook: terms cannot be followed live; use `event list`", param_hint="--filter"
        )
    kinds = kinds or ("event",)
    socket = choose_engine_socket(ctx)
    if socket is None and set(kinds) != {"event"}:
        raise click.UsageError("--kind event_status/execution need a running `sloth-tui serve`")
    printer = _Printer(flt, kinds, count)

    async def body() -> None:
        if socket is not None:
            await _follow_daemon(ctx, socket, printer, last)
        else:
            await _follow_store(ctx, printer, last)

    try:
        run(body)
    except BrokenPipeError:  # `| head`: the reader left, which is not an error
        sys.stderr.close()
        sys.exit(0)
