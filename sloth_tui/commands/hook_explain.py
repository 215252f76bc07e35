"""`sloth-tui hook explain EVENT_ID [NAME]`: why each hook ran on an event, or why not.

The verdicts come from the engine (EngineAPI.explain: the daemon's when one runs); this
module only prints them. Hook names, patterns, conditions, key values and errors are
outside text: each line goes through commands/output.py, so none can drive the terminal.
"""

from __future__ import annotations

import click

from sloth_tui.commands.common import EVENT_ID, emit_json, engine_for, fmt_ts, run
from sloth_tui.commands.completion import hook_names
from sloth_tui.commands.output import clean, say
from sloth_tui.model.explain import HookVerdict
from sloth_tui.model.records import Event

MARKS = {True: "✓", False: "✗", None: " "}  # a check passed, failed, or information


@click.command("explain")
@click.argument("event_id", type=EVENT_ID)
@click.argument("name", required=False, shell_complete=hook_names)
@click.option(
    "--json",
    "as_json",
    is_flag=True,
    help="Print the verdicts as a JSON array, one object per hook (its checks, the runs "
    "recorded on the event, the outcome).",
)
@click.pass_context
def hook_explain(ctx: click.Context, event_id: int, name: str | None, as_json: bool) -> None:
    """Why each hook ran on event EVENT_ID, or why not (only hook NAME when given).

    For every hook, in the engine's order: whether a pattern matches the event's type,
    its stack rule, enabled (and why it was disabled), its condition (the term that
    fails), its mode and key value, the throttle or dedupe state before the event (read
    from the runs recorded in the window), the event's chain depth, and the outcome: the
    runs recorded on the event (status, trigger, attempt, a skip's reason) or why it did
    not run. Hooks are explained as they are now.

    \b
        sloth-tui hook explain 4812
        sloth-tui hook explain 4812 page-oncall
        sloth-tui hook explain 4812 --json | jq '.[] | select(.would_run) | .hook'
    """

    async def body() -> tuple[Event, list[HookVerdict]]:
        async with engine_for(ctx, readonly=True) as engine:
            # Both raise NotFound (one line) for a missing event or hook.
            verdicts = await engine.explain(event_id, name)
            return await engine.get_event(event_id), verdicts

    event, verdicts = run(body)
    if as_json:
        emit_json([v.to_dict() for v in verdicts])
        return
    for line in explain_lines(event, verdicts):
        say(line)


def explain_lines(event: Event, verdicts: list[HookVerdict]) -> list[str]:
    """The human output: the event, then a block per hook with its checks aligned."""
    lines = [f"event {event.id}  {clean(event.type)}  {fmt_ts(event.ts)}  {clean(event.status)}"]
    if event.stack is not None:
        lines.append(f"stack {clean(event.stack)}")
    if not verdicts:
        lines.append("no hooks (add one with `sloth-tui hook add`)")
        return lines
    running = sum(v.would_run for v in verdicts)
    lines.append(
        f"{len(verdicts)} hook{'s' if len(verdicts) != 1 else ''}: {running} would run, "
        f"{len(verdicts) - running} would not"
    )
    for v in verdicts:
        lines.append("")
        lines.append(f"{clean(v.hook)}: {'would run' if v.would_run else 'would not run'}")
        rows = v.rows()
        width = max(len(label) for label, _text, _ok in rows)
        for label, text, ok in rows:
            lines.append(f"  {MARKS[ok]} {label.ljust(width)}  {clean(text)}")
    return lines
