"""The `sloth-tui` command line. With no subcommand it opens the dashboard."""

from __future__ import annotations

from typing import Any

import click

from sloth_tui import __version__
from sloth_tui.commands.cli_log import install as install_log_lines
from sloth_tui.commands.group import OneLineErrorGroup
from sloth_tui.commands.lazy_group import LazyGroup as LazySubcommands
from sloth_tui.commands.lazy_group import Loader
from sloth_tui.commands.lazy_group import from_module as _from
from sloth_tui.commands.output import suit_the_terminal

# -- the subcommands, imported when named -------------------------------------------------
#
# A command that talks to a running daemon should cost little more than the socket round
# trip (bench: cli_ratio). Importing every command module up front cost ~300 ms: the
# local engine, the watchers' and checks' config parsers, the vault's cryptography, for
# a command that needs none of them. So each subcommand is imported only when it is the
# one being run (or when `--help` lists them all).


def _hook() -> click.Command:
    from sloth_tui.commands.hook import hook_group

    hook_group.lazy.update(
        explain=_from("hook_explain", "hook_explain"),
        replay=_from("hook_replay", "hook_replay"),
        export=_from("hook_export", "hook_export"),
        # `hook import --from-sloth-runner` (its TOML reader is for that command alone)
        **{"import": _from("hook_import", "hook_import")},
    )
    return hook_group


def _event() -> click.Command:
    from sloth_tui.commands.event import event_group

    # Each loaded when named, too: `event list` need not import the tail's or the
    # exporter's modules.
    event_group.lazy.update(
        tail=_from("tail", "event_tail"),
        trace=_from("event_trace", "event_trace"),
        export=_from("event_io", "event_export"),
        **{"import": _from("event_io", "event_import")},
    )
    return event_group


LAZY_COMMANDS: dict[str, Loader] = {
    "hook": _hook,
    "event": _event,
    "events": _from("events_upstream", "events_group"),  # Sloth Runner's spelling
    "emit": _from("event", "event_dispatch"),  # `event dispatch`, Sloth Runner's name
    "bench": _from("bench", "bench_command"),
    "serve": _from("serve", "serve_command"),
    "doctor": _from("doctor", "doctor_command"),
    "watch": _from("watch", "watch_group"),
    "backup": _from("backup", "backup_command"),
    "restore": _from("backup", "restore_command"),
    "schedule": _from("schedule", "schedule_group"),
    "bridge": _from("bridge", "bridge_group"),
    "secret": _from("secret", "secret_group"),
    "check": _from("check", "check_group"),
    "config": _from("config_show", "config_group"),
    "web": _from("web", "web_command"),
    "fleet": _from("fleet", "fleet_group"),
}


class LazyGroup(LazySubcommands, OneLineErrorGroup):
    """The top-level group: LAZY_COMMANDS are loaded the first time they are asked for."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, lazy=LAZY_COMMANDS, **kwargs)


_ATTACH_HELP = (
    "Attach to the daemon on this Unix socket, or on tcp://127.0.0.1:PORT with "
    "--token-file (error if none answers). The dashboard only: nats://HOST:4222 shows a "
    "whole fleet (an observer engine on a cache home; its [nats] credentials are yours)."
)
_TOKEN_HELP = (
    "With --attach tcp://...: the file holding the daemon's token. Env: SLOTH_TUI_TOKEN_FILE."
)
_EMBEDDED_HELP = "Never attach: run the engine in this process."


@click.group(
    cls=LazyGroup,
    invoke_without_command=True,
    context_settings={"help_option_names": ["-h", "--help"]},
)
@click.option(
    "--home",
    type=click.Path(file_okay=False),
    envvar="SLOTH_TUI_HOME",
    help="Data dir (events DB, hooks/, config.toml). Env: SLOTH_TUI_HOME. "
    "Default: the platform's user data dir.",
)
@click.option(
    "--strict",
    is_flag=True,
    default=None,
    help="Refuse events whose data does not match the catalog (default: keep them, with warnings).",
)
@click.option(
    "--attach",
    metavar="SOCKET",
    default=None,
    help=_ATTACH_HELP + " By default "
    "commands attach when a daemon answers on the data dir's socket.",
)
@click.option(
    "--token-file",
    metavar="FILE",
    default=None,
    envvar="SLOTH_TUI_TOKEN_FILE",
    help=_TOKEN_HELP,
)
@click.option("--embedded", is_flag=True, default=False, help=_EMBEDDED_HELP)
@click.option(
    "--theme",
    metavar="NAME",
    default=None,
    help="Dashboard theme (sloth-dark, sloth-light, sloth-contrast or one of your own).",
)
@click.version_option(__version__, prog_name="sloth-tui")
@click.pass_context
def main(
    ctx: click.Context,
    home: str | None,
    strict: bool | None,
    attach: str | None,
    token_file: str | None,
    embedded: bool,
    theme: str | None,
) -> None:
    """sloth-tui: watch Sloth Runner events and run Lua hooks on them, in your terminal.

    Run with no command to open the dashboard on the local engine.
    """
    install_log_lines()
    suit_the_terminal()
    ctx.ensure_object(dict)
    ctx.obj["home"] = home
    ctx.obj["strict"] = strict or None
    ctx.obj["attach"] = attach
    ctx.obj["token_file"] = token_file
    ctx.obj["embedded"] = embedded
    ctx.obj["theme"] = theme
    if ctx.invoked_subcommand is None:
        ctx.invoke(dashboard_command, theme=theme)


@click.command("dashboard")
@click.option("--theme", default=None, help="Theme name (see themes/ and your config dir).")
@click.option("--attach", metavar="SOCKET", default=None, help=_ATTACH_HELP)
@click.option("--token-file", metavar="FILE", default=None, help=_TOKEN_HELP)
@click.option("--embedded", is_flag=True, default=False, help=_EMBEDDED_HELP)
@click.pass_context
def dashboard_command(
    ctx: click.Context,
    theme: str | None,
    attach: str | None = None,
    token_file: str | None = None,
    embedded: bool = False,
) -> None:
    """Open the dashboard: on the running daemon when one answers, else on an embedded engine."""
    from sloth_tui.commands.common import choose_engine_socket

    obj = ctx.find_root().obj
    obj["attach"] = attach or obj.get("attach")
    obj["token_file"] = token_file or obj.get("token_file")
    obj["embedded"] = embedded or obj.get("embedded", False)
    theme = theme or obj.get("theme")  # `sloth-tui --theme NAME` as well as `dashboard --theme`
    from sloth_tui.commands.fleet_view import is_fleet_url

    if is_fleet_url(obj["attach"]):  # the whole fleet, through an observer (fleet_view.py)
        from sloth_tui.commands.fleet_view import run_fleet_view

        run_fleet_view(ctx, obj["attach"], theme)
        return
    # The socket of the daemon to attach to, or None for the embedded engine.
    obj["engine_socket"] = choose_engine_socket(ctx)
    from sloth_tui.commands.dashboard import run_dashboard

    run_dashboard(ctx, theme=theme)


@click.command("demo")
@click.option("--rate", default=20.0, show_default=True, help="Synthetic events per second.")
@click.option("--theme", default=None, help="Theme name.")
@click.pass_context
def demo_command(ctx: click.Context, rate: float, theme: str | None) -> None:
    """Open the dashboard on a temporary home with a live synthetic event stream."""
    from sloth_tui.commands.dashboard import run_demo

    run_demo(ctx, rate=rate, theme=theme or ctx.find_root().obj.get("theme"))


main.add_command(dashboard_command)
main.add_command(demo_command)
