"""Entry points for `sloth-tui` (dashboard) and `sloth-tui demo`, called by the CLI."""

from __future__ import annotations

import asyncio
import tempfile
from dataclasses import replace
from pathlib import Path

import click

from sloth_tui.commands.common import fail, settings_from
from sloth_tui.config import Settings, load_settings
from sloth_tui.engine.errors import SlothError


async def _run(settings: Settings, *, theme: str | None, themes_dir: Path, demo_rate: float | None) -> None:
    from sloth_tui.engine.engine import Engine
    from sloth_tui.tui.app import SlothApp

    # Open the engine before the app so a held lock is a one-line error, not a crashed screen.
    engine = await Engine.open(settings)
    try:
        if demo_rate is not None:
            from sloth_tui.sources.demo import install_demo_hooks

            await install_demo_hooks(engine, settings.hooks_dir)
        app = SlothApp(engine, theme=theme, themes_dir=themes_dir, demo=demo_rate)
        await app.run_async()
    finally:
        await engine.close(reason="dashboard closed")


def _launch(settings: Settings, *, theme: str | None, themes_dir: Path, demo_rate: float | None) -> None:
    try:
        asyncio.run(_run(settings, theme=theme, themes_dir=themes_dir, demo_rate=demo_rate))
    except SlothError as exc:  # EngineLocked and friends: one line, no traceback
        fail(str(exc))
    except KeyboardInterrupt:
        pass


def run_dashboard(ctx: click.Context, theme: str | None = None) -> None:
    settings = settings_from(ctx)
    _launch(settings, theme=theme, themes_dir=settings.themes_dir, demo_rate=None)


def run_demo(ctx: click.Context, rate: float = 20.0, theme: str | None = None) -> None:
    """The dashboard on a throwaway home, with sample hooks and a synthetic stream."""
    user = settings_from(ctx)  # for the theme choice and the user's own theme files
    obj = ctx.find_root().obj or {}
    with tempfile.TemporaryDirectory(prefix="sloth-tui-demo-") as home:
        settings = replace(load_settings(home, strict=obj.get("strict")), theme=user.theme)
        click.echo(f"demo home: {home} (deleted on exit)", err=True)
        _launch(settings, theme=theme, themes_dir=user.themes_dir, demo_rate=rate)
