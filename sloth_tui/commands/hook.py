"""`sloth-tui hook ...`: add, list, show, get, source, delete, enable, disable, logs, test,
retry. Sloth Runner's spellings (short flags, `--stack`, `--format json`, `get` as JSON
metadata) are accepted beside sloth-tui's own; each `--help` names them."""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from sloth_tui.commands.common import (
    COUNT,
    INSTRUCTIONS,
    MEMORY_MB,
    SECONDS,
    emit_json,
    engine_for,
    fail,
    fmt_ts,
    parse_duration,
    parse_json_object,
    run,
    table,
)
from sloth_tui.commands.completion import event_types, hook_names, type_patterns
from sloth_tui.commands.event import TIME
from sloth_tui.commands.hook_policy_flags import PolicyFlags, policy_options
from sloth_tui.commands.lazy_group import LazyGroup
from sloth_tui.commands.output import clean, clean_block, json_text, say, value_text, warn
from sloth_tui.commands.upstream_shapes import hook_json, hook_logs_json
from sloth_tui.model.errors import NotFound, SlothError
from sloth_tui.model.records import Execution, Hook
from sloth_tui.user_path import resolved, user_path

if TYPE_CHECKING:  # engine.api brings every record type: `hook list` needs two of them
    from sloth_tui.engine.api import EngineAPI
    from sloth_tui.engine.retry import RetryReport


@click.group("hook", cls=LazyGroup)  # cli.py names its lazy subcommands
def hook_group() -> None:
    """Create, inspect and test Lua hooks."""


_GLOB_CHARS = frozenset("*?[]!")


def _warn_about_patterns(patterns: list[str]) -> None:
    """A misspelt type (`deploy.faild`) or a pattern that matches no catalog type is
    allowed (user-defined types are fine) but worth a warning."""
    from sloth_tui import catalog  # here: its records cost every command's start-up

    for pattern in patterns:
        typo = None if _GLOB_CHARS & set(pattern) else catalog.unknown_type_warning(pattern)
        if typo:
            warn(typo)
        elif not catalog.pattern_matches_catalog(pattern):
            warn(f"{pattern!r} matches no catalog event type")


def _describe(hook: Hook) -> str:
    stack = f" [stack {clean(hook.stack)}]" if hook.stack else ""
    return f"{clean(hook.name)} ({clean(', '.join(hook.events))}){stack} -> {clean(hook.file)}"


def _say_policy(hook: Hook) -> None:
    """The policy as `hook show` prints it: one line per setting, aligned."""
    lines = hook.policy.describe() or ["none (every matching event, runs in parallel)"]
    for i, line in enumerate(lines):
        say(f"{'policy:' if i == 0 else '':<13}{clean(line)}")


POLICY_WIDTH = 20  # characters of `hook list`'s policy column: `hook show` has the rest


def _policy_summary(hook: Hook) -> str:
    """The settings a hook has, in a word each, for `hook list` ("-" for none); past
    POLICY_WIDTH the rest are counted (when,single,retry,+3)."""
    p = hook.policy
    words = ["when"] if p.when else []
    words += [p.mode] if p.mode != "parallel" else []  # single, queued, restart
    words += ["retry"] if p.retry else []
    words += ["throttle"] if p.throttle else []
    words += ["dedupe"] if p.dedupe is not None else []
    words += ["auto"] if p.auto_disable is not None else []  # auto-disable
    if len(",".join(words)) <= POLICY_WIDTH:
        return ",".join(words) or "-"
    kept: list[str] = []
    for word in words:  # as many whole words as leave room for ",+N"
        if len(",".join([*kept, word, f"+{len(words)}"])) > POLICY_WIDTH:
            break
        kept.append(word)
    return ",".join([*kept, f"+{len(words) - len(kept)}"])


def _enabled_text(hook: Hook) -> str:
    """true, false, or auto-off: disabled by the engine (auto_disable), not by hand."""
    if not hook.enabled and hook.disabled_reason:
        return "auto-off"
    return json_text(hook.enabled)


async def _syntax_problem(engine: EngineAPI, path: Path) -> str | None:
    """Compile the file as the editor does before saving: None, or `FILE line N: why`.

    The engine compiles it (the daemon, when attached), with the Lua that runs hooks."""
    try:
        # Read as the runtime reads hook files.
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError as exc:
        raise click.BadParameter(
            f"cannot read {path}: {exc.strerror or exc}", param_hint="--file"
        ) from None
    problem = await engine.check_syntax(text, path.name)
    if problem is None:
        return None
    line, message = problem
    if line:
        message = message.removeprefix(f"{path.name}:{line}:").strip()
        return f"{path} line {line}: {message}"
    return f"{path}: {message.removeprefix(f'{path.name}:').strip()}"


async def _check_syntax(engine: EngineAPI, path: Path, force: bool, verb: str) -> None:
    problem = await _syntax_problem(engine, path)
    if problem is None:
        return
    if not force:
        fail(f"syntax error in {problem} (fix it, or pass --force to {verb} it anyway)")
    warn(f"syntax error in {problem}: the hook fails on every event until it is fixed")


@hook_group.command("add")
@click.argument("name")
@click.option(
    "-e",
    "--event",
    "events",
    multiple=True,
    metavar="PATTERN",
    shell_complete=type_patterns,
    help="Event type or glob (deploy.failed, deploy.*, *.failed, *). Repeatable. "
    "Defaults to the file's event_types table, if it declares one. (-e: Sloth Runner's.)",
)
@click.option(
    "-f",
    "--file",
    "file",
    required=True,
    type=click.Path(dir_okay=False),
    help="Lua file with on_event() or a table with execute(event). (-f: Sloth Runner's.)",
)
@click.option("-d", "--description", default="", help="What the hook is for. (-d: Sloth Runner's.)")
@click.option(
    "-s",
    "--stack",
    default=None,
    metavar="NAME",
    help="Run only on events of this stack (Sloth Runner's hook isolation; its spelling).",
)
@click.option("--disabled", is_flag=True, help="Add it switched off.")
@click.option(
    "--enabled",
    type=click.BOOL,
    is_flag=False,
    flag_value=True,
    default=None,
    metavar="[=BOOL]",
    help="Sloth Runner's spelling: --enabled=false adds it switched off (as --disabled).",
)
@click.option("--timeout", type=SECONDS, default=None, help="Seconds per run (default 10).")
@click.option(
    "--max-instructions",
    type=INSTRUCTIONS,
    default=None,
    help="Lua VM instructions per run (default 100,000,000).",
)
@click.option(
    "--max-memory-mb", type=MEMORY_MB, default=None, help="Lua heap per run (default 64)."
)
@click.option("--force", is_flag=True, help="Add it even if the file does not compile.")
@policy_options
@click.option("--json", "as_json", is_flag=True, help="Print the hook as JSON.")
@click.pass_context
def hook_add(
    ctx: click.Context,
    /,
    name: str,
    events: tuple[str, ...],
    file: str,
    description: str,
    stack: str | None,
    disabled: bool,
    enabled: bool | None,
    timeout: float | None,
    max_instructions: int | None,
    max_memory_mb: int | None,
    force: bool,
    as_json: bool,
    **policy_flags: Any,
) -> None:
    """Register hook NAME to run FILE on matching events.

    FILE must compile (a syntax error is refused, naming its line) unless --force.
    Sloth Runner's spelling works too:

    \b
        sloth-tui hook add prod_monitor -f hooks/monitor.lua -e task.failed -s production

    The policy flags (--when, --mode, --retry, ...) are sloth-tui's own:

    \b
        sloth-tui hook add page -f page.lua -e deploy.failed --when 'env=prod' \\
            --key data.service --dedupe 10m --retry 3 --auto-disable 20
    """
    if enabled is not None and disabled and enabled:
        raise click.UsageError("--enabled=true and --disabled contradict each other")
    switched_on = not disabled if enabled is None else enabled
    path = user_path(file)
    if not path.is_file():
        raise click.BadParameter(f"no such file: {path}", param_hint="--file")
    flags = PolicyFlags.pop_from(policy_flags)
    # Checked before anything is written: a bad flag adds nothing.
    policy = flags.apply() if flags.given else None

    async def body() -> None:
        async with engine_for(ctx) as engine:
            await _check_syntax(engine, path, force, "add")
            patterns = list(events) or await engine.declared_event_types(str(resolved(path)))
            if not patterns:
                raise click.UsageError(
                    "give at least one --event PATTERN (the file declares no event_types)"
                )
            hook = await engine.add_hook(
                name,
                patterns,
                path,
                description=description,
                enabled=switched_on,
                timeout=timeout,
                max_instructions=max_instructions,
                max_memory_mb=max_memory_mb,
                stack=stack,
            )
            if policy is not None and not policy.is_default:
                # add_hook takes no policy: a second step, which must not fail silently.
                try:
                    hook = await engine.update_hook(name, policy=policy)
                except SlothError as exc:
                    fail(
                        f"added hook {clean(name)}, but setting its policy failed: {exc} "
                        f"(the hook runs without it; set it with `hook update {clean(name)}`)"
                    )
        if as_json:
            emit_json(hook.to_dict())
            return
        say(f"added hook {_describe(hook)}")
        _say_policy(hook)
        _warn_about_patterns(hook.events)

    run(body)


@hook_group.command("update")
@click.argument("name", shell_complete=hook_names)
@click.option(
    "--event",
    "events",
    multiple=True,
    metavar="PATTERN",
    shell_complete=type_patterns,
    help="Replace the hook's patterns with these (repeatable).",
)
@click.option(
    "--file", "file", type=click.Path(dir_okay=False), default=None, help="Another Lua file."
)
@click.option("--description", default=None, help="A new description.")
@click.option("--timeout", type=SECONDS, default=None, help="Seconds per run.")
@click.option("--force", is_flag=True, help="Take the file even if it does not compile.")
@policy_options
@click.option("--json", "as_json", is_flag=True, help="Print the hook as JSON.")
@click.pass_context
def hook_update(
    ctx: click.Context,
    /,
    name: str,
    events: tuple[str, ...],
    file: str | None,
    description: str | None,
    timeout: float | None,
    force: bool,
    as_json: bool,
    **policy_flags: Any,
) -> None:
    """Change hook NAME's patterns, file, description, timeout or policies; the rest stays.

    A new FILE must compile (a syntax error is refused, naming its line) unless --force.
    A policy flag changes that setting only; "" (--when, --key), 0 (--retry,
    --auto-disable) or off (--throttle, --dedupe) clears it:

    \b
        sloth-tui hook update page --mode single --key data.service --throttle 5/1m
        sloth-tui hook update page --retry 0 --when ''
    """
    flags = PolicyFlags.pop_from(policy_flags)
    changes: dict[str, object] = {}
    if events:
        changes["events"] = list(dict.fromkeys(events))
    if file is not None:
        path = user_path(file)
        if not path.is_file():
            raise click.BadParameter(f"no such file: {path}", param_hint="--file")
        changes["file"] = str(resolved(path))
    if description is not None:
        changes["description"] = description
    if timeout is not None:
        if not 0 < timeout <= 3600:
            raise click.BadParameter("must be between 0 and 3600 seconds", param_hint="--timeout")
        changes["timeout"] = timeout
    if not changes and not flags.given:
        raise click.UsageError(
            "nothing to change: give --event, --file, --description, --timeout "
            "or a policy flag (--when, --mode, --retry, ...: see --help)"
        )

    async def body() -> None:
        async with engine_for(ctx) as engine:
            if file is not None:
                await _check_syntax(engine, user_path(file), force, "use")
            if flags.given:  # the current policy, changed by the flags: in the same update
                changes["policy"] = flags.apply((await engine.get_hook(name)).policy)
            hook = await engine.update_hook(name, **changes)
        if as_json:
            emit_json(hook.to_dict())
            return
        say(f"updated hook {_describe(hook)}")
        if flags.given:
            _say_policy(hook)
        if events:
            _warn_about_patterns(hook.events)

    run(body)


_FORMAT = click.Choice(["table", "json"])


@hook_group.command("list")
@click.option(
    "-s",
    "--stack",
    default=None,
    metavar="NAME",
    help="Only the hooks of this stack (Sloth Runner's spelling).",
)
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.option(
    "--format",
    "fmt",
    type=_FORMAT,
    default="table",
    help="table or json (json = --json; Sloth Runner's docs spelling).",
)
@click.pass_context
def hook_list(ctx: click.Context, stack: str | None, as_json: bool, fmt: str) -> None:
    """List hooks with their patterns, stack and run counts."""
    as_json = as_json or fmt == "json"

    async def body() -> None:
        async with engine_for(ctx, readonly=True) as engine:
            hooks = await engine.list_hooks()
            stats = await engine.hook_stats()
        if stack is not None:  # as upstream's ListByStack: that stack's hooks only
            hooks = [h for h in hooks if h.stack == stack]
        if as_json:
            emit_json(
                [
                    h.to_dict() | {"stats": s.to_dict() if (s := stats.get(h.name)) else None}
                    for h in hooks
                ]
            )
            return
        # The stack and policy columns show once some hook has one (else all "-").
        with_stack = any(h.stack for h in hooks)
        with_policy = any(not h.policy.is_default for h in hooks)
        rows = []
        for h in hooks:
            s = stats.get(h.name)
            rate = f"{s.success_rate:.0%}" if s and s.success_rate is not None else "-"
            rows.append(
                [
                    h.name,
                    ",".join(h.events),
                    *([h.stack or "-"] if with_stack else []),
                    _enabled_text(h),
                    *([_policy_summary(h)] if with_policy else []),
                    str(h.run_count),
                    rate,
                    fmt_ts(h.last_run),
                    value_text(h.description, spaces_ok=True),
                ]
            )
        headers = ["name", "events", *(["stack"] if with_stack else []), "enabled"]
        headers += ["policy"] if with_policy else []
        table(rows, [*headers, "runs", "ok", "last run", "description"])
        off = [h.name for h in hooks if not h.enabled and h.disabled_reason]
        if off:
            say(f"auto-off: disabled after failures in a row (hook show {clean(off[0])} says "
                "why; hook enable clears it)")  # fmt: skip

    run(body, oneshot=True)


def _why(ex: Execution) -> str:
    """Why a run happened: event, rerun, retry, recovery or test, and which attempt."""
    return clean(ex.trigger) + (f", attempt {ex.attempt}" if ex.attempt > 1 else "")


def _print_execution(ex: Execution, *, output: bool = True, error: bool = True) -> None:
    """A run as lines: headline, logs, host calls, error and returned value as JSON.

    `output` (logs, host calls, returned value) and `error` choose the details, as
    upstream's `hook logs --output/--error` do."""
    mark = "DRY RUN " if ex.dry_run else ""
    if ex.origin:
        mark += f"[{clean(ex.origin)}] "  # a run the bridge mirrored: upstream's own
    # A dry run on a sample event has no stored event: its id is 0.
    target = " ".join(
        part
        for part in (f"event {ex.event_id}" if ex.event_id else "", clean(ex.event_type))
        if part
    )
    why = _why(ex)
    say(
        f"{mark}{clean(ex.hook)}"
        + (f" on {target}" if target else "")
        + f": {clean(ex.status)} in {ex.duration_ms:.1f} ms ({why})"
        + (f" (limit: {clean(ex.limit)})" if ex.limit else "")
    )
    if ex.status == "skipped" and ex.error:  # not an error: why it did not run
        say(f"  skipped: {clean(ex.error)}")
    if output:
        for line in ex.logs:
            say(f"  [{clean(line.level):<5}] {clean(line.message)}")
        for call in ex.calls:
            fn = call.get("fn", "?")
            # id/error are null until there is one (a dry run dispatches nothing): not shown.
            detail = {k: v for k, v in call.items() if k != "fn" and v is not None}
            say(f"  -> {clean(fn)} {json_text(detail)}")
    if error and ex.error and ex.status != "skipped":
        say(f"  error: {clean(ex.error)}")
    if output and ex.result is not None:
        say(f"  returned: {json_text(ex.result)}")


@hook_group.command("show")
@click.argument("name", shell_complete=hook_names)
@click.option("--history", is_flag=True, help="Also list recent executions.")
@click.option(
    "--limit", type=COUNT, default=10, show_default=True, help="Executions with --history."
)
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
        missing = "" if Path(hook.file).exists() else "  (MISSING)"
        say(f"name:        {clean(hook.name)}\nevents:      {clean(', '.join(hook.events))}")
        say(f"file:        {clean(hook.file)}{missing}")
        if hook.stack:
            say(f"stack:       {clean(hook.stack)}")
        say(f"description: {clean(value_text(hook.description, spaces_ok=True))}")
        say(f"enabled:     {json_text(hook.enabled)}")
        if hook.disabled_reason:
            say(f"disabled:    {clean(hook.disabled_reason)} (hook enable clears it)")
        if not hook.policy.is_default:
            _say_policy(hook)
        say(f"timeout:     {hook.timeout:g}s")
        if hook.max_instructions or hook.max_memory_mb:
            say(
                f"limits:      {hook.max_instructions or 'default'} instructions, "
                f"{hook.max_memory_mb or 'default'} MiB"
            )
        say(f"runs:        {hook.run_count}")
        say(f"last run:    {fmt_ts(hook.last_run)}")
        if stats:
            say(
                f"failures:    {stats.failures}\navg/p95:     "
                f"{stats.avg_ms:.1f} / {stats.p95_ms:.1f} ms"
            )
        for ex in runs:
            on = f"event {ex.event_id:<8}" if ex.event_id else f"{'dry run':<14}"
            # Runs from their event say nothing more; the others say why they ran.
            why = f"({_why(ex)}) " if ex.trigger != "event" or ex.attempt > 1 else ""
            say(
                f"  {fmt_ts(ex.started)}  {on} {clean(ex.status):<8} "
                f"{ex.duration_ms:8.1f} ms  {why}{clean(ex.error or '')}".rstrip()
            )

    run(body)


@hook_group.command("get")
@click.argument("name", shell_complete=hook_names)
@click.option("--json", "as_json", is_flag=True, help="JSON (the only output; accepted).")
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["json"]),
    default="json",
    help="json (the only output; accepted as Sloth Runner's docs write it).",
)
@click.pass_context
def hook_get(ctx: click.Context, name: str, as_json: bool, fmt: str) -> None:
    """Print the hook's metadata as JSON, as Sloth Runner does (`| jq -r .enabled`).

    Keys are upstream's (id, name, description, event_type, file_path, stack, enabled,
    created_at, updated_at, last_run, run_count) plus sloth-tui's (events, timeout,
    limits, policy, disabled_reason). `id` is the hook's name: hooks have no other id
    here. The Lua source is `sloth-tui hook source NAME`.
    """

    async def body() -> Hook:
        async with engine_for(ctx, readonly=True) as engine:
            return await engine.get_hook(name)

    hook = run(body)
    emit_json(
        hook_json(hook) | {"policy": hook.policy.to_dict(), "disabled_reason": hook.disabled_reason}
    )


@hook_group.command("source")
@click.argument("name", shell_complete=hook_names)
@click.option("--json", "as_json", is_flag=True, help="Print {name, file, code} as JSON.")
@click.pass_context
def hook_source(ctx: click.Context, name: str, as_json: bool) -> None:
    """Print the hook's Lua source (what `hook get` printed before it took upstream's
    meaning)."""

    async def body() -> None:
        async with engine_for(ctx, readonly=True) as engine:
            hook = await engine.get_hook(name)
        try:
            code = Path(hook.file).read_text(encoding="utf-8")
        except OSError as exc:
            raise click.ClickException(f"cannot read {hook.file}: {exc.strerror}") from None
        if as_json:
            emit_json({"name": hook.name, "file": hook.file, "code": code})
        elif sys.stdout.isatty():  # on a screen: escapes; into a file or pipe: exact
            click.echo(clean_block(code, tabs=True), nl=not code.endswith("\n"))
        else:
            click.echo(code, nl=not code.endswith("\n"))

    run(body)


@hook_group.command("delete")
@click.argument("name", shell_complete=hook_names)
@click.option(
    "-f", "--force", is_flag=True, help="Do not ask for confirmation. (-f: Sloth Runner's.)"
)
@click.pass_context
def hook_delete(ctx: click.Context, name: str, force: bool) -> None:
    """Delete a hook (its Lua file is kept) and its stored state."""
    if not force:

        async def exists() -> None:
            async with engine_for(ctx, readonly=True) as engine:
                await engine.get_hook(name)  # NotFound: said before asking anything

        run(exists)
        if not sys.stdin.isatty():
            raise click.UsageError("not a terminal: pass --force to delete without asking")
        click.confirm(f"delete hook {clean(name)}?", abort=True)

    async def body() -> None:
        async with engine_for(ctx) as engine:
            await engine.delete_hook(name)
        say(f"deleted hook {clean(name)}")

    run(body)


def _toggle(ctx: click.Context, name: str, enabled: bool) -> None:
    async def body() -> None:
        async with engine_for(ctx) as engine:
            before = await engine.get_hook(name)
            after = await engine.set_hook_enabled(name, enabled)
        say(f"{'enabled' if enabled else 'disabled'} hook {clean(name)}")
        if before.disabled_reason and not after.disabled_reason:
            say(f"cleared why it was off: {clean(before.disabled_reason)}")

    run(body)


@hook_group.command("enable")
@click.argument("name", shell_complete=hook_names)
@click.pass_context
def hook_enable(ctx: click.Context, name: str) -> None:
    """Switch a hook on. A hook the engine switched off (--auto-disable) comes back with
    its count of failures in a row at 0, and the reason it was off is cleared."""
    _toggle(ctx, name, True)


@hook_group.command("disable")
@click.argument("name", shell_complete=hook_names)
@click.pass_context
def hook_disable(ctx: click.Context, name: str) -> None:
    """Switch a hook off (it keeps its history)."""
    _toggle(ctx, name, False)


LOG_PAGE = 500  # executions read per query while looking for a time window


async def _runs_between(
    engine: EngineAPI,
    name: str,
    only_failed: bool,
    limit: int,
    since: float | None,
    until: float | None,
) -> list[Execution]:
    """The newest `limit` runs started in [since, until), read newest first page by page.

    Runs are stored as they finish, so start times are only roughly in id order: the read
    stops at the first whole page that started before `since` (a run that started earlier
    but finished later than the runs after it, by less than a page, is still found).
    """
    if since is None and until is None:
        return list(await engine.executions(hook=name, only_failed=only_failed, limit=limit))
    found: list[Execution] = []
    before: int | None = None
    while len(found) < limit:
        page = await engine.executions(
            hook=name, only_failed=only_failed, before_id=before, limit=LOG_PAGE
        )
        found += [
            ex
            for ex in page
            if (since is None or ex.started >= since) and (until is None or ex.started < until)
        ]
        ids = [ex.id for ex in page if ex.id is not None]
        if len(page) < LOG_PAGE or not ids or (since and all(ex.started < since for ex in page)):
            break
        before = min(ids)
    return found[:limit]


@hook_group.command("logs")
@click.argument("name", shell_complete=hook_names)
@click.option(
    "-n",
    "--limit",
    type=COUNT,
    default=20,
    show_default=True,
    help="How many executions. (-n: Sloth Runner's.)",
)
@click.option("--only-failed", is_flag=True, help="Only runs that did not succeed.")
@click.option(
    "--since",
    type=TIME,
    default=None,
    help="Runs started at or after TIME (10m, 2h, "
    "7d, or 2026-11-30T12:00, local time unless Z/+01:00).",
)
@click.option("--until", type=TIME, default=None, help="Runs started before TIME.")
@click.option(
    "-o",
    "--output",
    "show_output",
    is_flag=True,
    help="Show the runs' output: logs, host calls, returned value (Sloth Runner's spelling).",
)
@click.option(
    "-e",
    "--error",
    "show_error",
    is_flag=True,
    help="Show the runs' errors (Sloth Runner's spelling). Neither -o nor -e: both.",
)
@click.option("--json", "as_json", is_flag=True, help="Print an array of executions.")
@click.option(
    "-f",
    "--format",
    "fmt",
    type=_FORMAT,
    default="table",
    help="json: Sloth Runner's object {hook, total_shown, success_count, "
    "failed_count, executions} (its spelling; --json is sloth-tui's array).",
)
@click.pass_context
def hook_logs(
    ctx: click.Context,
    name: str,
    limit: int,
    only_failed: bool,
    since: float | None,
    until: float | None,
    show_output: bool,
    show_error: bool,
    as_json: bool,
    fmt: str,
) -> None:
    """Recent executions of a hook with their logs and host calls, newest first.

    \b
        sloth-tui hook logs deploy-alert --since 1h --only-failed
        sloth-tui hook logs deploy-alert -n 50 -e        # Sloth Runner's spelling
        sloth-tui hook logs deploy-alert -f json | jq '.executions[].error'
    """
    both = not (show_output or show_error)

    async def body() -> None:
        async with engine_for(ctx, readonly=True) as engine:
            try:
                hook = await engine.get_hook(name)
            except NotFound:
                # A Sloth Runner hook the bridge mirrored runs of: its runs are here,
                # the hook itself is upstream's.
                hook = None
            runs = await _runs_between(engine, name, only_failed, limit, since, until)
            if hook is None:
                if not runs:
                    raise NotFound(f"no hook named {name!r}")
                hook = Hook(name, sorted({ex.event_type for ex in runs if ex.event_type}), "")
        if as_json:
            emit_json([e.to_dict() for e in runs])
            return
        if fmt == "json":
            emit_json(hook_logs_json(hook, runs))
            return
        if not runs:
            say("(no executions)")
        for ex in runs:
            say(f"--- {fmt_ts(ex.started)}")
            _print_execution(ex, output=both or show_output, error=both or show_error)

    run(body)


@hook_group.command("test")
@click.argument("name", shell_complete=hook_names)
@click.option(
    "--event",
    "--event-type",
    "event_type",
    metavar="TYPE",
    shell_complete=event_types,
    help="Event type to test with (default: the hook's first pattern). "
    "(--event-type: Sloth Runner's docs spelling.)",
)
@click.option(
    "-d",
    "--data",
    metavar="JSON",
    help="Fields overriding the catalog's sample values. (-d: Sloth Runner's.)",
)
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
@click.argument("name", shell_complete=hook_names)
@click.option(
    "--since", metavar="DURATION", help="Only runs that failed within this time (30m, 24h, 7d)."
)
@click.option("--limit", type=COUNT, default=100, show_default=True, help="Events retried at most.")
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
    from sloth_tui.engine.retry import RetryReport, failed_runs, retry_runs

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
        say(f"no failed runs of {clean(name)} to retry")
    else:
        for old, new in report.retried:
            say(
                f"  event {old.event_id} {clean(new.event_type)}: "
                f"{clean(old.status)} -> {clean(new.status)}"
                + (f" - {clean(new.error)}" if new.error else "")
            )
        for event_id in report.gone:
            say(f"  event {event_id}: gone from the store, not retried")
        done, still = len(report.retried), report.still_failing
        say(
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
        say("(no failed runs)")
        return
    table(
        [
            [str(ex.event_id), ex.event_type or "?", fmt_ts(ex.started), ex.status, ex.error or ""]
            for ex in failed
        ],
        ["event", "type", "failed at", "status", "error"],
    )
