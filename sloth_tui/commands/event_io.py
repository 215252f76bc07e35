"""`sloth-tui event export` and `event import FILE`: events as JSON lines.

Export writes one JSON object per event (Event.to_dict(): the shape `event list --json`
prints), in the order they were stored, paged through query_events so a large store is
never held in memory.

Import reads such lines, for replaying recorded traffic into a test home. The whole file
is checked before anything is taken in (commands/event_lines.py): a bad line is named by
its number, and nothing is imported. Then, by default, each event keeps its type, data,
source, time, status and Sloth Runner context: they go through EngineAPI.mirror, the
door made for rows another engine recorded (each keyed, so importing a file twice adds
nothing the second time; hooks do not run on them). What cannot be kept: the ids (the
store numbers its own rows) and so the links to a parent event (an imported event is a
top-level one). The daemon's socket takes mirrored rows only from the Sloth Runner
bridge, so this needs the home without a daemon running. With --as-new the events are
dispatched as new ones instead (now, source cli, hooks run), attached or not.
"""

from __future__ import annotations

import sys
import tempfile
from collections.abc import Iterator
from typing import IO

import click

from sloth_tui.commands.common import engine_for, fail, run, settings_from
from sloth_tui.commands.event import SINCE_HELP, TIME, UNTIL_HELP
from sloth_tui.commands.event_lines import LineEvent, check_lines, read_events
from sloth_tui.commands.output import error_line, json_text, say
from sloth_tui.engine.api import EngineAPI, EventLine
from sloth_tui.model.errors import EventRefused
from sloth_tui.model.filters import Filter, FilterError, expand_saved, parse_filter
from sloth_tui.model.mirror import ForeignEvent, MirrorBatch

PAGE = 500  # events per query_events call, and per import batch
MAX_SHOWN = 100  # bad lines named one by one; past this, a count
MIRROR_NAME = "event-import"  # the mirror cursor an import stores (nothing resumes it)


@click.command("export")
@click.option(
    "--filter",
    "filter_text",
    metavar="EXPR",
    help="Only the events this filter keeps (the dashboard's language: 'type:deploy.* "
    "!src:demo service=api'), or @NAME for one saved under [filters] in config.toml.",
)
@click.option("--since", type=TIME, default=None, help=SINCE_HELP)
@click.option("--until", type=TIME, default=None, help=UNTIL_HELP)
@click.pass_context
def event_export(
    ctx: click.Context, filter_text: str | None, since: float | None, until: float | None
) -> None:
    """Write stored events to stdout as JSON lines, oldest first.

    One object per line, the fields `event list --json` prints (id, type, category,
    data, source, status, ts, parent_id, depth, warnings, stack, agent, run_id).
    Control characters in text are JSON escapes, so a line is always one line.
    `event import FILE` reads it back.

    \b
        sloth-tui event export --since 1h --filter 'type:deploy.*' > events.jsonl
    """
    try:
        flt = (
            parse_filter(expand_saved(filter_text, settings_from(ctx).filters))
            if filter_text
            else Filter()
        )
    except FilterError as exc:
        raise click.BadParameter(str(exc), param_hint="--filter") from None

    async def body() -> int:
        written = 0
        async with engine_for(ctx, readonly=True) as engine:
            after = 0
            while True:
                page = await engine.query_events(
                    flt, limit=PAGE, after_id=after, since=since, until=until
                )
                for event in page:
                    click.echo(json_text(event.to_dict()))
                written += len(page)
                if len(page) < PAGE:
                    return written
                after = page[-1].id

    run(body)


@click.command("import")
@click.argument("file", type=click.Path(dir_okay=False, allow_dash=True))
@click.option(
    "--as-new",
    is_flag=True,
    help="Dispatch each event as a new one: now, source cli, matching hooks run. "
    "Without it, events keep their source, time and status, and no hook runs.",
)
@click.pass_context
def event_import(ctx: click.Context, file: str, as_new: bool) -> None:
    """Read events from FILE (JSON lines, as `event export` writes them; - for stdin).

    Every line is checked first: one JSON object with a type, an object of data, and,
    unless --as-new, the time it happened (ts). A bad line is named by its number, and
    then nothing is imported (exit 1).

    Without --as-new each event keeps its type, data, source, time, status, stack,
    agent and run id; it gets a new id, and comes in as a top-level event (its parent
    link is not kept). Importing the same file again adds nothing. This needs the home
    without a running daemon (stop it, or use --as-new).

    \b
        sloth-tui --home /tmp/test-home event import events.jsonl
        sloth-tui event import --as-new events.jsonl
    """
    with _opened(file) as fh:
        _count, problems, bad = check_lines(fh, need_ts=not as_new, max_problems=MAX_SHOWN)
        if bad:
            for problem in problems[:-1]:
                error_line(problem)
            more = bad - len(problems)
            last = f"{problems[-1]}; and {more} more bad lines" if more else problems[-1]
            fail(f"{last} ({bad} bad {'line' if bad == 1 else 'lines'}: nothing imported)")
        fh.seek(0)
        events = read_events(fh, need_ts=not as_new)

        async def body() -> tuple[str, list[str]]:
            async with engine_for(ctx) as engine:
                if as_new:
                    return await _dispatch(engine, events)
                if engine.remote:
                    fail(
                        "event import keeps each event's source and time only into a home "
                        "no daemon is serving (the socket takes them from no client): stop "
                        "the daemon, or pass --as-new"
                    )
                return await _mirror(engine, events)

        summary, refused = run(body)
    for problem in refused:
        error_line(f"refused by the engine: {problem}")
    say(summary)
    ctx.exit(1 if refused else 0)


class _opened:
    """FILE opened for binary reading; `-` is stdin, spooled to a temporary file first
    (the lines are read twice: checked, then imported)."""

    def __init__(self, file: str) -> None:
        self.file = file
        self.fh: IO[bytes] | None = None

    def __enter__(self) -> IO[bytes]:
        if self.file == "-":
            spool = tempfile.TemporaryFile()
            while chunk := sys.stdin.buffer.read(1 << 16):
                spool.write(chunk)
            spool.seek(0)
            self.fh = spool
        else:
            try:
                self.fh = open(self.file, "rb")
            except OSError as exc:
                fail(f"cannot read {self.file}: {exc.strerror or exc}")
        assert self.fh is not None
        return self.fh

    def __exit__(self, *exc: object) -> None:
        if self.fh is not None:
            self.fh.close()


def _runs(events: Iterator[LineEvent]) -> Iterator[list[LineEvent]]:
    """Consecutive events with one source, at most PAGE at a time (a mirror batch has
    one source)."""
    chunk: list[LineEvent] = []
    for event in events:
        if chunk and (event.source != chunk[0].source or len(chunk) >= PAGE):
            yield chunk
            chunk = []
        chunk.append(event)
    if chunk:
        yield chunk


async def _mirror(engine: EngineAPI, events: Iterator[LineEvent]) -> tuple[str, list[str]]:
    """Keep source, time and status: EngineAPI.mirror, each line keyed (a line imported
    before is known, not added again); hooks do not run (run_hooks=False)."""
    added = known = 0
    refused: list[str] = []
    for chunk in _runs(events):
        batch = MirrorBatch(
            source=chunk[0].source,
            cursor_name=MIRROR_NAME,
            cursor=chunk[-1].key,
            events=tuple(
                ForeignEvent(
                    key=e.key,
                    type=e.type,
                    data=e.data,
                    ts=e.ts if e.ts is not None else 0.0,
                    status=e.status,
                    stack=e.stack,
                    agent=e.agent,
                    run_id=e.run_id,
                )
                for e in chunk
            ),
        )
        result = await engine.mirror(batch)
        added += result.events_added
        known += result.events_known
        line_of = {e.key: e.line for e in chunk}
        refused += [f"line {line_of.get(k, '?')}: {why}" for k, why in result.refused]
    tail = f", {known} already here (imported before)" if known else ""
    more = f", {len(refused)} refused" if refused else ""
    return f"imported {added} events{tail}{more}", refused


async def _dispatch(engine: EngineAPI, events: Iterator[LineEvent]) -> tuple[str, list[str]]:
    """As new events: dispatch_batch, PAGE at a time (one store write each); hooks run.
    strict=False: recorded traffic was taken in once already, so a mismatch with the
    catalog stays a warning on the event, as it was then."""
    added = 0
    refused: list[str] = []
    chunk: list[LineEvent] = []

    async def flush() -> None:
        nonlocal added
        items: list[EventLine] = [
            (e.type, e.data, "cli", False, e.stack, e.agent, e.run_id) for e in chunk
        ]
        for e, result in zip(chunk, await engine.dispatch_batch(items), strict=True):
            if isinstance(result, EventRefused):
                refused.append(f"line {e.line}: {result}")
            else:
                added += 1
        chunk.clear()

    for event in events:
        chunk.append(event)
        if len(chunk) >= PAGE:
            await flush()
    if chunk:
        await flush()
    if not engine.remote:
        await engine.wait_idle()  # an embedded engine: let the hooks' runs finish
    more = f", {len(refused)} refused" if refused else ""
    return f"dispatched {added} new events{more}", refused
