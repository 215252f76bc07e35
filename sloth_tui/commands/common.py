"""Shared plumbing for the click commands: settings, running the engine, output, errors.

Commands get an EngineAPI (engine/api.py) from `engine_for`: the daemon's, through
remote.client.RemoteEngine, when one answers, else an embedded Engine.
"""

from __future__ import annotations

import json
import re
import sys
import time
from collections.abc import AsyncIterator, Callable, Coroutine
from contextlib import asynccontextmanager
from contextvars import ContextVar
from typing import TYPE_CHECKING, Any, TypeVar

import click

from sloth_tui.commands.output import clean, error_line
from sloth_tui.commands.output import emit_json as emit_json  # re-exported for the commands
from sloth_tui.model.errors import SlothError

# Imported where used (issue 19, cli_ratio): a command's start-up is mostly imports, and
# asyncio (with ssl), the engine's API module (every record type) and the config parser
# are not all needed by every command, nor before the command line is parsed.
if TYPE_CHECKING:
    from sloth_tui.config import Settings
    from sloth_tui.engine.api import EngineAPI
    from sloth_tui.remote.wire import Address

T = TypeVar("T")


# Numbers from the command line, bounded where they are used: SQLite's integers end at
# 2**63 - 1 (an id past it was an OverflowError), and a float option is never NaN or inf.
EVENT_ID = click.IntRange(0, 2**63 - 1)
COUNT = click.IntRange(0, 10_000_000)
SECONDS = click.FloatRange(0.01, 3600)  # hook deadlines, as `hook update` checks them
INSTRUCTIONS = click.IntRange(1_000, 10**12)
MEMORY_MB = click.IntRange(1, 65_536)


def settings_from(ctx: click.Context) -> Settings:
    obj = ctx.find_root().obj or {}
    if "settings" not in obj:
        if obj.get("home") == "":  # Path("") is the current directory: never what was meant
            fail("--home is empty: name a data dir, or leave it out for the default", 2)
        from sloth_tui.config import load_settings

        try:
            obj["settings"] = load_settings(obj.get("home"), strict=obj.get("strict"))
        except SlothError as exc:
            fail(str(exc))
    settings: Settings = obj["settings"]
    return settings


def fail(message: str, code: int = 1) -> None:
    """One line on stderr (escaped: messages quote outside text), then exit."""
    error_line(message)
    sys.exit(code)


# True while a one-shot body runs without an event loop: engine_for then opens a
# blocking RemoteEngine, whose coroutines never suspend.
_WITHOUT_LOOP: ContextVar[bool] = ContextVar("sloth_tui_without_loop", default=False)


def run(coro_fn: Callable[[], Coroutine[Any, Any, T]], *, oneshot: bool = False) -> T:
    """Run an async command body; a SlothError becomes a one-line error and exit 1.

    oneshot=True is a body's promise that it only asks the engine from engine_for (no
    subscription, no sleep, no task of its own). When the command attaches to a daemon,
    such a body then runs without an event loop, over a blocking socket: asyncio and
    its ssl cost a one-shot command more than the request itself (issue 19, cli_ratio).
    The same body runs under asyncio.run on the embedded engine.
    """
    try:
        if oneshot and choose_engine_socket(click.get_current_context()) is not None:
            return _run_without_loop(coro_fn)
        import asyncio

        return asyncio.run(coro_fn())
    except SlothError as exc:
        fail(str(exc))
    except KeyboardInterrupt:
        click.echo("interrupted", err=True)
        sys.exit(130)
    raise AssertionError("unreachable")


def _run_without_loop(coro_fn: Callable[[], Coroutine[Any, Any, T]]) -> T:
    """Drive a coroutine that never suspends: it finishes at its first send(None)."""
    token = _WITHOUT_LOOP.set(True)
    coro = coro_fn()
    try:
        coro.send(None)
    except StopIteration as done:
        result: T = done.value
        return result
    finally:
        _WITHOUT_LOOP.reset(token)
    coro.close()  # it waited on something: a oneshot body that is not one (a bug)
    raise AssertionError("a oneshot command body suspended: run it with oneshot=False")


def choose_engine_socket(ctx: click.Context) -> Address | None:
    """The daemon this command should use (--attach / --embedded / auto), or None."""
    from sloth_tui.remote.client import choose_engine

    obj = ctx.find_root().obj or {}
    if "engine_choice" in obj:  # asked once per command: each answer is a ping
        choice: Address | None = obj["engine_choice"]
        return choice
    try:
        address = choose_engine(
            settings_from(ctx),
            obj.get("attach"),
            bool(obj.get("embedded")),
            obj.get("token_file"),
        )
    except SlothError as exc:
        fail(str(exc))
        raise AssertionError("unreachable") from None
    obj["engine_choice"] = address
    return address


@asynccontextmanager
async def engine_for(ctx: click.Context, *, readonly: bool = False) -> AsyncIterator[EngineAPI]:
    """The running daemon when one answers (so writes reach it), else an embedded engine."""
    socket = choose_engine_socket(ctx)
    engine: EngineAPI
    if socket is not None:
        from sloth_tui.remote.client import RemoteEngine

        engine = await RemoteEngine.open(settings_from(ctx), socket, blocking=_WITHOUT_LOOP.get())
    else:
        from sloth_tui.engine.engine import Engine

        engine = await Engine.open(settings_from(ctx), readonly=readonly)
    try:
        yield engine
    finally:
        await engine.close(reason="cli command finished")


def fmt_ts(ts: float | None) -> str:
    if not ts:
        return "-"
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(ts)) + f".{int(ts % 1 * 1000):03d}"


def table(rows: list[list[str]], headers: list[str]) -> None:
    """Aligned columns; every cell is one line with its control characters escaped."""
    if not rows:
        click.echo("(none)")
        return
    rows = [[clean(cell) for cell in row] for row in rows]
    widths = [max(len(str(x)) for x in col) for col in zip(headers, *rows, strict=False)]
    line = "  ".join(h.upper().ljust(w) for h, w in zip(headers, widths, strict=True))
    click.echo(line.rstrip())
    for row in rows:
        click.echo("  ".join(str(c).ljust(w) for c, w in zip(row, widths, strict=True)).rstrip())


_DURATION_RE = re.compile(r"(\d+(?:\.\d+)?)([smhdw])")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def parse_duration(text: str) -> float:
    """`90s`, `30m`, `24h`, `7d`, `1h30m` -> seconds."""
    text = text.strip().lower()
    pos, total = 0, 0.0
    for m in _DURATION_RE.finditer(text):
        if m.start() != pos:
            break
        total += float(m.group(1)) * _UNITS[m.group(2)]
        pos = m.end()
    if pos != len(text) or not text:
        raise click.BadParameter(f"{text!r} is not a duration like 90s, 30m, 24h, 7d or 1h30m")
    return total


def parse_json_object(text: str | None, what: str = "--data") -> dict[str, Any]:
    if text is None:
        return {}
    try:
        value = json.loads(text, parse_constant=_no_constant)
    except RecursionError:
        raise click.BadParameter("nests too deeply", param_hint=what) from None
    except ValueError as exc:
        raise click.BadParameter(f"not valid JSON: {exc}", param_hint=what) from None
    if not isinstance(value, dict):
        raise click.BadParameter("must be a JSON object like '{\"key\": 1}'", param_hint=what)
    return value


def parse_pairs(pairs: tuple[str, ...]) -> dict[str, Any]:
    """key=value arguments; a value is JSON when it parses (3, true, [1,2]), else a string."""
    data: dict[str, Any] = {}
    for pair in pairs:
        key, sep, raw = pair.partition("=")
        if not sep or not key:
            raise click.BadParameter(f"{pair!r} is not key=value", param_hint="DATA")
        try:
            value: Any = json.loads(raw, parse_constant=_no_constant)
        except RecursionError:
            raise click.BadParameter(f"{key}= nests too deeply", param_hint="DATA") from None
        except ValueError:  # not JSON (NaN and Infinity included): the text itself
            value = raw
        data[key] = value
    return data


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")
