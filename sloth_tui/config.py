"""Settings: defaults < config.toml < environment < command-line flags.

Paths come from platformdirs unless a home dir is given (`--home` or
SLOTH_TUI_HOME), in which case data and config.toml both live in it.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

# platformdirs, tomllib and tempfile are imported where used: most commands run with
# --home or SLOTH_TUI_HOME and no config.toml, and every command's start-up counts
# (issue 19, cli_ratio).

if TYPE_CHECKING:
    from collections.abc import Callable

    from _typeshed import DataclassInstance

from sloth_tui.model.errors import SlothError

APP_NAME = "sloth-tui"
_T = TypeVar("_T", bound="DataclassInstance")


class ConfigError(SlothError):
    pass


@dataclass(frozen=True, slots=True)
class MonitorSettings:
    enabled: bool = True
    interval: float = 5.0  # seconds between samples
    cpu_percent: float = 90.0
    memory_percent: float = 90.0
    disk_percent: float = 90.0
    load_per_cpu: float = 2.0  # load average / cores that counts as high
    mount_points: tuple[str, ...] = ("/",)
    hysteresis: float = 5.0  # percent below the threshold before it may fire again


@dataclass(frozen=True, slots=True)
class WatcherSettings:
    """A file watcher: a [[watchers]] entry without `kind`, or with kind = "file"."""

    name: str
    path: str
    recursive: bool = True
    patterns: tuple[str, ...] = ("*",)
    ignore: tuple[str, ...] = ()


# -- [server]: what one socket client may cost the daemon (remote/connection.py) ---------


@dataclass(frozen=True, slots=True)
class ServerSettings:
    auth_timeout: float = 10.0  # seconds a TCP client has to send its token line
    idle_timeout: float = 600.0  # seconds without a request before a client is hung up; 0: never
    line_timeout: float = 30.0  # seconds a started line may stay unfinished
    max_pending_mb: float = 32.0  # replies and notices owed to one client, not yet read by it
    backlog: int = 1024  # connections the kernel holds while the daemon is busy accepting


SERVER_RANGES: dict[str, tuple[float, float]] = {
    "auth_timeout": (0.01, 3600),
    "idle_timeout": (0, 7 * 86_400),
    "line_timeout": (0.01, 3600),
    "max_pending_mb": (0.0625, 65_536),
    "backlog": (1, 65_535),
}


def _check_server(where: str, server: ServerSettings) -> ServerSettings:
    for key, (low, high) in SERVER_RANGES.items():
        value = getattr(server, key)
        if not (low <= value <= high):  # NaN fails this too
            raise ConfigError(f"{where}: {key} = {value!r} is out of range ({low:g} to {high:g})")
    return server


# -- [sandbox]: where file_ops may read and write (lua/modules/file_ops.py) ---------------


@dataclass(frozen=True, slots=True)
class SandboxSettings:
    # Resolved absolute directories; empty: the data dir's files/ and the system temp dir.
    file_roots: tuple[str, ...] = ()


def _sandbox(raw: Any, where: str) -> SandboxSettings:
    """Each root a string naming an absolute directory (or none yet), resolved now, so
    a symlinked root is fenced at its target and a typo is one line at load."""
    if not isinstance(raw, dict):
        raise ConfigError(f'{where}: must be a table, e.g. file_roots = ["/srv/hooks"]')
    unknown = sorted(set(raw) - {"file_roots"})
    if unknown:
        raise ConfigError(f"{where}: unknown setting {unknown[0]!r} (known: file_roots)")
    roots = raw.get("file_roots", [])
    if not isinstance(roots, list) or not all(isinstance(r, str) and r for r in roots):
        raise ConfigError(f'{where}: file_roots must be a list of paths, e.g. ["/srv/hooks"]')
    resolved = []
    for root in roots:
        path = os.path.expanduser(root)
        if not os.path.isabs(path):
            raise ConfigError(f"{where}: file_roots: {root!r} is not an absolute path")
        real = os.path.realpath(path)
        if real == os.path.realpath(os.sep):
            raise ConfigError(f"{where}: file_roots: {root!r} would open the whole filesystem")
        if os.path.exists(real) and not os.path.isdir(real):
            raise ConfigError(f"{where}: file_roots: {root!r} is not a directory")
        resolved.append(real)
    return SandboxSettings(file_roots=tuple(resolved))


@dataclass(frozen=True, slots=True)
class Settings:
    home: Path
    config_dir: Path
    strict: bool = False
    max_events: int = 1_000_000  # retention cap
    text_index: bool = True  # engine/text_index.py: a trigram index beside the store
    concurrency: int = 8  # hook runs at once
    queue_size: int = 10_000  # bounded dispatch queue
    max_depth: int = 8  # hook-dispatched event chains
    hook_timeout: float = 10.0
    hook_instructions: int = 100_000_000
    hook_memory_mb: int = 64
    hook_host_memory_mb: int = 16  # what one run may make the daemon hold (payloads, logs)
    # Key prefixes whose state.set/delete emit state.created/updated/deleted (one per key
    # per run, never per incr): opt-in, since most state is counters nobody watches.
    state_events: tuple[str, ...] = ()
    theme: str = "sloth-dark"
    replay_last: int = 50  # events the hook editor's replay (f5) runs the edited code over
    socket: Path | None = None  # default: home / "sloth.sock"
    monitor: MonitorSettings = field(default_factory=MonitorSettings)
    server: ServerSettings = field(default_factory=ServerSettings)
    watchers: tuple[WatcherSettings, ...] = ()
    # The other kinds of [[watchers]] (process, port, log, command, service) as TOML gave
    # them, each with its 1-based place among all entries: sources/watch_config.py parses
    # them into its own dataclasses (this module may import nothing of sources).
    watch_kinds: tuple[tuple[int, dict[str, Any]], ...] = ()
    filters: tuple[tuple[str, str], ...] = ()  # [filters]: (name, filter text), saved
    # [keymap]: binding id -> keys ("events.pause" = "ctrl+p,f9"); checked by the dashboard,
    # which knows the ids (tui/keymap.py), so a typo is one line naming the known ids.
    keymap: tuple[tuple[str, str], ...] = ()
    sandbox: SandboxSettings = field(default_factory=SandboxSettings)
    # Tables a producer reads itself (SOURCE_TABLES): ([sources.sloth_runner],
    # [[schedules]], [[checks]], ...) as TOML gave them. The module that owns one parses
    # it into its own dataclass and raises ConfigError on a bad entry; see `table()`.
    source_tables: tuple[tuple[str, Any], ...] = ()

    def table(self, name: str) -> Any:
        """The raw TOML value of one of SOURCE_TABLES (None when config.toml has none)."""
        return dict(self.source_tables).get(name)

    @property
    def file_roots(self) -> tuple[str, ...]:
        """Where file_ops may go: [sandbox] file_roots, or files/ in the data dir and the
        system temp dir."""
        if self.sandbox.file_roots:
            return self.sandbox.file_roots
        import tempfile

        return (str(self.home / "files"), os.path.realpath(tempfile.gettempdir()))

    @property
    def db_path(self) -> Path:
        return self.home / "sloth.db"

    @property
    def hooks_dir(self) -> Path:
        return self.home / "hooks"

    @property
    def lock_path(self) -> Path:
        return self.home / "engine.lock"

    @property
    def socket_path(self) -> Path:
        return self.socket or self.home / "sloth.sock"

    @property
    def config_file(self) -> Path:
        return self.config_dir / "config.toml"

    @property
    def themes_dir(self) -> Path:
        return self.config_dir / "themes"


# Top-level tables whose shape belongs to the producer that reads them: config.py keeps
# them as given, and each owner checks its own (a typo'd table name is still an error).
SOURCE_TABLES = (
    "sources",
    "schedules",
    "checks",
    "secrets",
    "backup",
    "http",
    "webhooks",
    "nats",
)

_TABLES = (
    "monitor",
    "watchers",
    "watch_kinds",
    "server",
    "filters",
    "keymap",
    "sandbox",
    "source_tables",
)
_SCALARS = {f.name: f.type for f in fields(Settings) if f.name not in _TABLES}

# Each number's sensible range, checked at load: `concurrency = 0` used to start an engine
# that never ran a hook, `max_events = -5` one that silently dropped events.
RANGES: dict[str, tuple[float, float]] = {
    "max_events": (1, 2**62),
    "concurrency": (1, 1024),
    "queue_size": (1, 10_000_000),
    "max_depth": (0, 64),
    "hook_timeout": (0.01, 86_400),
    "hook_instructions": (1_000, 10**12),
    "hook_memory_mb": (1, 65_536),
    "hook_host_memory_mb": (1, 65_536),
    "replay_last": (1, 500),  # engine/replay.py's MAX_LAST
}  # [monitor] is checked where it is used (sources/monitor.py: check_settings)


def _check_range(where: str, key: str, value: Any) -> None:
    if key == "state_events":  # the one list setting: its shape is its range
        _check_prefixes(where, value)
    bounds = RANGES.get(key)
    if bounds is None or isinstance(value, bool) or not isinstance(value, int | float):
        return
    low, high = bounds
    if not (low <= value <= high):  # NaN fails this too
        raise ConfigError(f"{where}: {key} = {value!r} is out of range ({low:g} to {high:g})")


def _check_prefixes(where: str, value: tuple[str, ...]) -> None:
    if len(value) > 64 or any(not p or len(p) > 256 for p in value):
        raise ConfigError(
            f"{where}: state_events must be at most 64 key prefixes of 1 to 256 characters, "
            'e.g. state_events = ["deploy:"]'
        )


_ENV_KEYS = (
    "strict",
    "max_events",
    "concurrency",
    "queue_size",
    "max_depth",
    "theme",
    "text_index",
)


# -- [filters]: named filters, `name = "filter text"` (the palette offers them) ----------

FILTER_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")


def _saved_filters(raw: Any, where: str) -> tuple[tuple[str, str], ...]:
    """Each name well formed and each text a valid filter, checked now (one line each)."""
    from sloth_tui.model.filters import FilterError, parse_filter

    if not isinstance(raw, dict):
        raise ConfigError(f'{where}: must be a table of name = "filter text"')
    saved = []
    for name, text in raw.items():
        if not FILTER_NAME.fullmatch(name):
            raise ConfigError(
                f"{where}: {name[:70]!r} is not a filter name (letters, digits, _ . -; at most 64)"
            )
        if not isinstance(text, str):
            raise ConfigError(f'{where}: {name} must be a string: {name} = "type:deploy.*"')
        try:
            parse_filter(text)
        except FilterError as exc:
            raise ConfigError(f"{where}: {name}: {exc}") from None
        saved.append((name, text))
    return tuple(saved)


# -- [keymap]: `binding.id = "keys"`, the dashboard's rebindings ------------------------


def _keymap(raw: Any, where: str) -> tuple[tuple[str, str], ...]:
    """Shape only (a table of strings); which ids exist is the dashboard's to say."""
    if not isinstance(raw, dict):
        raise ConfigError(f'{where}: must be a table of binding id = "keys"')
    pairs = []
    for binding_id, keys in raw.items():
        if not isinstance(keys, str) or not keys.strip():
            raise ConfigError(f'{where}: {binding_id[:70]!r} must be keys as text, e.g. "ctrl+p"')
        pairs.append((binding_id, keys))
    return tuple(pairs)


def default_home() -> Path:
    import platformdirs

    return user_dir(platformdirs.user_data_dir)


def user_dir(where: Callable[[str], str]) -> Path:
    """One of platformdirs' per-user dirs for sloth-tui. A ConfigError (one line) when
    the user has none: no HOME and no home in the password database, as in a container
    run under an arbitrary uid, where platformdirs raises RuntimeError."""
    try:
        return Path(where(APP_NAME))
    except RuntimeError:
        raise ConfigError(
            f"no home directory to keep sloth-tui's files under: HOME is not set and user id "
            f"{os.getuid()} has none in the password database; use --home DIR (or set "
            "SLOTH_TUI_HOME, or HOME)"
        ) from None


def _coerce(key: str, value: Any, kind: type | str) -> Any:
    kind_name = kind if isinstance(kind, str) else kind.__name__
    try:
        if kind_name == "bool":
            if isinstance(value, str):
                if value.lower() in ("1", "true", "yes", "on"):
                    return True
                if value.lower() in ("0", "false", "no", "off"):
                    return False
                raise ValueError(value)
            return bool(value)
        if kind_name == "int":
            if isinstance(value, bool):
                raise ValueError(value)
            return int(value)
        if kind_name == "float":
            return float(value)
        if kind_name.startswith("tuple"):
            if isinstance(value, str):
                return tuple(v for v in value.split(",") if v)
            return tuple(str(v) for v in value)
        if "Path" in kind_name:
            return Path(os.path.expanduser(str(value)))
        return str(value)
    except (TypeError, ValueError):
        raise ConfigError(f"config: {key} = {value!r} is not a valid {kind_name}") from None


def _apply(obj: _T, values: dict[str, Any], where: str) -> _T:
    known = {f.name: f.type for f in fields(obj)}
    changes: dict[str, Any] = {}
    for key, value in values.items():
        if key not in known:
            raise ConfigError(
                f"{where}: unknown setting {key!r} (known: {', '.join(sorted(known))})"
            )
        changes[key] = _coerce(key, value, known[key])
        _check_range(where, key, changes[key])
    return replace(obj, **changes)


def _read_toml(path: Path) -> dict[str, Any]:
    if not path.exists():
        return {}
    import tomllib

    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: {exc}") from None


def load_settings(home: str | Path | None = None, **overrides: Any) -> Settings:
    """Build Settings from every layer; `overrides` are command-line flags (None = not given)."""
    home_env = os.environ.get("SLOTH_TUI_HOME")
    if home is not None or home_env:
        typed = os.path.expanduser(str(home if home is not None else home_env))
        # realpath, not Path.resolve(): a symlink loop stays for the store to refuse in a
        # line (as sloth_tui/user_path.py's resolved(), which config may not import).
        home_path = Path(os.path.realpath(typed))
        config_dir = home_path
    else:
        import platformdirs

        home_path = default_home()
        config_dir = user_dir(platformdirs.user_config_dir)
    settings = Settings(home=home_path, config_dir=config_dir)

    raw = _read_toml(settings.config_file)
    where = str(settings.config_file)
    retention = raw.pop("retention", {})
    if "max_events" in retention:
        raw["max_events"] = retention["max_events"]
    monitor = raw.pop("monitor", None)
    watchers = raw.pop("watchers", None)
    server = raw.pop("server", None)
    saved_filters = raw.pop("filters", None)
    keymap = raw.pop("keymap", None)
    sandbox = raw.pop("sandbox", None)
    owned = tuple((name, raw.pop(name)) for name in SOURCE_TABLES if name in raw)
    settings = _apply(settings, raw, where)
    if owned:
        settings = replace(settings, source_tables=owned)
    if monitor is not None:
        settings = replace(
            settings, monitor=_apply(settings.monitor, monitor, f"{where} [monitor]")
        )
    if server is not None:
        if not isinstance(server, dict):
            raise ConfigError(f"{where}: [server] must be a table")
        where_server = f"{where} [server]"
        checked = _check_server(where_server, _apply(settings.server, server, where_server))
        settings = replace(settings, server=checked)
    if saved_filters is not None:
        settings = replace(settings, filters=_saved_filters(saved_filters, f"{where} [filters]"))
    if keymap is not None:
        settings = replace(settings, keymap=_keymap(keymap, f"{where} [keymap]"))
    if sandbox is not None:
        settings = replace(settings, sandbox=_sandbox(sandbox, f"{where} [sandbox]"))
    if watchers is not None:
        if not isinstance(watchers, list):
            raise ConfigError(
                f"{where}: watchers must be [[watchers]] entries (an array of tables)"
            )
        parsed = []
        kinds: list[tuple[int, dict[str, Any]]] = []
        for i, w in enumerate(watchers):
            if isinstance(w, dict) and w.get("kind", "file") != "file":
                kinds.append((i + 1, w))  # checked by its own parser (sources/watch_config.py)
                continue
            if not isinstance(w, dict) or "name" not in w or "path" not in w:
                raise ConfigError(f"{where}: [[watchers]] entry {i + 1} needs a name and a path")
            w = {k: v for k, v in w.items() if k != "kind"}
            parsed.append(_apply(WatcherSettings(name=w["name"], path=w["path"]), w, where))
        settings = replace(settings, watchers=tuple(parsed), watch_kinds=tuple(kinds))

    env = {
        key: os.environ[f"SLOTH_TUI_{key.upper()}"]
        for key in _ENV_KEYS
        if f"SLOTH_TUI_{key.upper()}" in os.environ
    }
    settings = _apply(settings, env, "environment")
    flags = {k: v for k, v in overrides.items() if v is not None}
    return _apply(settings, flags, "flags")


def value_origins(
    settings: Settings, flags: dict[str, Any] | None = None
) -> dict[str, tuple[str, str | None]]:
    """Where each value of `settings` (as `load_settings(..., **flags)` built it) came
    from, for `sloth-tui config show`: key -> (origin, via), origin one of "default",
    "file", "environment", "flag", and via the variable or the setting it came through
    (SLOTH_TUI_THEME, [retention] max_events) or None. Keys: each setting ("concurrency"),
    "monitor.KEY", "server.KEY" and "sandbox.KEY" per key of those tables, and the name
    of each table kept whole ("watchers", "filters", "keymap" and SOURCE_TABLES) present
    in the file. Call it after load_settings accepted the file: it reads it again."""
    raw = _read_toml(settings.config_file)
    origins: dict[str, tuple[str, str | None]] = {}
    for key in _SCALARS:
        if key in ("home", "config_dir"):
            continue  # where the data dir came from is the command line's to say
        origin: tuple[str, str | None] = ("default", None)
        if key in raw:
            origin = ("file", None)
        elif key == "max_events" and key in (raw.get("retention") or {}):
            origin = ("file", "[retention] max_events")
        variable = f"SLOTH_TUI_{key.upper()}"
        if key in _ENV_KEYS and variable in os.environ:
            origin = ("environment", variable)
        if (flags or {}).get(key) is not None:
            origin = ("flag", f"--{key.replace('_', '-')}")
        origins[key] = origin
    for table, obj in (
        ("monitor", settings.monitor),
        ("server", settings.server),
        ("sandbox", settings.sandbox),
    ):
        section = raw.get(table)
        given: dict[str, Any] = section if isinstance(section, dict) else {}
        for f in fields(obj):
            origins[f"{table}.{f.name}"] = ("file", None) if f.name in given else ("default", None)
    for table in ("watchers", "filters", "keymap", *SOURCE_TABLES):
        if table in raw:
            origins[table] = ("file", None)
    return origins
