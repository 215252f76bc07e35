"""The polled kinds of [[watchers]] in config.toml: one frozen dataclass per kind.

config.py keeps file watchers (no `kind`, or kind = "file") as WatcherSettings and hands
the other entries over as TOML gave them (Settings.watch_kinds); this module checks each
one and says what is wrong with it in one line naming the file, the entry and the key.

    [[watchers]]
    name = "nginx-up"
    kind = "process"          # process | port | log | command | service
    process = "nginx"         # or pattern = "gunicorn: master"
    interval = 5

These kinds live in config.toml only: `sloth-tui watch add` makes file watchers. A
command in particular comes from this file and nowhere else (never from an event or a
hook), run as an argument list without a shell.
"""

from __future__ import annotations

import math
import os
import re
from collections.abc import Callable
from dataclasses import dataclass, fields
from typing import Any

from sloth_tui.config import ConfigError, Settings
from sloth_tui.sources.watch_base import vet_regex

_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")
_UNIT = re.compile(r"[A-Za-z0-9:_.@\\-]{1,256}")
PRESETS = ("ssh-auth",)
SSH_AUTH_LOG = "/var/log/auth.log"


@dataclass(frozen=True, slots=True)
class ProcessWatch:
    name: str
    process: str = ""  # a process name: psutil's name() or the base name of argv[0]
    pattern: str = ""  # or a regular expression searched in the whole command line
    interval: float = 5.0


@dataclass(frozen=True, slots=True)
class PortWatch:
    name: str
    port: int = 0
    method: str = "auto"  # auto: psutil's connection table, else a connect to 127.0.0.1
    interval: float = 5.0


@dataclass(frozen=True, slots=True)
class LogWatch:
    name: str
    path: str = ""
    pattern: str = ""
    preset: str = ""  # "ssh-auth": security.login_failed/login_success from sshd's lines
    from_start: bool = False  # read what the file holds at start (default: only new lines)
    max_line: int = 4096  # bytes of one line that are matched; the rest is cut
    interval: float = 1.0


@dataclass(frozen=True, slots=True)
class CommandWatch:
    name: str
    command: tuple[str, ...] = ()  # argv, run without a shell
    interval: float = 60.0
    timeout: float = 10.0  # then its whole process group is killed
    max_output: int = 8192  # bytes of stdout kept and compared
    cwd: str = ""


@dataclass(frozen=True, slots=True)
class ServiceWatch:
    name: str
    unit: str = ""
    interval: float = 10.0


WatchSpec = ProcessWatch | PortWatch | LogWatch | CommandWatch | ServiceWatch
KINDS: dict[str, type[WatchSpec]] = {
    "process": ProcessWatch,
    "port": PortWatch,
    "log": LogWatch,
    "command": CommandWatch,
    "service": ServiceWatch,
}

# -- the checks of single values: each returns the value to keep or raises ValueError ----


def _number(low: float, high: float) -> Callable[[Any], float]:
    def check(value: Any) -> float:
        if isinstance(value, bool) or not isinstance(value, int | float) or math.isnan(value):
            raise ValueError("must be a number")
        if not low <= value <= high:
            raise ValueError(f"must be between {low:g} and {high:g}")
        return float(value)

    return check


def _integer(low: int, high: int) -> Callable[[Any], int]:
    def check(value: Any) -> int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ValueError("must be a whole number")
        if not low <= value <= high:
            raise ValueError(f"must be between {low} and {high}")
        return value

    return check


def _text(value: Any) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ValueError("must be a non-empty string")
    if len(value) > 4096 or "\x00" in value:
        raise ValueError("must be one string of at most 4096 characters, without NUL")
    return value


def _name(value: Any) -> str:
    if not isinstance(value, str) or not _NAME.fullmatch(value):
        raise ValueError("must be letters, digits, '-', '_' or '.', at most 64 characters")
    return value


def _regex(value: Any) -> str:
    vet_regex(_text(value))
    return str(value)


def _path(value: Any) -> str:
    path = os.path.expanduser(_text(value))
    if not os.path.isabs(path):
        raise ValueError("must be an absolute path")
    return path


def _flag(value: Any) -> bool:
    if not isinstance(value, bool):
        raise ValueError("must be true or false")
    return value


def _choice(*options: str) -> Callable[[Any], str]:
    def check(value: Any) -> str:
        if value not in options:
            raise ValueError(f"must be one of {', '.join(options)}")
        return str(value)

    return check


def _argv(value: Any) -> tuple[str, ...]:
    if isinstance(value, str):
        raise ValueError('must be a list of arguments, run without a shell: ["df", "-h", "/"]')
    if not isinstance(value, list) or not value:
        raise ValueError('must be a non-empty list of arguments: ["df", "-h", "/"]')
    if not all(isinstance(a, str) and "\x00" not in a and len(a) <= 4096 for a in value):
        raise ValueError("must hold strings only (no NUL, at most 4096 characters each)")
    if not value[0]:
        raise ValueError("must start with the program to run")
    return tuple(value)


def _unit(value: Any) -> str:
    if not isinstance(value, str) or not _UNIT.fullmatch(value):
        raise ValueError("must be a systemd unit name, e.g. nginx.service")
    return value


_CHECKS: dict[str, Callable[[Any], Any]] = {
    "name": _name,
    "interval": _number(0.1, 86_400),
    "process": _text,
    "pattern": _regex,
    "port": _integer(1, 65_535),
    "method": _choice("auto", "psutil", "connect"),
    "path": _path,
    "preset": _choice(*PRESETS),
    "from_start": _flag,
    "max_line": _integer(256, 65_536),
    "command": _argv,
    "timeout": _number(0.1, 3600),
    "max_output": _integer(1, 16_384),
    "cwd": _path,
    "unit": _unit,
}

# What each kind needs beyond a name: all of the first tuple, one of the second.
_NEEDS: dict[type[WatchSpec], tuple[tuple[str, ...], tuple[str, ...]]] = {
    ProcessWatch: ((), ("process", "pattern")),
    PortWatch: (("port",), ()),
    LogWatch: ((), ("pattern", "preset")),
    CommandWatch: (("command",), ()),
    ServiceWatch: (("unit",), ()),
}


def parse_entry(entry: Any, where: str) -> WatchSpec:
    """One [[watchers]] entry of a polled kind; ConfigError (one line) when it is wrong."""
    if not isinstance(entry, dict):
        raise ConfigError(f"{where}: must be a table")
    name = entry.get("name")
    if isinstance(name, str) and _NAME.fullmatch(name):
        where = f"{where} ({name})"
    kind = entry.get("kind")
    cls = KINDS.get(kind) if isinstance(kind, str) else None
    if cls is None:
        known = ", ".join(["file", *KINDS])
        raise ConfigError(f"{where}: kind = {str(kind)[:40]!r} is not a watcher kind ({known})")
    known_keys = {f.name for f in fields(cls)}
    values: dict[str, Any] = {}
    for key, value in entry.items():
        if key == "kind":
            continue
        if key not in known_keys:
            allowed = ", ".join(["kind", *sorted(known_keys)])
            raise ConfigError(
                f"{where}: unknown setting {key[:40]!r} for a {kind} watcher (known: {allowed})"
            )
        try:
            values[key] = _CHECKS[key](value)
        except ValueError as exc:
            raise ConfigError(f"{where}: {key} {exc}") from None
    if "name" not in values:
        raise ConfigError(f"{where}: needs a name")
    all_of, one_of = _NEEDS[cls]
    for key in all_of:
        if key not in values:
            raise ConfigError(f"{where}: a {kind} watcher needs {key}")
    given = [key for key in one_of if key in values]
    if one_of and len(given) != 1:
        raise ConfigError(f"{where}: a {kind} watcher needs exactly one of {' or '.join(one_of)}")
    if cls is LogWatch:
        if "preset" in values and "path" not in values:
            values["path"] = SSH_AUTH_LOG
        if "path" not in values:
            raise ConfigError(f"{where}: a log watcher needs path")
    return cls(**values)


def parse_watch_kinds(settings: Settings) -> tuple[WatchSpec, ...]:
    """Every polled [[watchers]] entry of config.toml, checked; names unique among all."""
    where = f"{settings.config_file}: [[watchers]]"
    taken = {w.name for w in settings.watchers}
    specs: list[WatchSpec] = []
    for item in settings.watch_kinds:
        if not (isinstance(item, tuple) and len(item) == 2 and isinstance(item[0], int)):
            raise ConfigError(f"{settings.config_file}: watch_kinds is not a setting")
        index, entry = item
        spec = parse_entry(entry, f"{where} entry {index}")
        if spec.name in taken:
            raise ConfigError(
                f"{where} entry {index}: another watcher is named {spec.name!r} already"
            )
        taken.add(spec.name)
        specs.append(spec)
    return tuple(specs)
