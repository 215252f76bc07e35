"""The root click group: every error is one line on stderr, never click's three-line block
and never a traceback.

Usage errors and SlothErrors say what was wrong. Anything else is a bug: it prints
`error: unexpected <Type>: <message>; details in <file>` and the traceback goes to a
crash report in the data dir (`<home>/logs/crash-YYYYmmdd-HHMMSS.log`, mode 0600; see
sloth_tui.crash).
"""

from __future__ import annotations

import os
import re
import sys
from pathlib import Path
from typing import Any

import click

from sloth_tui.commands.output import clean, error_line
from sloth_tui.model.errors import SlothError
from sloth_tui.pipe import silence_stdout
from sloth_tui.user_path import resolved

_SURROGATE = re.compile(r"[\ud800-\udfff]")


class _Crashed(Exception):
    """An unexpected exception, already written to a crash log."""

    def __init__(self, line: str) -> None:
        super().__init__(line)
        self.line = line


def _data_dir(ctx: click.Context | None) -> Path:
    """The data dir the command was using (--home, SLOTH_TUI_HOME or the default)."""
    obj = (ctx.find_root().obj if ctx is not None else None) or {}
    settings = obj.get("settings")
    if settings is not None:
        return Path(settings.home)
    home = obj.get("home") or os.environ.get("SLOTH_TUI_HOME")
    if home:
        return resolved(os.path.expanduser(str(home)))
    from sloth_tui.config import default_home

    return default_home()


MESSAGE_MAX = 300  # characters of the exception's message on the error line


def _crash_line(exc: BaseException, ctx: click.Context | None) -> str:
    """Save the traceback (sloth_tui.crash: `<home>/logs/crash-*.log`, 0600) and say so."""
    from sloth_tui.crash import save_crash_report

    try:
        home: Path | None = _data_dir(ctx)
    except Exception:  # the data dir itself is what failed: the temp dir takes the report
        home = None
    try:
        report = save_crash_report(exc, home, "a sloth-tui command (see argv)")
    except Exception:  # saving must not turn into a traceback either
        report = None
    message = clean(str(exc))
    if len(message) > MESSAGE_MAX:
        message = message[: MESSAGE_MAX - 1] + "…"
    where = f"details in {clean(report)}" if report else "no crash report could be written"
    return f"unexpected {clean(type(exc).__name__)}: {message}; {where}"


def _refuse_undecodable(argv: Any) -> None:
    """An argument that is not UTF-8 (Python keeps its bad bytes as lone surrogates) can
    be neither stored nor printed: refuse it before any command sees it."""
    for n, arg in enumerate(argv if isinstance(argv, (list, tuple)) else (), start=1):
        if isinstance(arg, str) and _SURROGATE.search(arg):
            error_line(f"argument {n} is not valid UTF-8 text: {arg!r}")
            sys.exit(2)
        if isinstance(arg, str) and "\x00" in arg:  # exec cannot pass one; an embedder can
            error_line(f"argument {n} holds a NUL character: {arg!r}")
            sys.exit(2)


class OneLineErrorGroup(click.Group):
    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except (click.ClickException, click.exceptions.Exit, click.exceptions.Abort):
            raise
        except (SlothError, _Crashed, BrokenPipeError):
            raise
        except OSError:  # the file system said no (missing, too long, no permission, full)
            raise
        except Exception as exc:
            # Here the context still knows the data dir; main() prints the line.
            raise _Crashed(_crash_line(exc, ctx)) from exc

    def main(self, *args: Any, **kwargs: Any) -> Any:
        kwargs["standalone_mode"] = False
        argv = kwargs["args"] if "args" in kwargs else (args[0] if args else None)
        _refuse_undecodable(sys.argv[1:] if argv is None else argv)
        try:
            result = super().main(*args, **kwargs)
        except click.ClickException as exc:
            hint = ""
            if isinstance(exc, click.UsageError) and exc.ctx is not None:
                hint = f" (see '{exc.ctx.command_path} --help')"
            error_line(f"{exc.format_message()}{hint}")
            sys.exit(exc.exit_code)
        except click.exceptions.Abort:
            click.echo("aborted", err=True)
            sys.exit(1)
        except SlothError as exc:
            error_line(str(exc))
            sys.exit(1)
        except BrokenPipeError:  # `| head`: the reader left, which is not an error
            silence_stdout()
            sys.exit(0)
        except _Crashed as exc:
            click.echo(f"error: {exc.line}", err=True)
            sys.exit(1)
        except OSError as exc:  # said plainly: it is about a file, not a bug
            where = f": {exc.filename}" if exc.filename is not None else ""
            error_line(f"{exc.strerror or exc}{where}")
            sys.exit(1)
        except Exception as exc:  # outside any command (parsing, setup): no data dir known
            click.echo(f"error: {_crash_line(exc, None)}", err=True)
            sys.exit(1)
        # standalone_mode=False hands back ctx.exit() codes instead of exiting.
        sys.exit(result if isinstance(result, int) else 0)
