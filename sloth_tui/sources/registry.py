"""The registry of sources: one line per kind, each a factory from Settings.

A kind's factory reads its part of config.toml (and the caller's SourceOptions) and
returns the sources it stands for: none when it is switched off, one per entry for a
list such as [[watchers]]. The order of REGISTRY is the start order; `SourceSet`
(sources/wiring.py) stops them in reverse. A new producer is one module with a Source
class and a factory, plus one line here.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Sequence
from typing import TYPE_CHECKING

from sloth_tui.config import Settings
from sloth_tui.sources.backup_schedule import backup_sources
from sloth_tui.sources.checks import check_sources
from sloth_tui.sources.demo import demo_sources
from sloth_tui.sources.fleet import fleet_sources
from sloth_tui.sources.http_listener import http_sources
from sloth_tui.sources.monitor import monitor_sources
from sloth_tui.sources.options import SourceOptions
from sloth_tui.sources.schedules import schedule_sources
from sloth_tui.sources.secret_due import secret_due_sources
from sloth_tui.sources.sloth_runner import bridge_sources
from sloth_tui.sources.socket import socket_sources
from sloth_tui.sources.watch_kinds import host_watcher_sources
from sloth_tui.sources.watchers import watcher_sources

if TYPE_CHECKING:
    from sloth_tui.engine.api import Source

__all__ = ["REGISTRY", "Factory", "SourceOptions", "build_sources"]


Factory = Callable[[Settings, SourceOptions], Sequence["Source"]]

REGISTRY: dict[str, Factory] = {
    "socket": socket_sources,
    "http": http_sources,  # serve --http / [http]: events, webhooks, metrics
    "monitor": monitor_sources,
    "watchers": watcher_sources,
    "host_watchers": host_watcher_sources,  # process, port, log, command, service
    "checks": check_sources,
    "schedules": schedule_sources,
    "secrets": secret_due_sources,
    "backup": backup_sources,  # [backup] schedule
    "demo": demo_sources,
    "sloth_runner": bridge_sources,
    # serve --nats / [nats]: last to start, first to stop: the engine's own producers are
    # up before it takes the fleet's work, and it leaves the fleet before they stop.
    "nats": fleet_sources,
}


def build_sources(
    settings: Settings, options: SourceOptions, kinds: Collection[str] | None = None
) -> list[Source]:
    """Every source the config and the options ask for, in start order (`kinds`: only these)."""
    return [
        source
        for kind, factory in REGISTRY.items()
        if kinds is None or kind in kinds
        for source in factory(settings, options)
    ]
