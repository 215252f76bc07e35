"""`sloth-tui config show [--json]`: the effective configuration and where each value
came from (default, file, environment, flag).

Pure configuration: no engine and no daemon, so it answers on a home whose store is
broken too. Values that could be secrets are never printed: token and secret files are
named by path and never opened, and a value under a key that names a credential (token,
secret, password, ...) or a URL's user:password@ part shows as `<hidden>`.
"""

from __future__ import annotations

import json
import math
import re
import tomllib
from collections.abc import Iterator
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

import click
from click.core import ParameterSource

from sloth_tui.commands.common import emit_json, fail, settings_from, table
from sloth_tui.commands.group import OneLineErrorGroup
from sloth_tui.commands.output import clean, say, value_text
from sloth_tui.config import SOURCE_TABLES, Settings, load_settings, value_origins
from sloth_tui.model.errors import SlothError

HIDDEN = "<hidden>"
# A key naming a credential holds one; `token_file`, `secret_file` and the like hold a
# path, which is what an operator needs to see.
_SECRET_KEY = re.compile(
    r"token|secret|passw|credential|api[_-]?key|private[_-]?key|authorization|cookie|bearer",
    re.IGNORECASE,
)
_PATH_KEY = re.compile(r"_(file|path|dir|env)$", re.IGNORECASE)
_URL_USERINFO = re.compile(r"(?<=://)[^/@\s]+(?=@)")
_BARE_KEY = re.compile(r"[A-Za-z0-9_-]+")
# Tables config.py keeps as the file gave them, shown as given (flattened), in this order.
_RAW_TABLES = ("watchers", "filters", "keymap")


@dataclass(frozen=True, slots=True)
class Entry:
    key: str  # dotted: "server.backlog", "webhooks[1].secret_file"
    value: Any  # JSON-able, secrets already hidden
    origin: str  # default | file | environment | flag
    via: str | None = None  # the variable, flag or setting it came through

    def to_dict(self) -> dict[str, Any]:
        return {"value": self.value, "from": self.origin, "via": self.via}


@click.group("config", cls=OneLineErrorGroup)
def config_group() -> None:
    """The configuration in effect."""


@config_group.command("show")
@click.option(
    "--json",
    "as_json",
    is_flag=True,
    help='Print {KEY: {"value", "from", "via"}}: "from" is default, file, environment '
    'or flag, "via" the variable or flag (or null).',
)
@click.pass_context
def config_show(ctx: click.Context, as_json: bool) -> None:
    """Print every setting in effect and where it came from.

    \b
    FROM is one of:
      default      built in
      file         config.toml (its path is the first line)
      environment  a SLOTH_TUI_* variable (named)
      flag         a command-line flag (named): --home, --strict, --theme, ...

    Tables a producer reads itself ([http], [[webhooks]], [[schedules]], [[checks]],
    [[watchers]], ...) are shown as the file gives them, one line per value. Secrets
    are never printed: token and secret files by path only, credentials as <hidden>.
    Needs no daemon; a config.toml that does not load is its one-line error (exit 1).
    """
    root = ctx.find_root()
    obj = root.obj or {}
    settings = settings_from(ctx)  # a broken config.toml: its one line, exit 1
    flags = {"strict": obj.get("strict"), "theme": obj.get("theme")}
    try:
        if flags["theme"] is not None:  # --theme is the dashboard's; shown in effect here
            settings = load_settings(obj.get("home"), **flags)
        origins = value_origins(settings, flags)
        raw = _read_raw(settings.config_file)
    except SlothError as exc:
        fail(str(exc))
    entries = [
        *_command_line_entries(root, settings),
        *_setting_entries(settings, origins),
        *_raw_entries(raw, origins),
    ]
    if as_json:
        emit_json({e.key: e.to_dict() for e in entries})
        return
    exists = settings.config_file.is_file()
    say(f"config file: {clean(settings.config_file)}" + ("" if exists else " (none)"))
    table(
        [[e.key, value_text(e.value, spaces_ok=True), _from(e)] for e in entries],
        ["setting", "value", "from"],
    )


def _from(entry: Entry) -> str:
    return f"{entry.origin} {entry.via}" if entry.via else entry.origin


def _read_raw(path: Path) -> dict[str, Any]:
    """config.toml as TOML gave it (load_settings has accepted it already)."""
    if not path.is_file():
        return {}
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise SlothError(f"{path}: {exc}") from None


# -- the entries --------------------------------------------------------------------------


def _command_line_entries(root: click.Context, settings: Settings) -> list[Entry]:
    """The data dir and the global connection flags: click knows where each came from."""
    home_origin, home_via = _param_origin(root, "home", "--home", "SLOTH_TUI_HOME")
    entries = [
        Entry("home", str(settings.home), home_origin, home_via),
        Entry("config_file", str(settings.config_file), home_origin, home_via),
    ]
    for name, flag, variable in (
        ("attach", "--attach", None),
        ("token_file", "--token-file", "SLOTH_TUI_TOKEN_FILE"),  # a path: never read here
        ("embedded", "--embedded", None),
    ):
        origin, via = _param_origin(root, name, flag, variable)
        entries.append(Entry(name, root.params.get(name), origin, via))
    return entries


def _param_origin(
    root: click.Context, name: str, flag: str, variable: str | None
) -> tuple[str, str | None]:
    source = root.get_parameter_source(name)
    if source is ParameterSource.COMMANDLINE:
        return "flag", flag
    if source is ParameterSource.ENVIRONMENT:
        return "environment", variable
    return "default", None


def _setting_entries(settings: Settings, origins: dict[str, tuple[str, str | None]]) -> list[Entry]:
    """Every setting of Settings, then [monitor], [server] and [sandbox] key by key."""
    entries = []
    for key, (origin, via) in origins.items():
        if "." in key or key in _RAW_TABLES or not hasattr(settings, key):
            continue
        value = getattr(settings, key)
        if key == "socket":
            value = settings.socket_path  # the effective path, also when not set
        entries.append(Entry(key, _hide(key, _plain(value)), origin, via))
    for name in ("monitor", "server", "sandbox"):
        obj = getattr(settings, name)
        for f in fields(obj):
            value = getattr(obj, f.name)
            if name == "sandbox" and f.name == "file_roots":
                value = settings.file_roots  # what file_ops may reach, defaults included
            key = f"{name}.{f.name}"
            origin, via = origins.get(key, ("default", None))
            entries.append(Entry(key, _hide(f.name, _plain(value)), origin, via))
    return entries


def _raw_entries(raw: dict[str, Any], origins: dict[str, tuple[str, str | None]]) -> list[Entry]:
    """The tables kept whole ([[watchers]], [filters], [keymap], [http], [[webhooks]],
    [[schedules]], ...), flattened to one value per line, in the file's order."""
    entries = []
    for name, value in raw.items():
        if name not in _RAW_TABLES and name not in SOURCE_TABLES:
            continue
        origin, via = origins.get(name, ("file", None))
        for key, leaf, leaf_value in _flatten(name, value):
            entries.append(Entry(key, _hide(leaf, leaf_value), origin, via))
    return entries


def _flatten(prefix: str, value: Any, leaf: str = "") -> Iterator[tuple[str, str, Any]]:
    """(dotted key, last key name, value): tables open up, arrays of tables are
    numbered from 1 as config errors number them, other arrays stay one value."""
    if isinstance(value, dict) and value:
        for k, v in value.items():
            part = k if _BARE_KEY.fullmatch(k) else json.dumps(k, ensure_ascii=False)
            yield from _flatten(f"{prefix}.{part}", v, k)
    elif isinstance(value, list) and value and all(isinstance(x, dict) for x in value):
        for i, item in enumerate(value, start=1):
            yield from _flatten(f"{prefix}[{i}]", item, leaf)
    else:
        yield prefix, leaf or prefix, _plain(value)


def _plain(value: Any) -> Any:
    """JSON-able: paths and dates as text, tuples as lists."""
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, tuple | list):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)  # TOML's inf and nan: JSON has no spelling for them
    if value is None or isinstance(value, str | int | float | bool):
        return value
    return str(value)  # TOML dates and times


def _hide(key: str, value: Any) -> Any:
    """A credential's value, or a URL's user:password@, replaced by <hidden>."""
    if _SECRET_KEY.search(key) and not _PATH_KEY.search(key) and value not in (None, "", []):
        return HIDDEN
    if isinstance(value, str):
        return _URL_USERINFO.sub(HIDDEN, value)
    if isinstance(value, list):
        return [_hide("", v) for v in value]
    if isinstance(value, dict):
        return {k: _hide(k, v) for k, v in value.items()}
    return value
