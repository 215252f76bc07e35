"""A click group whose subcommands are imported when named (issue 19: cli_ratio).

A command that talks to a running daemon should cost little more than the socket round
trip, so a group imports a subcommand's module only when that subcommand is the one
being run, or when `--help` lists them all. `lazy` maps a name to a loader; the loader
runs once and the command is then an ordinary member of the group.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any

import click

Loader = Callable[[], click.Command]


def from_module(module: str, name: str) -> Loader:
    """A loader for the click command `name` in sloth_tui.commands.`module`."""

    def load() -> click.Command:
        command = getattr(importlib.import_module(f"sloth_tui.commands.{module}"), name)
        assert isinstance(command, click.Command)
        return command

    return load


class LazyGroup(click.Group):
    def __init__(self, *args: Any, lazy: dict[str, Loader] | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.lazy: dict[str, Loader] = dict(lazy or {})

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*super().list_commands(ctx), *self.lazy})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name not in self.commands and cmd_name in self.lazy:
            self.add_command(self.lazy[cmd_name](), cmd_name)
        return super().get_command(ctx, cmd_name)
