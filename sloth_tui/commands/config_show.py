"""`sloth-tui config show [--json]`: the effective configuration and where each value came
from (owner: H6)."""

from __future__ import annotations

import click

from sloth_tui.commands.common import fail
from sloth_tui.commands.group import OneLineErrorGroup


@click.group("config", cls=OneLineErrorGroup)
def config_group() -> None:
    """The configuration in effect."""


@config_group.command("show")
@click.pass_context
def config_show(ctx: click.Context) -> None:
    """Print the effective configuration (not built yet)."""
    fail("config show: not built yet")
