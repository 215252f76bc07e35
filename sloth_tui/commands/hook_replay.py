"""`hook replay NAME`: what an edit would change, shown before it is saved.

The engine (engine/replay.py) runs the code, in dry run, over the hook's recent real
events and compares each outcome with the recorded one; this prints the table.
"""

from __future__ import annotations

import sys
from pathlib import Path

import click

from sloth_tui.commands.common import emit_json, engine_for, fail, run, table
from sloth_tui.commands.completion import hook_names
from sloth_tui.commands.output import clean, say
from sloth_tui.model.replay import NOT_RUN, Outcome, ReplayReport, ReplayRow

MAX_LAST = 500  # as engine/replay.MAX_LAST (commands do not import the engine)
MAX_FILE_BYTES = 512 * 1024  # an edited hook, read whole and sent over the socket


@click.command("replay")
@click.argument("name", shell_complete=hook_names)
@click.option(
    "--last",
    type=click.IntRange(1, MAX_LAST),
    default=50,
    show_default=True,
    help=f"How many of the latest matching events to replay (1 to {MAX_LAST}).",
)
@click.option(
    "--file",
    "edited",
    metavar="EDITED.lua",
    help="Replay this file's code (an edit not saved yet) instead of the hook's own file.",
)
@click.option("--json", "as_json", is_flag=True, help="Print the whole report as JSON.")
@click.pass_context
def hook_replay(
    ctx: click.Context, name: str, last: int, edited: str | None, as_json: bool
) -> None:
    """Run hook NAME's code, in dry run, over its recent real events, beside what it did.

    The last N stored events the hook would run on (its patterns, stack and `when`
    condition) are run, newest first, through the code (--file, or the hook's file as it
    is now) in dry run: http calls, dispatches and state writes are recorded, never
    performed, and nothing is written to the store. Each row shows the recorded outcome
    (or "not run"), the new one, and what changed: status, calls added or removed, log
    lines added or removed. Rows that changed come first. Replays stop after 60 s.

    Exits 1 when an outcome changed for the worse (recorded success or skipped, now
    failed, error or timeout), 0 otherwise.

    \b
        sloth-tui hook replay deploy-alert
        sloth-tui hook replay deploy-alert --file deploy-alert.lua --last 200
    """
    code = read_edited(edited) if edited is not None else None

    async def body() -> ReplayReport:
        async with engine_for(ctx, readonly=True) as engine:
            return await engine.replay(name, code=code, last=last)

    report = run(body)
    if as_json:
        emit_json(report.to_dict())
    else:
        print_report(report)
    sys.exit(1 if report.worse else 0)


def read_edited(path_text: str) -> str:
    """The edited code: one-line errors for a missing, unreadable, huge or binary file."""
    path = Path(path_text)
    try:
        size = path.stat().st_size
        if path.is_dir():
            fail(f"--file: {path_text} is a directory, not a Lua file")
        if size > MAX_FILE_BYTES:
            fail(f"--file: {path_text} is {size} bytes; a hook is at most {MAX_FILE_BYTES}")
        data = path.read_bytes()
    except FileNotFoundError:
        fail(f"--file: {path_text} does not exist")
    except OSError as exc:
        fail(f"--file: cannot read {path_text}: {exc.strerror or exc}")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        fail(f"--file: {path_text} is not UTF-8 text (byte {exc.start})")
    raise AssertionError("unreachable")


def print_report(report: ReplayReport) -> None:
    """The table, each changed row's details under it, and the summary line."""
    if report.rows:
        cells = [
            [str(r.event_id), r.event_type, _recorded(r), _shown(r.new), _change(r)]
            for r in report.rows
        ]
        table(cells, ["event", "type", "recorded", "new", "what changed"])
        details = [line for row in report.rows if row.changed for line in _details(row)]
        if details:
            say("")
            for line in details:
                say(line)
        say("")
    say(clean(report.summary))


def _recorded(row: ReplayRow) -> str:
    return NOT_RUN if row.recorded is None else _shown(row.recorded)


def _shown(outcome: Outcome) -> str:
    return f"{outcome.status} {outcome.duration_ms:.1f}ms"


def _change(row: ReplayRow) -> str:
    if not row.changed:
        return "same"
    text = row.what_changed()
    return f"WORSE: {text}" if row.worse else text


def _details(row: ReplayRow) -> list[str]:
    """Escaped lines: these come from the hook's logs and calls (outside text)."""
    out = [f"event {row.event_id}:"]
    if row.new.error and (row.recorded is None or row.recorded.error != row.new.error):
        out.append(f"  error now: {clean(row.new.error)}")
    for diff, noun in ((row.calls, "call"), (row.logs, "log")):
        out += [f"  + {noun} {clean(line)}" for line in diff.added]
        out += [f"  - {noun} {clean(line)}" for line in diff.removed]
        hidden = diff.n_added + diff.n_removed - len(diff.added) - len(diff.removed)
        if hidden:
            out.append(f"  ({hidden} more {noun} changes not shown)")
    return out if len(out) > 1 else []
