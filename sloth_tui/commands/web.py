"""`sloth-tui web`: the dashboard in a browser, through textual-serve (owner: H4).

Each browser tab gets its own dashboard process, attached to the running daemon. There is
no embedded fallback: every tab would open its own engine on the same home, and they
would fight over its lock. textual-serve has no authentication, so the server stays on
loopback unless --allow-remote says otherwise (the README prefers `ssh -L`).
"""

from __future__ import annotations

import asyncio
import os
from pathlib import Path
from typing import TYPE_CHECKING

import click

from sloth_tui.commands.common import fail, settings_from
from sloth_tui.commands.output import clean
from sloth_tui.model.errors import SlothError

if TYPE_CHECKING:
    from sloth_tui.commands.web_serve import Attachment
    from sloth_tui.remote.wire import Address

_NO_DAEMON = (
    "no sloth-tui daemon answers on {where}: start `sloth-tui serve` first "
    "(each browser tab runs a dashboard attached to it)"
)


@click.command("web")
@click.option(
    "--host",
    default="127.0.0.1",
    show_default=True,
    help="Address to listen on. Loopback only unless --allow-remote: textual-serve has "
    "no login, so anyone who reaches the port gets a dashboard on your daemon.",
)
@click.option(
    "--port",
    type=click.IntRange(1, 65535),
    default=8000,
    show_default=True,
    help="TCP port to listen on.",
)
@click.option(
    "--title",
    default="sloth-tui",
    show_default=True,
    help="The name shown on the page while the dashboard starts.",
)
@click.option(
    "--public-url",
    metavar="URL",
    default=None,
    help="The URL browsers use to reach this server, when it is not http://HOST:PORT "
    "(behind a reverse proxy, or with --allow-remote on 0.0.0.0). The page's websocket "
    "is built from it.",
)
@click.option(
    "--allow-remote",
    is_flag=True,
    default=False,
    help="Allow a --host other than loopback. There is no authentication: prefer "
    "`ssh -L 8000:127.0.0.1:8000 HOST` and keep the default.",
)
@click.pass_context
def web_command(
    ctx: click.Context,
    host: str,
    port: int,
    title: str,
    public_url: str | None,
    allow_remote: bool,
) -> None:
    """Serve the dashboard to a web browser (needs a running `sloth-tui serve`).

    Every browser tab runs its own dashboard process attached to the daemon (the global
    --attach and --token-file choose which; by default the one on the data dir's socket).
    Open the printed URL; Ctrl+C stops the server and every tab's dashboard.
    """
    # Imported here: aiohttp and textual-serve are only needed by this command, and cli.py
    # imports every command at start.
    from sloth_tui.commands.web_serve import (
        DashboardServer,
        dashboard_command,
        is_loopback,
        is_wildcard,
        public_url_for,
        this_program,
    )

    if not is_loopback(host) and not allow_remote:
        fail(
            f"--host {host} is not loopback and textual-serve has no authentication: "
            f"prefer `ssh -L {port}:127.0.0.1:{port} THIS_HOST`, or add --allow-remote",
            2,
        )
    if public_url is not None and not public_url.startswith(("http://", "https://")):
        fail(f"--public-url {public_url} must start with http:// or https://", 2)
    if is_wildcard(host) and public_url is None:
        fail(
            f"--host {host} listens everywhere, and the page's websocket would point at "
            f"{host}: add --public-url http://THIS_HOST:{port}",
            2,
        )
    obj = ctx.find_root().obj or {}
    if obj.get("embedded"):
        fail("--embedded does not apply: each tab attaches to a running `sloth-tui serve`", 2)
    settings = settings_from(ctx)
    attachment, where = _attachment(ctx)
    home = settings.home.absolute()  # the tab's command line means one dir wherever it runs
    command = dashboard_command(this_program(), home, attachment, obj.get("theme"))
    url = public_url or public_url_for(host, port)
    server = DashboardServer(
        command,
        host=host,
        port=port,
        title=title,
        public_url=public_url,
        # clean(): a home or socket path is the operator's, but still not terminal controls.
        banner=clean(f"the dashboard on {url} (attached to {where}); Ctrl+C stops"),
    )
    try:
        server.serve()
    except OSError as exc:  # the port is taken, or the host is not this machine's
        fail(f"cannot listen on {host}:{port}: {exc.strerror or exc}")
    except KeyboardInterrupt:  # a second ^C while stopping
        pass


def _attachment(ctx: click.Context) -> tuple[Attachment, str]:
    """The daemon the tabs attach to, once it has answered here (so a wrong socket, a
    stopped daemon or a bad token is one line now, not an error page in every tab)."""
    from sloth_tui.commands.web_serve import Attachment
    from sloth_tui.remote.client import TCP_PREFIX, RemoteEngine, choose_engine
    from sloth_tui.remote.protocol import DaemonUnavailable

    settings = settings_from(ctx)
    obj = ctx.find_root().obj or {}
    attach, token_file = obj.get("attach"), obj.get("token_file")
    try:
        address = choose_engine(settings, attach, False, token_file)
    except DaemonUnavailable:  # --attach SOCKET and nothing answers there
        fail(_NO_DAEMON.format(where=attach))
    except SlothError as exc:  # --token-file without tcp://, an unreadable token file
        fail(str(exc), 2)
    if address is None:  # auto mode and nothing answers on the data dir's socket
        fail(_NO_DAEMON.format(where=settings.socket_path))
    assert address is not None

    async def ping(addr: Address) -> None:
        engine = await RemoteEngine.open(settings, addr)
        await engine.close(reason="web checked the daemon")

    try:
        asyncio.run(ping(address))
    except DaemonUnavailable:
        fail(_NO_DAEMON.format(where=address))
    except SlothError as exc:  # a wrong token, a daemon that refused the connection
        fail(str(exc))
    if address.path is not None:
        return Attachment(os.path.abspath(address.path)), str(address.path)
    assert attach is not None and attach.startswith(TCP_PREFIX)
    assert token_file is not None  # choose_engine refused tcp:// without one
    return Attachment(attach, str(Path(token_file).absolute())), str(address)
