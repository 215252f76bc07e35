"""Entry points for `sloth-tui` (dashboard) and `sloth-tui demo`, called by the CLI."""

from __future__ import annotations

import asyncio
import tempfile
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

import click

from sloth_tui.commands.common import fail, settings_from
from sloth_tui.config import Settings, load_settings
from sloth_tui.engine.errors import SlothError

if TYPE_CHECKING:
    from sloth_tui.engine.engine import Engine
    from sloth_tui.sources.client import RemoteEngine
    from sloth_tui.sources.wire import Address


@asynccontextmanager
async def embedded_engine(settings: Settings) -> AsyncIterator[tuple[Engine, list[str]]]:
    """The in-process engine, also serving its Unix socket, so `sloth-tui hook add ...`
    and friends in another terminal go through it (it holds the data dir's lock).

    Yields the engine and warnings for the operator (a socket that could not be served
    is one: the dashboard still runs). Stops in the daemon's order: intake, engine, socket.
    """
    from sloth_tui.engine.engine import Engine
    from sloth_tui.sources.server import SocketServer

    # Open the engine before the app so a held lock is a one-line error, not a crashed screen.
    engine = await Engine.open(settings)
    warnings: list[str] = []
    server = SocketServer(engine, settings.socket_path)
    try:
        await server.start()
        serving = True
    except (SlothError, OSError) as exc:
        serving = False
        warnings.append(
            f"Not serving {settings.socket_path} ({exc}): other sloth-tui commands "
            "cannot reach this engine while the dashboard runs."
        )
    try:
        yield engine, warnings
    finally:
        if serving:
            await server.stop_intake()
        await engine.close(reason="dashboard closed")
        if serving:
            await server.close()


async def _run(
    settings: Settings,
    *,
    socket: Address | None,
    theme: str | None,
    themes_dir: Path,
    demo_rate: float | None,
) -> None:
    from sloth_tui.tui.app import SlothApp

    if socket is not None:  # attach: the daemon keeps running when the dashboard quits
        from sloth_tui.sources.client import RemoteEngine

        remote: RemoteEngine = await RemoteEngine.open(settings, socket)
        try:
            app = SlothApp(remote, theme=theme, themes_dir=themes_dir, freeze_gc=True)
            await app.run_async()
        finally:
            await remote.close(reason="dashboard closed")
        return
    async with embedded_engine(settings) as (engine, warnings):
        if demo_rate is not None:
            from sloth_tui.sources.demo import install_demo_hooks

            await install_demo_hooks(engine, settings.hooks_dir)
        app = SlothApp(
            engine,
            theme=theme,
            themes_dir=themes_dir,
            demo=demo_rate,
            freeze_gc=True,
            warnings=warnings,
        )
        await app.run_async()


def _launch(
    settings: Settings,
    *,
    socket: str | None = None,
    theme: str | None,
    themes_dir: Path,
    demo_rate: float | None,
) -> None:
    try:
        asyncio.run(
            _run(settings, socket=socket, theme=theme, themes_dir=themes_dir, demo_rate=demo_rate)
        )
    except SlothError as exc:  # EngineLocked, DaemonUnavailable and friends: one line
        fail(str(exc))
    except KeyboardInterrupt:
        pass


def run_dashboard(ctx: click.Context, theme: str | None = None) -> None:
    """On the daemon the CLI chose (ctx.obj["engine_socket"]), else on an embedded engine."""
    settings = settings_from(ctx)
    socket = (ctx.find_root().obj or {}).get("engine_socket")
    _launch(settings, socket=socket, theme=theme, themes_dir=settings.themes_dir, demo_rate=None)


def run_demo(ctx: click.Context, rate: float = 20.0, theme: str | None = None) -> None:
    """The dashboard on a throwaway home, with sample hooks and a synthetic stream."""
    user = settings_from(ctx)  # for the theme choice and the user's own theme files
    obj = ctx.find_root().obj or {}
    with tempfile.TemporaryDirectory(prefix="sloth-tui-demo-") as home:
        settings = replace(load_settings(home, strict=obj.get("strict")), theme=user.theme)
        click.echo(f"demo home: {home} (deleted on exit)", err=True)
        _launch(settings, theme=theme, themes_dir=user.themes_dir, demo_rate=rate)
