"""`sloth-tui serve`: run the engine headless, fed by the socket, the monitor and the watchers."""

from __future__ import annotations

import asyncio
import dataclasses
import sys

import click

from sloth_tui.commands.common import fail, settings_from
from sloth_tui.model.errors import SlothError
from sloth_tui.user_path import resolved, user_path


@click.command("serve")
@click.option(
    "--home",
    type=click.Path(file_okay=False),
    default=None,
    help="Data dir (same as the global --home).",
)
@click.option(
    "--socket",
    "socket_path",
    type=click.Path(dir_okay=False),
    default=None,
    help="Unix socket path (default: sloth.sock in the data dir, or `socket` in config.toml).",
)
@click.option(
    "--tcp",
    metavar="HOST:PORT",
    default=None,
    help="Also listen on loopback TCP, e.g. 127.0.0.1:7071 (needs --token-file).",
)
@click.option(
    "--token-file",
    type=click.Path(dir_okay=False),
    default=None,
    help="File holding the token TCP clients must send first.",
)
@click.option(
    "--http",
    metavar="HOST:PORT",
    default=None,
    help="Also listen for HTTP (POST /events, /webhooks/NAME, /metrics, /healthz), "
    "e.g. 127.0.0.1:8080. Overrides [http] listen in config.toml; off when neither is set. "
    "An address other than loopback needs [http] token_file.",
)
@click.option(
    "--nats",
    metavar="URL",
    default=None,
    help="Join a fleet on NATS JetStream, e.g. nats://127.0.0.1:4222 (several: comma "
    "separated). Events and runs are shared with every engine there, and each hook runs "
    "once per event across the fleet. Overrides [nats] url; alone when neither is set.",
)
@click.option(
    "--name",
    metavar="NAME",
    default=None,
    help="This engine's name in the fleet (1-63 letters, digits, - or _). Overrides "
    "[nats] name; default: the host's name. Each engine of a fleet needs its own.",
)
@click.option("--no-monitor", is_flag=True, help="Do not run the system monitor.")
@click.option("--no-watchers", is_flag=True, help="Do not start the [[watchers]] of config.toml.")
@click.option(
    "--log-level",
    type=click.Choice(["debug", "info", "warning", "error"]),
    default="info",
    show_default=True,
)
@click.option(
    "--log-format",
    type=click.Choice(["text", "json"]),
    default="text",
    show_default=True,
    help="text: one plain line per record; json: one JSON object per line (log shippers).",
)
@click.pass_context
def serve_command(
    ctx: click.Context,
    home: str | None,
    socket_path: str | None,
    tcp: str | None,
    token_file: str | None,
    no_monitor: bool,
    http: str | None,
    nats: str | None,
    name: str | None,
    no_watchers: bool,
    log_level: str,
    log_format: str,
) -> None:
    """Run the engine in the foreground until SIGTERM or SIGINT (for systemd and the like).

    Producers send newline-delimited JSON to the socket; the dashboard and the CLI
    attach to it. Logs go to stderr."""
    from sloth_tui.remote.server import TcpAddress, read_token
    from sloth_tui.sources.daemon import DaemonOptions, configure_logging, serve

    root = ctx.find_root()
    root.ensure_object(dict)
    if home is not None:
        root.obj["home"] = home
        root.obj.pop("settings", None)
    settings = settings_from(ctx)
    if socket_path is not None:
        settings = dataclasses.replace(settings, socket=resolved(user_path(socket_path)))
    configure_logging(log_level, log_format)
    try:
        address = TcpAddress.parse(tcp) if tcp else None
        if address is not None and token_file is None:
            raise click.UsageError("--tcp needs --token-file (TCP clients must present a token)")
        if token_file is not None and address is None:
            raise click.UsageError("--token-file is only used with --tcp")
        token = read_token(token_file) if token_file else None
        options = DaemonOptions(
            tcp=address,
            token=token,
            monitor=not no_monitor,
            watchers=not no_watchers,
            http=http,
            nats=nats,
            nats_name=name,
        )
        asyncio.run(serve(settings, options))
    except SlothError as exc:
        fail(str(exc))
    except KeyboardInterrupt:  # a signal before the handlers were in place
        sys.exit(130)
