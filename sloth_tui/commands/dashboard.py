"""`sloth-tui` / `sloth-tui dashboard` and `sloth-tui demo`: the click side of tui/launch.py."""

from __future__ import annotations

import os
import sys
import tempfile
from dataclasses import replace

import click

from sloth_tui.commands.common import fail, settings_from
from sloth_tui.config import load_settings
from sloth_tui.model.errors import SlothError


def _exit_with(code: int) -> None:
    if code:  # a crash (its one line is printed, the traceback saved) or a signal
        sys.exit(code)


def need_a_terminal() -> None:
    """The dashboard reads its keys from stdin and draws on stderr (Textual's terminal
    driver), so both must be a terminal. Without one (`ssh host sloth-tui` without -t,
    a cron job, `2> file`) it wrote escape sequences forever. `sloth-tui web` runs it
    under textual-serve's driver (TEXTUAL_DRIVER), which needs no terminal."""
    if os.environ.get("TEXTUAL_DRIVER"):
        return
    for name, stream in (("stdin", sys.stdin), ("stderr", sys.stderr)):
        if stream is None or not stream.isatty():
            fail(
                f"the dashboard needs a terminal, and {name} is not one (over ssh: ssh -t); "
                "to follow events from a script: sloth-tui event tail"
            )


def run_dashboard(ctx: click.Context, theme: str | None = None) -> None:
    """On the daemon the CLI chose (ctx.obj["engine_socket"]), else on an embedded engine."""
    from sloth_tui.tui.launch import launch

    settings = settings_from(ctx)  # a config error first: it says more than "no terminal"
    socket = (ctx.find_root().obj or {}).get("engine_socket")
    need_a_terminal()
    try:
        code = launch(settings, socket=socket, theme=theme, themes_dir=settings.themes_dir)
    except SlothError as exc:  # EngineLocked, DaemonUnavailable and friends: one line
        fail(str(exc))
    _exit_with(code)


def run_demo(ctx: click.Context, rate: float = 20.0, theme: str | None = None) -> None:
    """The dashboard on a throwaway home, with sample hooks and a synthetic stream."""
    from sloth_tui.tui.launch import launch

    user = settings_from(ctx)  # for the theme choice and the user's own theme files
    obj = ctx.find_root().obj or {}
    need_a_terminal()
    with tempfile.TemporaryDirectory(prefix="sloth-tui-demo-") as home:
        settings = replace(load_settings(home, strict=obj.get("strict")), theme=user.theme)
        click.echo(f"demo home: {home} (deleted on exit)", err=True)
        try:
            code = launch(settings, theme=theme, themes_dir=user.themes_dir, demo_rate=rate)
        except SlothError as exc:
            fail(str(exc))
    _exit_with(code)
