"""`sloth-tui hook import --from-sloth-runner [--db PATH]`: take over Sloth Runner's hooks.
(`hook import DIR`, hooks as code, is commands/hooks_code_import.py; the command below
chooses between the two.)

Each hook registered in upstream's hooks.db (read-only, sources/upstream_db.py) is
checked the way it would run here, one step after another until one fails: its name
and event type, its Lua file, a compile, and a dry run on a sample event of its type.
The table says which will run and why the others will not; then (unless --dry-run) the
ones that will run are registered.

The Lua file is copied, not referenced. Upstream keeps its hooks at its own paths and
edits or deletes them as it pleases; a hook here that pointed at such a path would
silently start running code nobody compiled or dry-ran here, or fail on every event
once upstream deleted it. So what was checked is what runs: the exact bytes read for
the checks are written to `<hooks dir>/sloth-runner/NAME.lua` (mode 0600), and the
upstream file is never written. An existing file there is never overwritten: the same
bytes are reused, other bytes get `NAME-2.lua` and so on (a hook deleted here keeps its
file, and another hook may point at it). Re-import with --replace to take a newer
upstream version.

Shaped for issue 18's `hook import DIR` (hooks as code): the source is chosen by an
option today, and the command without one says what to pass.
"""

from __future__ import annotations

import re
import stat
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from sloth_tui import catalog
from sloth_tui.commands import hooks_code_import as dir_import
from sloth_tui.commands.common import emit_json, engine_for, fail, run, table
from sloth_tui.commands.hooks_code import copy_into
from sloth_tui.commands.output import clean, error_line, json_text, say
from sloth_tui.engine.api import EngineAPI
from sloth_tui.model.errors import HookError, SlothError
from sloth_tui.model.records import Execution, Hook
from sloth_tui.model.rules import check_hook_name, check_pattern

if TYPE_CHECKING:
    from sloth_tui.sources.upstream_db import UpstreamHook

IMPORT_DIR = "sloth-runner"  # under the hooks dir: where imported hooks' copies go
# The runtime refuses hook files past this size (lua/limits.MAX_FILE_BYTES, which a
# command may not import); reading is bounded by it too, so a huge file costs nothing.
MAX_HOOK_BYTES = 4 * 1024 * 1024
WHY_MAX = 160  # outside text quoted in a WHY cell is clipped to keep it one short line

WILL_RUN = "will run"
WILL_NOT_RUN = "will not run"

# Upstream nests its task events' fields under data.task (internal/hooks/dispatcher.go);
# the catalog's samples are flat. The dry run gets both, so a hook written either way
# (`event.data.task.task_name` or `event.data.task_name`) meets the shape it expects.
_NESTED_UNDER = {"task": "task"}

EXISTS_HERE = "exists here: skipped (--replace replaces it)"
_GLOBAL_RE = re.compile(r"\(global '([^']*)'\)")


@dataclass(frozen=True, slots=True)
class ImportRow:
    """One upstream hook and what became of it: a table row, and a --json object."""

    name: str
    event_type: str
    stack: str | None
    enabled: bool
    description: str
    file_path: str  # upstream's, never written
    verdict: str  # WILL_RUN or WILL_NOT_RUN
    why: str  # one line
    # imported, replaced, exists here, would import, would replace, not imported
    action: str
    file: str | None = None  # the copy here, once imported
    dry_run_status: str | None = None  # the sample run's status, when it got that far

    def cells(self) -> list[str]:
        return [
            self.name,
            self.event_type,
            self.stack or "-",
            json_text(self.enabled),
            self.verdict,
            self.why,
        ]


@dataclass(frozen=True, slots=True)
class Checked:
    """The checks' outcome for one hook: a reason it will not run, or its code."""

    hook: UpstreamHook
    problem: str | None = None
    code: bytes = b""
    note: str | None = None  # something worth saying about a hook that will run
    dry_run_status: str | None = None


def _clip(text: str, limit: int = WHY_MAX) -> str:
    """Outside text for a WHY: one line (controls as visible escapes, in --json too,
    since WHY is a sentence of ours), and short."""
    text = clean(text)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _strip_chunk(message: str, chunk: str) -> str:
    """Lua's `x.lua:3: msg` without the chunk and line (the row says the line)."""
    head, sep, rest = message.partition(":")
    if sep and head == chunk:
        digits, sep2, tail = rest.partition(":")
        if sep2 and digits.isdigit():
            return tail.strip()
    return message.strip()


def _read_code(path_text: str) -> tuple[bytes | None, str | None]:
    """The hook file's bytes, or why they cannot be had (one line)."""
    if not path_text:
        return None, "missing file: upstream names no file"
    path = Path(path_text)
    shown = _clip(path_text)
    if not path.is_absolute():  # upstream stores absolute paths: relative to what, then?
        return None, f"file path is not absolute: {shown}"
    try:
        st = path.stat()
    except FileNotFoundError:
        return None, f"missing file: {shown}"
    except OSError as exc:
        return None, f"cannot read {shown}: {exc.strerror or exc}"
    except ValueError:  # a NUL in the path: no file can have that name
        return None, f"missing file: {shown} (not a valid path)"
    if not stat.S_ISREG(st.st_mode):  # a FIFO would block the read, /dev/zero never end
        return None, f"not a regular file: {shown}"
    if st.st_size > MAX_HOOK_BYTES:
        return None, f"file larger than {MAX_HOOK_BYTES // (1024 * 1024)} MiB: {shown}"
    try:
        with path.open("rb") as fh:
            data = fh.read(MAX_HOOK_BYTES + 1)
    except OSError as exc:
        return None, f"cannot read {shown}: {exc.strerror or exc}"
    if len(data) > MAX_HOOK_BYTES:
        return None, f"file larger than {MAX_HOOK_BYTES // (1024 * 1024)} MiB: {shown}"
    return data, None


def _type_problem(event_type: str) -> str | None:
    """None for a type the catalog knows (seed, Sloth Runner extension, or `custom`)."""
    try:
        check_pattern(event_type)
    except HookError:
        return f"invalid event type '{_clip(event_type, 60)}'"
    if catalog.get(event_type) is not None or event_type == "custom":
        return None
    # Upstream refuses types outside its own list, so an unknown one is a typo or a
    # newer upstream's type: no producer here sends it, and the hook would never run.
    close = catalog.closest_types(event_type)
    hint = f" (did you mean {' or '.join(close)}?)" if close else ""
    return f"unknown event type '{_clip(event_type, 60)}': not in the catalog{hint}"


def _sample_overrides(event_type: str) -> dict[str, Any]:
    """Data for test_hook on top of the catalog's sample: upstream's nesting, if any."""
    key = _NESTED_UNDER.get(event_type.partition(".")[0])
    return {key: catalog.sample_data(event_type)} if key else {}


def _dry_run_problem(ex: Execution, chunk: str) -> tuple[str | None, str | None]:
    """(why it will not run, note for one that will) from the sample run."""
    line = f" line {ex.error_line}" if ex.error_line else ""
    if ex.status == "success":
        return None, None
    if ex.status == "failed":  # ran to the end and returned false: it runs, and says so
        return None, "dry run returned false on the sample"
    if ex.status == "timeout":
        return f"dry run timed out{line} ({ex.limit or 'deadline'})", None
    message = _strip_chunk(ex.error or ex.status, chunk)
    missing = _GLOBAL_RE.search(message)
    if missing:
        name = _clip(missing.group(1), 40)
        return (
            f"dry run error{line}: global '{name}' does not exist here "
            "(an upstream module sloth-tui lacks?)",
            None,
        )
    if ex.limit:
        return f"dry run stopped{line} by the {ex.limit} limit: {_clip(message)}", None
    return f"dry run error{line}: {_clip(message)}", None


async def check_hook(engine: EngineAPI, up: UpstreamHook, timeout: float) -> Checked:
    """Name, type, file, compile, dry run: the first that fails is the reason."""
    try:
        check_hook_name(up.name)
    except HookError:
        return Checked(
            up,
            "name not allowed here (letters, digits, '-', '_' or '.', at most 64 "
            "characters): add it by hand under another name",
        )
    if problem := _type_problem(up.event_type):
        return Checked(up, problem)
    data, problem = _read_code(up.file_path)
    if data is None:
        return Checked(up, problem)
    # Decoded as the runtime decodes hook files; the bytes are what gets copied.
    code = data.decode("utf-8", errors="replace")
    chunk = Path(up.file_path).name or "hook"
    syntax = await engine.check_syntax(code, chunk)
    if syntax is not None:
        lineno, message = syntax
        where = f" line {lineno}" if lineno else ""
        return Checked(up, f"compile error{where}: {_clip(_strip_chunk(message, chunk))}")
    probe = Hook(
        name=up.name,
        events=[up.event_type],
        file=up.file_path,  # only names the chunk: `code` runs, the file is not read
        description=up.description,
        enabled=up.enabled,
        timeout=timeout,
        stack=up.stack,
    )
    ex = await engine.test_hook(probe, up.event_type, _sample_overrides(up.event_type), code=code)
    problem, note = _dry_run_problem(ex, chunk)
    return Checked(up, problem, data, note, ex.status)


def _row(c: Checked, verdict: str, why: str, action: str, file: str | None = None) -> ImportRow:
    up = c.hook
    return ImportRow(
        name=up.name,
        event_type=up.event_type,
        stack=up.stack,
        enabled=up.enabled,
        description=up.description,
        file_path=up.file_path,
        verdict=verdict,
        why=why,
        action=action,
        file=file,
        dry_run_status=c.dry_run_status,
    )


def _with_note(text: str, c: Checked) -> str:
    return f"{text}; {c.note}" if c.note else text


def plan_row(c: Checked, existing: set[str], replace_existing: bool) -> ImportRow:
    """What --dry-run reports (and what a real import starts from)."""
    if c.problem is not None:
        return _row(c, WILL_NOT_RUN, c.problem, "not imported")
    if c.hook.name in existing:
        if replace_existing:
            return _row(c, WILL_RUN, _with_note("would replace the hook here", c), "would replace")
        return _row(c, WILL_RUN, _with_note(EXISTS_HERE, c), "exists here")
    return _row(c, WILL_RUN, _with_note("would be imported", c), "would import")


async def import_row(
    engine: EngineAPI, c: Checked, planned: ImportRow, existing: set[str], hooks_dir: Path
) -> ImportRow:
    """Register one hook that will run: a copy of its code, then add (or replace)."""
    if planned.action not in ("would import", "would replace"):
        return planned
    up = c.hook
    # Names are checked against the registry as it is now, not as it was at the checks.
    if up.name in existing and planned.action == "would import":
        return replace(planned, why=_with_note(EXISTS_HERE, c), action="exists here")
    try:
        path, created = copy_into(hooks_dir, up.name, c.code, IMPORT_DIR)
    except OSError as exc:
        return replace(
            planned,
            verdict=WILL_NOT_RUN,
            why=f"cannot write the copy in {_clip(str(hooks_dir))}: {exc.strerror or exc}",
            action="not imported",
        )
    try:
        if up.name in existing:
            await engine.update_hook(
                up.name,
                events=[up.event_type],
                file=str(path),
                description=up.description,
                enabled=up.enabled,
                stack=up.stack,
            )
            action, why = "replaced", "replaced the hook here"
        else:
            await engine.add_hook(
                up.name,
                [up.event_type],
                path,
                description=up.description,
                enabled=up.enabled,
                stack=up.stack,
            )
            action, why = "imported", "imported"
    except SlothError as exc:
        if created:
            path.unlink(missing_ok=True)
        return replace(
            planned,
            verdict=WILL_NOT_RUN,
            why=f"not imported: {_clip(str(exc))}",
            action="not imported",
        )
    return replace(planned, why=_with_note(why, c), action=action, file=str(path))


def _read_upstream(db: str | None) -> tuple[Path, list[UpstreamHook]]:
    # Imported here: every `hook` command loads this module, and only this path reads
    # Sloth Runner's database (sqlite3 and all).
    from sloth_tui.sources.upstream_db import (
        UpstreamDBError,
        locate_hooks_db,
        open_readonly,
        read_hooks,
    )

    try:
        path = locate_hooks_db(db)
        conn = open_readonly(path)
        try:
            return path, read_hooks(conn)
        except UpstreamDBError as exc:  # read_hooks' messages do not name the file
            raise UpstreamDBError(f"{path}: {exc}") from None
        finally:
            conn.close()
    except UpstreamDBError as exc:
        fail(str(exc))
    raise AssertionError("unreachable")


def _hooks_dir(engine: EngineAPI) -> Path:
    """Where the engine that runs the hooks keeps them (the daemon's, when attached)."""
    reported = engine.info.get("hooks_dir") if engine.remote else None
    return Path(reported) if reported else engine.settings.hooks_dir


def _summary(rows: list[ImportRow], db: Path, dry_run: bool) -> str:
    count: dict[str, int] = {}
    for r in rows:
        count[r.action] = count.get(r.action, 0) + 1
    order = [
        "imported",
        "replaced",
        "would import",
        "would replace",
        "exists here",
    ]
    parts = [f"{count[a]} {a}" for a in order if count.get(a)]
    bad = sum(1 for r in rows if r.verdict == WILL_NOT_RUN)
    if bad:
        parts.append(f"{bad} will not run")
    tail = " (dry run: nothing imported)" if dry_run else ""
    return f"{len(rows)} hooks in {db}: {', '.join(parts) or 'nothing to do'}{tail}"


@click.command("import")
@click.argument(
    "directory", metavar="[DIR]", required=False, type=click.Path(file_okay=False, exists=True)
)
@click.option(
    "--from-sloth-runner",
    "from_sloth_runner",
    is_flag=True,
    help="Import the hooks registered in Sloth Runner's hooks.db (instead of DIR).",
)
@click.option(
    "--db",
    metavar="PATH",
    default=None,
    help="With --from-sloth-runner: Sloth Runner's hooks.db, or the data dir holding it. "
    "Default: found as Sloth Runner finds it: $SLOTH_RUNNER_DATA_DIR, else "
    "/etc/sloth-runner, ~/.sloth-runner, .sloth-cache.",
)
@click.option(
    "--dry-run",
    is_flag=True,
    help="Check everything and print what would change; register nothing, copy nothing.",
)
@click.option(
    "--prune",
    is_flag=True,
    help="With DIR: also delete the registered hooks the folder does not have (their Lua "
    "files are kept). Without it they are listed as `keep`.",
)
@click.option(
    "--replace",
    "replace_existing",
    is_flag=True,
    help="With --from-sloth-runner: replace a hook of the same name here (its history "
    "and state stay). Without it, such a hook is skipped as 'exists here'.",
)
@click.option("--json", "as_json", is_flag=True, help="Print the rows (or the plan) as JSON.")
@click.pass_context
def hook_import(
    ctx: click.Context,
    directory: str | None,
    from_sloth_runner: bool,
    db: str | None,
    dry_run: bool,
    prune: bool,
    replace_existing: bool,
    as_json: bool,
) -> None:
    """Make the registry match DIR (a folder `hook export` wrote), or import Sloth
    Runner's registered hooks after checking that each runs here.

    \b
    hook import DIR [--prune] [--dry-run]

    Reads DIR/hooks.toml and the Lua files it names, and checks all of it first: the
    TOML, every hook's name, events, settings and policy (as `hook add` checks them),
    each Lua file (present, inside DIR, compiles). Any problem: one line each, nothing
    changed, exit 1. Then prints the plan, a line per hook to add, change (naming the
    settings that differ, `code` for the Lua file), remove (with --prune) or keep
    (without), and a count of the unchanged ones, and applies it unless --dry-run
    (exit 0). Running it again prints "nothing to change". Each hook's code is
    copied into `<hooks dir>/imported/`: editing or pulling the folder later changes
    nothing that runs until the next import.

    \b
        sloth-tui hook import hooks/ --dry-run
        sloth-tui hook import hooks/ --prune

    \b
    hook import --from-sloth-runner [--db PATH] [--replace] [--dry-run]

    Every hook in Sloth Runner's hooks.db (read-only: the file and the hooks' Lua files
    are never written) is checked in order: its name, its event type against the catalog
    (Sloth Runner's extension types included), its Lua file, a compile, and a dry run on
    a sample event of its type (http calls, file_ops writes and dispatches are only
    recorded; task events carry their fields both flat and under data.task, as
    Sloth Runner sends them). The dry run sees only the paths the sample takes. A
    table then says, per hook, whether it will run here and why not:

    \b
        NAME  EVENT  STACK  ENABLED  VERDICT  WHY

    Unless --dry-run, the hooks that will run are registered with their description,
    event type, stack and enabled flag. Each one's Lua file is copied into
    `<hooks dir>/sloth-runner/NAME.lua`: what was checked is what runs, and upstream
    later editing or deleting its file changes nothing here (import again with
    --replace to take its new version). A name already used here is skipped unless
    --replace.

    Exits 0 when every hook was imported (or was already here), 1 when any hook will
    not run (or the hooks.db cannot be read).

    \b
        sloth-tui hook import --from-sloth-runner --dry-run
        sloth-tui hook import --from-sloth-runner --db /etc/sloth-runner/hooks.db
    """
    if directory is not None:
        if from_sloth_runner or db is not None or replace_existing:
            raise click.UsageError(
                "DIR and --from-sloth-runner (--db, --replace) are two different imports: give one"
            )
        _import_dir(ctx, Path(directory), prune, dry_run, as_json)
        return
    if prune:
        raise click.UsageError("--prune goes with DIR (a folder `hook export` wrote)")
    if not from_sloth_runner:
        if db is not None:
            raise click.UsageError("--db goes with --from-sloth-runner")
        raise click.UsageError(
            "say where to import from: DIR (a folder `hook export` wrote) or "
            "--from-sloth-runner (Sloth Runner's registered hooks, from its hooks.db; "
            "--db PATH to name the file)"
        )
    db_path, upstream = _read_upstream(db)

    async def body() -> list[ImportRow]:
        # The checks run on a read-only engine when there is no daemon, so they record
        # nothing (as `hook test`); attached, the daemon checks and keeps the dry runs.
        async with engine_for(ctx, readonly=True) as engine:
            timeout = engine.settings.hook_timeout
            existing = {h.name for h in await engine.list_hooks()}
            checked = [await check_hook(engine, up, timeout) for up in upstream]
        rows = [plan_row(c, existing, replace_existing) for c in checked]
        if dry_run or not any(r.action.startswith("would") for r in rows):
            return rows
        async with engine_for(ctx) as engine:
            existing = {h.name for h in await engine.list_hooks()}
            hooks_dir = _hooks_dir(engine)
            return [
                await import_row(engine, c, row, existing, hooks_dir)
                for c, row in zip(checked, rows, strict=True)
            ]

    rows = run(body)
    if as_json:
        emit_json([asdict(r) for r in rows])
    else:
        table([r.cells() for r in rows], ["name", "event", "stack", "enabled", "verdict", "why"])
        say(clean(_summary(rows, db_path, dry_run)))
    ctx.exit(1 if any(r.verdict == WILL_NOT_RUN for r in rows) else 0)


def _import_dir(
    ctx: click.Context, directory: Path, prune: bool, dry_run: bool, as_json: bool
) -> None:
    """`hook import DIR`: check, plan, apply (commands/hooks_code_import.py)."""

    async def body() -> tuple[list[str], dir_import.Plan, list[str]]:
        # Read-only for a dry run: then nothing here can write, not even by mistake.
        async with engine_for(ctx, readonly=dry_run) as engine:
            specs, problems = await dir_import.check(engine, directory)
            if problems:
                return problems, dir_import.Plan(), []
            hooks = await engine.list_hooks()
            todo = dir_import.plan(specs, hooks, prune, engine.settings.hook_timeout)
            if dry_run or not todo.changes:
                return [], todo, []
            done: list[str] = []
            try:
                await dir_import.apply(engine, todo.steps, _hooks_dir(engine), done)
            except (SlothError, OSError) as exc:
                why = exc.strerror if isinstance(exc, OSError) and exc.strerror else exc
                return (
                    [f"import stopped: {why} (done before it: {', '.join(done) or 'nothing'})"],
                    todo,
                    done,
                )
            return [], todo, done

    problems, todo, _done = run(body)
    if problems and not todo.steps:
        for problem in problems[:-1]:
            error_line(problem)
        fail(f"{problems[-1]} (nothing changed)")
    if as_json:
        emit_json(
            {
                "plan": [
                    {"action": s.action, "name": s.name, "fields": list(s.fields)}
                    for s in todo.steps
                ],
                "applied": not dry_run and not problems and bool(todo.changes),
            }
        )
    else:
        for step in todo.steps:
            if step.action != "unchanged":
                say(clean(step.line()))
        # Stopped part way: the plan's tense, the error line says what was done.
        say(clean(_dir_summary(todo, directory, dry_run or bool(problems))))
    if problems:
        fail(problems[-1])


def _dir_summary(todo: dir_import.Plan, directory: Path, dry_run: bool) -> str:
    counts = [
        f"{todo.count(a)} {word}"
        for a, word in (
            ("add", "to add" if dry_run else "added"),
            ("change", "to change" if dry_run else "changed"),
            ("remove", "to remove" if dry_run else "removed"),
            ("unchanged", "unchanged"),
            ("keep", "kept (not in the folder)"),
        )
        if todo.count(a)
    ]
    head = f"{directory}: {', '.join(counts) or 'no hooks'}"
    if not todo.changes:
        return f"{head}: nothing to change"
    return f"{head} (dry run: nothing changed)" if dry_run else head
