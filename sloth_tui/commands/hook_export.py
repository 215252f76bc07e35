"""`sloth-tui hook export DIR`: hooks as code (owner: H5)."""

from __future__ import annotations

import click

from sloth_tui.commands.common import fail


@click.command("export")
@click.argument("directory", type=click.Path(file_okay=False))
@click.pass_context
def hook_export(ctx: click.Context, directory: str) -> None:
    """Write every hook to DIR (not built yet)."""
    fail("hook export: not built yet")
