"""The root click group: usage errors as one line on stderr, not click's three-line block."""

from __future__ import annotations

import sys
from typing import Any

import click


class OneLineErrorGroup(click.Group):
    def main(self, *args: Any, **kwargs: Any) -> Any:  # type: ignore[override]
        kwargs["standalone_mode"] = False
        try:
            result = super().main(*args, **kwargs)
        except click.ClickException as exc:
            hint = ""
            if isinstance(exc, click.UsageError) and exc.ctx is not None:
                hint = f" (see '{exc.ctx.command_path} --help')"
            click.echo(f"error: {exc.format_message()}{hint}", err=True)
            sys.exit(exc.exit_code)
        except click.exceptions.Abort:
            click.echo("aborted", err=True)
            sys.exit(1)
        # standalone_mode=False hands back ctx.exit() codes instead of exiting.
        sys.exit(result if isinstance(result, int) else 0)
