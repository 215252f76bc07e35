"""The registry's line for the polled kinds of [[watchers]]: one source per entry.

File watchers stay with sources/watchers.py (and `sloth-tui watch add`); these kinds
are written in config.toml by hand and start with `serve` (`--no-watchers` leaves them
out too, and a dashboard's embedded engine runs none, as it runs no file watcher).
"""

from __future__ import annotations

from sloth_tui.config import Settings
from sloth_tui.sources.options import SourceOptions
from sloth_tui.sources.watch_base import PolledWatcher
from sloth_tui.sources.watch_command import CommandWatcher
from sloth_tui.sources.watch_config import (
    CommandWatch,
    LogWatch,
    PortWatch,
    ProcessWatch,
    WatchSpec,
    parse_watch_kinds,
)
from sloth_tui.sources.watch_log import LogWatcher
from sloth_tui.sources.watch_port import PortWatcher
from sloth_tui.sources.watch_process import ProcessWatcher
from sloth_tui.sources.watch_service import ServiceWatcher


def build_watcher(spec: WatchSpec) -> PolledWatcher:
    if isinstance(spec, ProcessWatch):
        return ProcessWatcher(spec)
    if isinstance(spec, PortWatch):
        return PortWatcher(spec)
    if isinstance(spec, LogWatch):
        return LogWatcher(spec)
    if isinstance(spec, CommandWatch):
        return CommandWatcher(spec)
    return ServiceWatcher(spec)


def host_watcher_sources(settings: Settings, options: SourceOptions) -> list[PolledWatcher]:
    """One source per process/port/log/command/service entry (none with --no-watchers);
    a wrong entry is a ConfigError naming it."""
    if not options.watchers:
        return []
    return [build_watcher(spec) for spec in parse_watch_kinds(settings)]
