"""`sloth-tui event trace ID`: the tree an event belongs to, drawn from its root.

The drawing is model/trace.py's `tree_lines` (the dashboard's Trace view draws the same
lines); every piece of outside text in it went through output.clean, so a type or a
hook's error cannot drive the terminal.
"""

from __future__ import annotations

import click

from sloth_tui.commands.common import EVENT_ID, emit_json, engine_for, run
from sloth_tui.commands.output import clean, say
from sloth_tui.model.trace import ASKED_MARK, Trace, footer_lines, header_lines, tree_lines


def trace_text(trace: Trace) -> list[str]:
    """The trace as plain lines: notes, the tree (the asked event marked), the bound."""
    lines = header_lines(trace)
    for line in tree_lines(trace, clean):
        mark = f"  {ASKED_MARK}" if line.asked else ""
        lines.append(f"{line.prefix}{line.label}{mark}")
    return lines + footer_lines(trace)


@click.command("trace")
@click.argument("event_id", type=EVENT_ID)
@click.option(
    "--json",
    "as_json",
    is_flag=True,
    help="Print the trace as JSON: {root_id, asked_id, missing_parent, shown, omitted, "
    "root}; an event is {id, type, status, offset, runs, children}, a run {hook, status, "
    "duration_ms, trigger, attempt, offset, error, children}; offsets are seconds after "
    "the root.",
)
@click.pass_context
def event_trace(ctx: click.Context, event_id: int, as_json: bool) -> None:
    """Show the tree event EVENT_ID belongs to: from its root event, the hook runs on
    each event (status, duration, trigger, time after the root) and the events each run
    dispatched, down to the last. Any event of the tree gives the same tree; the one
    asked for is marked. Dry runs are not part of it. When the root was trimmed or
    deleted, the tree starts at the oldest ancestor still stored. At most 2000 events
    and runs are drawn; the rest are counted."""

    async def body() -> Trace:
        async with engine_for(ctx, readonly=True) as engine:
            return await engine.trace(event_id)

    trace = run(body)
    if as_json:
        emit_json(trace.to_dict())
        return
    for line in trace_text(trace):
        say(line)
