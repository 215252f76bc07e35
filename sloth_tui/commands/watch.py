"""`sloth-tui watch add/list/remove`: the named watchers kept in config.toml.

`add` makes file watchers; the other kinds (process, port, log, command, service) are
written in config.toml by hand. `list` shows them all (those read-only), and `remove`
takes any of them out of the file. A running daemon reloads its watchers after each
change (the other kinds restart only when theirs changed).
"""

from __future__ import annotations

import asyncio
import shlex
from dataclasses import asdict
from typing import Any

import click

from sloth_tui.commands.common import emit_json, fail, settings_from, table
from sloth_tui.commands.output import clean, say, warn
from sloth_tui.config import WatcherSettings
from sloth_tui.model.errors import SlothError
from sloth_tui.sources.watch_config import (
    CommandWatch,
    LogWatch,
    PortWatch,
    ProcessWatch,
    WatchSpec,
    parse_watch_kinds,
)
from sloth_tui.sources.watchconf import add_watcher, check_watcher_name, remove_watcher
from sloth_tui.user_path import resolved, user_path


@click.group("watch")
def watch_group() -> None:
    """Named watchers (source watcher:NAME): file watchers (file.*, dir.*) made with
    `watch add`, and the process, port, log, command and service kinds written in
    config.toml's [[watchers]] (process.*, port.*, log.pattern_matched, ...)."""


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
    target = user_path(path)
    try:
        target.stat()
        resolved_target = resolved(target)
    except OSError as exc:  # missing, too long, not permitted, a loop of links
        fail(f"cannot watch {clean(str(target))}: {(exc.strerror or str(exc)).lower()}")
    watcher = WatcherSettings(
        name=name,
        path=str(resolved_target),
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
    """Stop watching NAME, of any kind (removes its [[watchers]] block from config.toml).
    A running daemon reloads its watchers; otherwise it takes effect when serve starts."""
    settings = settings_from(ctx)
    # The kind as written (not parsed: the entry removed may be the one that is wrong).
    kinds = [str(e.get("kind")) for _, e in settings.watch_kinds if e.get("name") == name]
    kind = kinds[0] if kinds else "file"
    try:
        remove_watcher(settings.config_file, name)
    except SlothError as exc:
        fail(str(exc))
    say(f"removed {clean(kind)} watcher {clean(name)} from {clean(settings.config_file)}")
    _tell_daemon(ctx)


def _watches(spec: WatchSpec) -> str:
    """What a polled watcher follows, in one short line."""
    if isinstance(spec, ProcessWatch):
        return f"process {spec.process}" if spec.process else f"command line /{spec.pattern}/"
    if isinstance(spec, PortWatch):
        return f"port {spec.port}"
    if isinstance(spec, LogWatch):
        what = f"preset {spec.preset}" if spec.preset else f"/{spec.pattern}/"
        return f"{spec.path} {what}"
    if isinstance(spec, CommandWatch):
        return shlex.join(spec.command)
    return f"unit {spec.unit}"


def _kind_of(spec: WatchSpec) -> str:
    return type(spec).__name__.removesuffix("Watch").lower()


@watch_group.command("list")
@click.option(
    "--json",
    "as_json",
    is_flag=True,
    help='Print an array of watchers, each with its "kind" ("file", "process", ...).',
)
@click.pass_context
def watch_list(ctx: click.Context, as_json: bool) -> None:
    """The configured watchers: file watchers (and whether each path exists), then the
    other kinds, which are edited in config.toml (`watch remove NAME` removes any)."""
    settings = settings_from(ctx)
    watchers = settings.watchers
    try:
        others = parse_watch_kinds(settings)
    except SlothError as exc:
        fail(str(exc))
    if as_json:
        files: list[dict[str, Any]] = [
            {
                "name": w.name,
                "kind": "file",
                "path": w.path,
                "recursive": w.recursive,
                "patterns": list(w.patterns),
                "ignore": list(w.ignore),
                "exists": user_path(w.path).exists(),
            }
            for w in watchers
        ]
        polled: list[dict[str, Any]] = [
            {
                **{k: list(v) if isinstance(v, tuple) else v for k, v in asdict(spec).items()},
                "kind": _kind_of(spec),
                "watches": _watches(spec),
                "edited_in": str(settings.config_file),
            }
            for spec in others
        ]
        emit_json(files + polled)
        return
    if not watchers and not others:
        click.echo("(none)")
        return
    if watchers:
        table(
            [
                [
                    w.name,
                    w.path + ("" if user_path(w.path).exists() else "  (MISSING)"),
                    "yes" if w.recursive else "no",
                    ",".join(w.patterns),
                    ",".join(w.ignore) or "-",
                ]
                for w in watchers
            ],
            ["name", "path", "recursive", "patterns", "ignore"],
        )
    if others:
        if watchers:
            click.echo()
        table(
            [[spec.name, _kind_of(spec), _watches(spec), f"{spec.interval:g}s"] for spec in others],
            ["name", "kind", "watches", "every"],
        )
        say(
            f"these kinds are edited in {clean(settings.config_file)}; "
            "`sloth-tui watch remove NAME` removes one"
        )
