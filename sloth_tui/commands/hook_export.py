"""`sloth-tui hook export DIR`: every hook as files a team can keep in git.

The folder's format is commands/hooks_code.py's: one hooks.toml with each hook's
settings and policies, one NAME.lua per hook with its code as it is now. Every hook's
code is read before anything is written, so an export either writes the whole registry
or (a file that cannot be read) writes nothing. Each file is written through a
temporary file and a rename; a file that already holds the same bytes is not touched.
"""

from __future__ import annotations

from pathlib import Path

import click

from sloth_tui.commands.common import engine_for, fail, run
from sloth_tui.commands.hooks_code import (
    HOOKS_FILE,
    MAX_CODE_BYTES,
    file_names,
    listed_files,
    read_bounded,
    render,
    write_atomic,
)
from sloth_tui.commands.output import error_line, say
from sloth_tui.model.records import Hook
from sloth_tui.user_path import user_path


@click.command("export")
@click.argument("directory", metavar="DIR", type=click.Path(file_okay=False))
@click.pass_context
def hook_export(ctx: click.Context, directory: str) -> None:
    """Write every hook to DIR: one NAME.lua per hook (its code as it is now) and one
    hooks.toml with each hook's events, description, enabled flag, timeout, limits,
    stack and policies.

    DIR is created if missing. Files in it that are not the export's are left alone;
    a NAME.lua the export writes replaces the file of that name, and a .lua file an
    earlier export's hooks.toml named, whose hook is gone, is removed. The output is
    the same for the same hooks (sorted, no ids, no run counts, no paths of this
    machine), so it diffs cleanly in git. `hook import DIR` reads it back.

    \b
        sloth-tui hook export hooks/ && git -C hooks diff
    """
    target = user_path(directory)

    async def body() -> list[Hook]:
        async with engine_for(ctx, readonly=True) as engine:
            return await engine.list_hooks()

    hooks = run(body)
    files = file_names(h.name for h in hooks)
    codes: dict[str, bytes] = {}
    problems = []
    for hook in sorted(hooks, key=lambda h: h.name):
        data, why = read_bounded(Path(hook.file), MAX_CODE_BYTES)
        if data is None:
            problems.append(f"hook {hook.name}: cannot export its code: {hook.file}: {why}")
        else:
            codes[hook.name] = data
    if problems:  # nothing written: an export is the whole registry or nothing
        for problem in problems[:-1]:
            error_line(problem)
        fail(f"{problems[-1]} (nothing written)")
    toml_path = target / HOOKS_FILE
    try:
        target.mkdir(parents=True, exist_ok=True)
        before = listed_files(toml_path)
        written = 0
        for hook in hooks:
            written += write_atomic(target / files[hook.name], codes[hook.name])
        written += write_atomic(toml_path, render(hooks, files).encode("utf-8"))
        removed = 0
        for stale in sorted(before - set(files.values())):
            path = target / stale
            if path.is_file() and not path.is_symlink():
                path.unlink()
                removed += 1
    except OSError as exc:
        fail(f"cannot write {exc.filename or target}: {exc.strerror or exc}")
    except UnicodeEncodeError:  # a lone surrogate in a description cannot be UTF-8
        fail("a hook's settings hold text that is not valid UTF-8 (a lone surrogate)")
    say(
        f"exported {len(hooks)} hooks to {target}: {written} files written, "
        f"{len(hooks) + 1 - written} unchanged" + (f", {removed} removed" if removed else "")
    )
