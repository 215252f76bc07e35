"""The textual-serve side of `sloth-tui web`: which dashboard each browser tab runs, and a
Server that starts, logs and stops the way the other commands do (commands/web.py is the
click side).

textual-serve starts one process per websocket (per browser tab) from a shell command
line; that line is built here with every argument quoted, so a home or socket path with
spaces or shell characters stays one argument.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import logging
import shlex
import signal
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from aiohttp import web
from textual_serve.server import Server

log = logging.getLogger("sloth_tui.web")

# How long a stop waits for the tabs' dashboards to quit (each gets textual-serve's
# "quit" message, and the websocket is closed) before the server goes anyway.
SESSION_STOP_TIMEOUT = 5.0


def is_loopback(host: str) -> bool:
    """True for an address only this machine reaches: localhost, 127.0.0.0/8, ::1."""
    if host.strip().lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:  # a host name: it may resolve anywhere
        return False


def is_wildcard(host: str) -> bool:
    """0.0.0.0 or ::, every interface: no browser can use it as the page's address."""
    try:
        return ipaddress.ip_address(host.strip("[]")).is_unspecified
    except ValueError:
        return False


def public_url_for(host: str, port: int) -> str:
    """The URL a browser on this machine opens; an IPv6 literal goes in brackets."""
    bare = host.strip("[]")
    if ":" in bare:
        bare = f"[{bare}]"
    return f"http://{bare}:{port}"


@dataclass(frozen=True, slots=True)
class Attachment:
    """The daemon every tab's dashboard attaches to: a Unix socket path, or a loopback
    TCP address (tcp://HOST:PORT) with the file holding its token."""

    attach: str
    token_file: str | None = None


def dashboard_command(
    program: Sequence[str],
    home: Path,
    attachment: Attachment,
    theme: str | None = None,
) -> str:
    """The shell line a tab runs: the dashboard, explicitly attached (never embedded: two
    embedded engines on one home would fight over its lock)."""
    argv = [*program, "--home", str(home), "--attach", attachment.attach]
    if attachment.token_file is not None:
        argv += ["--token-file", attachment.token_file]
    argv.append("dashboard")
    if theme:
        argv += ["--theme", theme]
    return shlex.join(argv)


def this_program() -> list[str]:
    """This interpreter running this package: the tabs run the same sloth-tui as `web`."""
    return [sys.executable, "-m", "sloth_tui"]


class DashboardServer(Server):
    """textual-serve's Server with a one-line banner, plain log lines, and a stop that
    ends every tab's dashboard instead of waiting for the browsers to hang up."""

    def __init__(
        self,
        command: str,
        *,
        host: str,
        port: int,
        title: str,
        public_url: str | None,
        banner: str,
    ) -> None:
        super().__init__(command, host=host, port=port, title=title, public_url=public_url)
        self.banner = banner
        self._sessions: set[asyncio.Task[object]] = set()

    def initialize_logging(self) -> None:
        # textual-serve's default is a Rich handler with tracebacks and locals: here the
        # lines are plain, and only warnings (a dashboard that failed to start) show.
        # Escaped as serve's lines are (a request's path is a stranger's text); `force`:
        # in place of the command line's own handler (commands/cli_log.py).
        from sloth_tui.log_lines import PlainFormatter

        handler = logging.StreamHandler()
        handler.setFormatter(PlainFormatter("web: %(message)s"))
        logging.basicConfig(level=logging.WARNING, handlers=[handler], force=True)

    async def on_startup(self, app: web.Application) -> None:
        pass  # the banner is printed once the port is bound (_serve), not before

    async def handle_websocket(self, request: web.Request) -> web.WebSocketResponse:
        task = asyncio.current_task()
        assert task is not None
        self._sessions.add(task)
        try:
            return await super().handle_websocket(request)
        finally:
            self._sessions.discard(task)

    async def on_shutdown(self, app: web.Application) -> None:
        # Cancelling a session makes textual-serve close its websocket and send the
        # dashboard "quit"; it then waits for the process to end.
        sessions = list(self._sessions)
        for task in sessions:
            task.cancel()
        if sessions:
            await asyncio.wait(sessions, timeout=SESSION_STOP_TIMEOUT)

    def serve(self, debug: bool = False) -> None:
        """Serve until SIGINT or SIGTERM. OSError when the address cannot be bound."""
        self.debug = debug
        self.initialize_logging()
        asyncio.run(self._serve())

    async def _serve(self) -> None:
        loop = asyncio.get_running_loop()
        stop = asyncio.Event()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        runner = web.AppRunner(await self._make_app(), access_log=None)
        await runner.setup()
        try:
            await web.TCPSite(runner, self.host, self.port).start()
            print(self.banner, file=sys.stderr, flush=True)
            await stop.wait()
        finally:
            for sig in (signal.SIGINT, signal.SIGTERM):
                with contextlib.suppress(ValueError, RuntimeError):
                    loop.remove_signal_handler(sig)
            await runner.cleanup()
