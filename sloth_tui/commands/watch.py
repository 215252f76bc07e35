"""`sloth-tui watch add/list/remove`: the named file watchers kept in config.toml."""

from __future__ import annotations

import asyncio
from pathlib import Path

import click

from sloth_tui.commands.common import emit_json, fail, settings_from, table
from sloth_tui.commands.output import clean, say, warn
from sloth_tui.config import WatcherSettings
from sloth_tui.model.errors import SlothError
from sloth_tui.sources.watchconf import add_watcher, check_watcher_name, remove_watcher


@click.group("watch")
def watch_group() -> None:
    """Named file watchers: their events are file.* and dir.* (source watcher:NAME)."""


def _tell_daemon(ctx: click.Context) -> None:
    """A running daemon re-reads its watchers now; otherwise they start with `serve`."""
    from sloth_tui.remote.protocol import probe
    from sloth_tui.remote.wire import Address, WireConnection

    settings = settings_from(ctx)
    if probe(settings.socket_path) is None:
        say("takes effect when `sloth-tui serve` starts")
        return

    async def reload() -> dict[str, object]:
        conn = await WireConnection.open(Address(path=settings.socket_path))
        try:
            return await conn.request({"op": "reload_watchers"})
        finally:
            conn.close()

    try:
        reply = asyncio.run(reload())
    except (OSError, ValueError, SlothError) as exc:
        warn(f"could not reach the daemon to reload: {exc}")
        return
    if not reply.get("ok"):
        warn(f"the daemon could not reload: {reply.get('error')}")
        return
    say("the running daemon reloaded its watchers")
    errors = reply.get("errors")
    for error in errors if isinstance(errors, list) else []:
        warn(str(error))


@watch_group.command("add")
@click.argument("name")
@click.argument("path", type=click.Path())
@click.option(
    "--recursive/--no-recursive", default=True, show_default=True, help="Also watch subdirectories."
)
@click.option(
    "--pattern",
    "patterns",
    multiple=True,
    metavar="GLOB",
    help="Only names matching (repeatable; default '*').",
)
@click.option(
    "--ignore",
    "ignore",
    multiple=True,
    metavar="GLOB",
    help="Skip names or path parts matching, e.g. '*.swp', '.git' (repeatable).",
)
@click.pass_context
def watch_add(
    ctx: click.Context,
    name: str,
    path: str,
    recursive: bool,
    patterns: tuple[str, ...],
    ignore: tuple[str, ...],
) -> None:
    """Watch PATH (a directory or a file) as NAME."""
    settings = settings_from(ctx)
    target = Path(path).expanduser()
    try:
        target.stat()
        resolved = target.resolve()
    except OSError as exc:  # missing, too long, not permitted, a loop of links
        fail(f"cannot watch {clean(str(target))}: {(exc.strerror or str(exc)).lower()}")
    watcher = WatcherSettings(
        name=name,
        path=str(resolved),
        recursive=recursive,
        patterns=patterns or ("*",),
        ignore=ignore,
    )
    try:
        check_watcher_name(name)
        add_watcher(settings.config_file, watcher)
    except SlothError as exc:
        fail(str(exc))
    say(f"added watcher {clean(name)} -> {clean(watcher.path)} (in {clean(settings.config_file)})")
    _tell_daemon(ctx)


@watch_group.command("remove")
@click.argument("name")
@click.pass_context
def watch_remove(ctx: click.Context, name: str) -> None:
    """Stop watching NAME (removes its [[watchers]] block from config.toml)."""
    settings = settings_from(ctx)
    try:
        remove_watcher(settings.config_file, name)
    except SlothError as exc:
        fail(str(exc))
    say(f"removed watcher {clean(name)}")
    _tell_daemon(ctx)


@watch_group.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print an array of watchers.")
@click.pass_context
def watch_list(ctx: click.Context, as_json: bool) -> None:
    """The configured watchers, and whether each path exists."""
    watchers = settings_from(ctx).watchers
    if as_json:
        emit_json(
            [
                {
                    "name": w.name,
                    "path": w.path,
                    "recursive": w.recursive,
                    "patterns": list(w.patterns),
                    "ignore": list(w.ignore),
                    "exists": Path(w.path).expanduser().exists(),
                }
                for w in watchers
            ]
        )
        return
    table(
        [
            [
                w.name,
                w.path + ("" if Path(w.path).expanduser().exists() else "  (MISSING)"),
                "yes" if w.recursive else "no",
                ",".join(w.patterns),
                ",".join(w.ignore) or "-",
            ]
            for w in watchers
        ],
        ["name", "path", "recursive", "patterns", "ignore"],
    )
