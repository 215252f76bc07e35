"""`sloth-tui web`: the dashboard in a browser, through textual-serve (owner: H4)."""

from __future__ import annotations

import click

from sloth_tui.commands.common import fail


@click.command("web")
@click.pass_context
def web_command(ctx: click.Context) -> None:
    """Serve the dashboard to a browser (not built yet)."""
    fail("web: not built yet")
