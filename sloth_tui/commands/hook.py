"""`sloth-tui hook ...`: add, list, show, get, delete, enable, disable, logs, test, retry."""

from __future__ import annotations

import sys
import time
from pathlib import Path

import click

from sloth_tui.commands.common import (
    emit_json,
    engine_for,
    fmt_ts,
    parse_duration,
    parse_json_object,
    run,
    table,
)
from sloth_tui.engine.hooks import pattern_matches_catalog
from sloth_tui.engine.records import Execution
from sloth_tui.engine.retry import RetryReport, failed_runs, retry_runs


@click.group("hook")
def hook_group() -> None:
    """Create, inspect and test Lua hooks."""


@hook_group.command("add")
@click.argument("name")
@click.option(
    "--event",
    "events",
    multiple=True,
    metavar="PATTERN",
    help="Event type or glob (deploy.failed, deploy.*, *.failed, *). Repeatable. "
    "Defaults to the file's event_types table, if it declares one.",
)
@click.option(
    "--file",
    "file",
    required=True,
    type=click.Path(dir_okay=False),
    help="Lua file with on_event() or a table with execute(event).",
)
@click.option("--description", default="", help="What the hook is for.")
@click.option("--disabled", is_flag=True, help="Add it switched off.")
@click.option("--timeout", type=float, default=None, help="Seconds per run (default 10).")
@click.option(
    "--max-instructions",
    type=int,
    default=None,
    help="Lua VM instructions per run (default 100,000,000).",
)
@click.option("--max-memory-mb", type=int, default=None, help="Lua heap per run (default 64).")
@click.option("--json", "as_json", is_flag=True, help="Print the hook as JSON.")
@click.pass_context
def hook_add(
    ctx: click.Context,
    name: str,
    events: tuple[str, ...],
    file: str,
    description: str,
    disabled: bool,
    timeout: float | None,
    max_instructions: int | None,
    max_memory_mb: int | None,
    as_json: bool,
) -> None:
    """Register hook NAME to run FILE on matching events."""
    path = Path(file).expanduser()
    if not path.is_file():
        raise click.BadParameter(f"no such file: {path}", param_hint="--file")
    patterns = list(events)
    if not patterns:
        from sloth_tui.lua.runtime import declared_event_types

        patterns = declared_event_types(str(path.resolve()))
        if not patterns:
            raise click.UsageError(
                "give at least one --event PATTERN (the file declares no event_types)"
            )

    async def body() -> None:
        async with engine_for(ctx) as engine:
            hook = await engine.add_hook(
                name,
                patterns,
                path,
                description=description,
                enabled=not disabled,
                timeout=timeout,
                max_instructions=max_instructions,
                max_memory_mb=max_memory_mb,
            )
        if as_json:
            emit_json(hook.to_dict())
            return
        click.echo(f"added hook {hook.name} ({', '.join(hook.events)}) -> {hook.file}")
        for pattern in hook.events:
            if not pattern_matches_catalog(pattern):
                click.echo(f"warning: {pattern!r} matches no catalog event type", err=True)

    run(body)


@hook_group.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_context
def hook_list(ctx: click.Context, as_json: bool) -> None:
    """List hooks with their patterns and run counts."""

    async def body() -> None:
        async with engine_for(ctx, readonly=True) as engine:
            hooks = await engine.list_hooks()
            stats = await engine.hook_stats()
        if as_json:
            emit_json(
                [
                    h.to_dict() | {"stats": s.to_dict() if (s := stats.get(h.name)) else None}
                    for h in hooks
                ]
            )
            return
        rows = []
        for h in hooks:
            s = stats.get(h.name)
            rate = f"{s.success_rate:.0%}" if s and s.success_rate is not None else "-"
            rows.append(
                [
                    h.name,
                    ",".join(h.events),
                    "yes" if h.enabled else "no",
                    str(h.run_count),
                    rate,
                    fmt_ts(h.last_run),
                    h.description,
                ]
            )
        table(rows, ["name", "events", "enabled", "runs", "ok", "last run", "description"])

    run(body)


def _print_execution(ex: Execution) -> None:
    mark = "DRY RUN " if ex.dry_run else ""
    click.echo(
        f"{mark}{ex.hook} on event {ex.event_id}"
        + (f" {ex.event_type}" if ex.event_type else "")
        + f": {ex.status} in {ex.duration_ms:.1f} ms"
        + (f" (limit: {ex.limit})" if ex.limit else "")
    )
    for line in ex.logs:
        click.echo(f"  [{line.level:<5}] {line.message}")
    for call in ex.calls:
        fn = call.get("fn", "?")
        detail = {k: v for k, v in call.items() if k != "fn"}
        click.echo(f"  -> {fn} {detail}")
    if ex.error:
        click.echo(f"  error: {ex.error}")
    if ex.result is not None:
        click.echo(f"  returned: {ex.result!r}")


@hook_group.command("show")
@click.argument("name")
@click.option("--history", is_flag=True, help="Also list recent executions.")
@click.option("--limit", default=10, show_default=True, help="Executions with --history.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_context
def hook_show(ctx: click.Context, name: str, history: bool, limit: int, as_json: bool) -> None:
    """Show one hook: patterns, file, limits and stats."""

    async def body() -> None:
        async with engine_for(ctx, readonly=True) as engine:
            hook = await engine.get_hook(name)
            stats = (await engine.hook_stats()).get(name)
            runs = await engine.executions(hook=name, limit=limit) if history else []
        if as_json:
            out = hook.to_dict() | {"stats": stats.to_dict() if stats else None}
            if history:
                out["history"] = [e.to_dict() for e in runs]
            emit_json(out)
            return
        click.echo(f"name:        {hook.name}\nevents:      {', '.join(hook.events)}")
        click.echo(f"file:        {hook.file}{'' if Path(hook.file).exists() else '  (MISSING)'}")
        click.echo(f"description: {hook.description}\nenabled:     {hook.enabled}")
        click.echo(f"timeout:     {hook.timeout:g}s")
        if hook.max_instructions or hook.max_memory_mb:
            click.echo(
                f"limits:      {hook.max_instructions or 'default'} instructions, "
                f"{hook.max_memory_mb or 'default'} MiB"
            )
        click.echo(f"runs:        {hook.run_count}")
        click.echo(f"last run:    {fmt_ts(hook.last_run)}")
        if stats:
            click.echo(
                f"failures:    {stats.failures}\navg/p95:     "
                f"{stats.avg_ms:.1f} / {stats.p95_ms:.1f} ms"
            )
        for ex in runs:
            click.echo(
                f"  {fmt_ts(ex.started)}  event {ex.event_id:<8} {ex.status:<8} "
                f"{ex.duration_ms:8.1f} ms  {ex.error or ''}"
            )

    run(body)


@hook_group.command("get")
@click.argument("name")
@click.option("--json", "as_json", is_flag=True, help="Print {name, file, code} as JSON.")
@click.pass_context
def hook_get(ctx: click.Context, name: str, as_json: bool) -> None:
    """Print the hook's Lua source."""

    async def body() -> None:
        async with engine_for(ctx, readonly=True) as engine:
            hook = await engine.get_hook(name)
        try:
            code = Path(hook.file).read_text(encoding="utf-8")
        except OSError as exc:
            raise click.ClickException(f"cannot read {hook.file}: {exc.strerror}") from None
        if as_json:
            emit_json({"name": hook.name, "file": hook.file, "code": code})
        else:
            click.echo(code, nl=not code.endswith("\n"))

    run(body)


@hook_group.command("delete")
@click.argument("name")
@click.option("--force", is_flag=True, help="Do not ask for confirmation.")
@click.pass_context
def hook_delete(ctx: click.Context, name: str, force: bool) -> None:
    """Delete a hook (its Lua file is kept) and its stored state."""
    if not force:
        if not sys.stdin.isatty():
            raise click.UsageError("not a terminal: pass --force to delete without asking")
        click.confirm(f"delete hook {name}?", abort=True)

    async def body() -> None:
        async with engine_for(ctx) as engine:
            await engine.delete_hook(name)
        click.echo(f"deleted hook {name}")

    run(body)


def _toggle(ctx: click.Context, name: str, enabled: bool) -> None:
    async def body() -> None:
        async with engine_for(ctx) as engine:
            await engine.set_hook_enabled(name, enabled)
        click.echo(f"{'enabled' if enabled else 'disabled'} hook {name}")

    run(body)


@hook_group.command("enable")
@click.argument("name")
@click.pass_context
def hook_enable(ctx: click.Context, name: str) -> None:
    """Switch a hook on."""
    _toggle(ctx, name, True)


@hook_group.command("disable")
@click.argument("name")
@click.pass_context
def hook_disable(ctx: click.Context, name: str) -> None:
    """Switch a hook off (it keeps its history)."""
    _toggle(ctx, name, False)


@hook_group.command("logs")
@click.argument("name")
@click.option("--limit", default=20, show_default=True, help="How many executions.")
@click.option("--only-failed", is_flag=True, help="Only runs that did not succeed.")
@click.option("--json", "as_json", is_flag=True, help="Print an array of executions.")
@click.pass_context
def hook_logs(ctx: click.Context, name: str, limit: int, only_failed: bool, as_json: bool) -> None:
    """Recent executions of a hook with their logs and host calls, newest first."""

    async def body() -> None:
        async with engine_for(ctx, readonly=True) as engine:
            await engine.get_hook(name)
            runs = await engine.executions(hook=name, only_failed=only_failed, limit=limit)
        if as_json:
            emit_json([e.to_dict() for e in runs])
            return
        if not runs:
            click.echo("(no executions)")
        for ex in runs:
            click.echo(f"--- {fmt_ts(ex.started)}")
            _print_execution(ex)

    run(body)


@hook_group.command("test")
@click.argument("name")
@click.option(
    "--event",
    "event_type",
    metavar="TYPE",
    help="Event type to test with (default: the hook's first pattern).",
)
@click.option("--data", metavar="JSON", help="Fields overriding the catalog's sample values.")
@click.option("--json", "as_json", is_flag=True, help="Print the execution as JSON.")
@click.pass_context
def hook_test(
    ctx: click.Context, name: str, event_type: str | None, data: str | None, as_json: bool
) -> None:
    """Dry-run a hook on a sample event: http calls and dispatches are only recorded.

    Exits 0 when the hook succeeds, 1 otherwise."""
    overrides = parse_json_object(data)

    async def body() -> Execution:
        async with engine_for(ctx, readonly=True) as engine:
            return await engine.test_hook(name, event_type, overrides)

    ex = run(body)
    if as_json:
        emit_json(ex.to_dict())
    else:
        _print_execution(ex)
    sys.exit(0 if ex.status == "success" else 1)


@hook_group.command("retry")
@click.argument("name")
@click.option(
    "--since", metavar="DURATION", help="Only runs that failed within this time (30m, 24h, 7d)."
)
@click.option("--limit", default=100, show_default=True, help="Events retried at most.")
@click.option("--list", "list_only", is_flag=True, help="Only list the events; run nothing.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_context
def hook_retry(
    ctx: click.Context,
    name: str,
    since: str | None,
    limit: int,
    list_only: bool,
    as_json: bool,
) -> None:
    """Run hook NAME again, for real, on every event where its latest run failed.

    After fixing a hook (or the service it calls): each event is re-run with the
    hook's current code, oldest first, and the new runs are recorded beside the
    failed ones. --list shows what would be retried. Exits 1 when a retry fails.

    \b
        sloth-tui hook retry deploy-alert --since 2h --list
        sloth-tui hook retry deploy-alert --since 2h
    """
    if limit < 1:
        raise click.BadParameter("must be at least 1", param_hint="--limit")
    cutoff = time.time() - parse_duration(since) if since else None

    async def body() -> tuple[list[Execution], RetryReport]:
        async with engine_for(ctx, readonly=list_only) as engine:
            await engine.get_hook(name)  # NotFound: a one-line error
            failed = await failed_runs(engine, name, cutoff, limit)
            if list_only:
                return failed, RetryReport()
            return failed, await retry_runs(engine, name, failed)

    failed, report = run(body)
    if list_only:
        _print_retry_list(failed, as_json)
        return
    if as_json:
        emit_json(
            {
                "retried": [new.to_dict() for _old, new in report.retried],
                "still_failing": report.still_failing,
                "gone": report.gone,
            }
        )
    elif not failed:
        click.echo(f"no failed runs of {name} to retry")
    else:
        for old, new in report.retried:
            click.echo(
                f"  event {old.event_id} {new.event_type}: {old.status} -> {new.status}"
                + (f" - {new.error}" if new.error else "")
            )
        for event_id in report.gone:
            click.echo(f"  event {event_id}: gone from the store, not retried")
        done, still = len(report.retried), report.still_failing
        click.echo(
            f"retried {done}: {done - still} ok, {still} still failing"
            + (f", {len(report.gone)} gone" if report.gone else "")
        )
    if report.still_failing:
        ctx.exit(1)


def _print_retry_list(failed: list[Execution], as_json: bool) -> None:
    if as_json:
        emit_json([ex.to_dict() for ex in failed])
        return
    if not failed:
        click.echo("(no failed runs)")
        return
    table(
        [
            [str(ex.event_id), ex.event_type or "?", fmt_ts(ex.started), ex.status, ex.error or ""]
            for ex in failed
        ],
        ["event", "type", "failed at", "status", "error"],
    )
