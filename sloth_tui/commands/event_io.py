"""`sloth-tui event export` and `event import FILE`: events as JSON lines (owner: H5)."""

from __future__ import annotations

import click

from sloth_tui.commands.common import fail


@click.command("export")
@click.pass_context
def event_export(ctx: click.Context) -> None:
    """Write events as JSON lines (not built yet)."""
    fail("event export: not built yet")


@click.command("import")
@click.argument("file", type=click.Path(dir_okay=False))
@click.pass_context
def event_import(ctx: click.Context, file: str) -> None:
    """Read events from JSON lines (not built yet)."""
    fail("event import: not built yet")
