"""The `sloth-tui` command line. With no subcommand it opens the dashboard."""

from __future__ import annotations

import click

from sloth_tui import __version__
from sloth_tui.commands.backup import backup_command, restore_command
from sloth_tui.commands.bench import bench_command
from sloth_tui.commands.bridge import bridge_group
from sloth_tui.commands.check import check_group
from sloth_tui.commands.config_show import config_group
from sloth_tui.commands.doctor import doctor_command
from sloth_tui.commands.event import event_dispatch, event_group
from sloth_tui.commands.event_io import event_export, event_import
from sloth_tui.commands.event_trace import event_trace
from sloth_tui.commands.events_upstream import events_group
from sloth_tui.commands.group import OneLineErrorGroup
from sloth_tui.commands.hook import hook_group
from sloth_tui.commands.hook_explain import hook_explain
from sloth_tui.commands.hook_export import hook_export
from sloth_tui.commands.hook_replay import hook_replay
from sloth_tui.commands.schedule import schedule_group
from sloth_tui.commands.secret import secret_group
from sloth_tui.commands.serve import serve_command
from sloth_tui.commands.tail import event_tail
from sloth_tui.commands.watch import watch_group
from sloth_tui.commands.web import web_command

_ATTACH_HELP = (
    "Attach to the daemon on this Unix socket, or on tcp://127.0.0.1:PORT with "
    "--token-file (error if none answers)."
)
_TOKEN_HELP = (
    "With --attach tcp://...: the file holding the daemon's token. Env: SLOTH_TUI_TOKEN_FILE."
)
_EMBEDDED_HELP = "Never attach: run the engine in this process."


@click.group(
    cls=OneLineErrorGroup,
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
main.add_command(hook_group)
main.add_command(event_group)
main.add_command(events_group)  # Sloth Runner's spelling of the event commands
main.add_command(event_dispatch, name="emit")
main.add_command(bench_command)
main.add_command(serve_command)
main.add_command(doctor_command)
main.add_command(watch_group)
main.add_command(backup_command)
main.add_command(restore_command)
main.add_command(schedule_group)
main.add_command(bridge_group)
main.add_command(secret_group)
main.add_command(check_group)
event_group.add_command(event_tail)
hook_group.add_command(hook_explain)
event_group.add_command(event_trace)
hook_group.add_command(hook_replay)
hook_group.add_command(hook_export)
event_group.add_command(event_export)
event_group.add_command(event_import)
main.add_command(config_group)
main.add_command(web_command)
