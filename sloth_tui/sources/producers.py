"""Who produces which catalog types in THIS install: config.toml's sources plus the
producers every install has.

Each Source class declares the type patterns it emits in a `produces` class attribute
(fnmatch patterns: "health.*", "schedule.triggered"). The sources of an install are
built through the registry exactly as `serve` builds them (SourceOptions' defaults: the
serve role, monitor and watchers on, no demo) but never started, so reading the map
costs a parse of config.toml and starts nothing. The producers that are not sources
(the engine itself, the CLI commands, the host modules, any client's dispatch) are the
table ALWAYS below: they come with every install.

The demo is not counted: it is a synthetic stream a dashboard is asked for
(`--demo`), not a producer of the install, and default options never build it.

A bad config.toml raises ConfigError (one line), as `serve` would.
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterable
from dataclasses import dataclass, field
from fnmatch import fnmatchcase
from pathlib import Path

from sloth_tui import catalog
from sloth_tui.config import Settings, load_settings
from sloth_tui.sources.options import SourceOptions
from sloth_tui.sources.registry import REGISTRY, build_sources

__all__ = [
    "ALWAYS",
    "EXAMPLE_CONFIG",
    "HOW",
    "Coverage",
    "Producer",
    "ProducerMap",
    "example_producers",
    "how_of",
    "install_producers",
]


@dataclass(frozen=True, slots=True)
class Producer:
    """One producer of this install: a built source or one of ALWAYS."""

    name: str  # "monitor", "watcher:etc", "check:web", "engine", "cli:backup"
    kind: str  # the registry's kind ("watchers"), or "engine", "cli", "host module", "clients"
    produces: tuple[str, ...]  # fnmatch patterns of catalog types

    def emits(self, type_name: str) -> bool:
        return any(fnmatchcase(type_name, p) for p in self.produces)


# The producers that are not sources: in every install, whatever config.toml says.
ALWAYS: tuple[Producer, ...] = (
    Producer(
        "engine",
        "engine",
        (
            "system.startup",
            "system.shutdown",
            "system.error",  # a source that fails to start, a watcher's failed look
            "state.locked",  # state.lock()/unlock() in hooks
            "state.unlocked",
            "state.corrupted",  # the start-up integrity check
            "db.migration",
            "db.query_slow",
            "db.error",
        ),
    ),
    Producer("cli:backup", "cli", ("backup.*", "restore.*")),
    Producer("cli:secret", "cli", ("secret.created", "secret.updated", "secret.deleted")),
    Producer(
        "cli:schedule",
        "cli",
        tuple(f"schedule.{w}" for w in ("created", "updated", "deleted", "enabled", "disabled")),
    ),
    Producer("secret.get", "host module", ("secret.accessed",)),
    # `custom` is anyone's: `event dispatch custom`, a hook's event.emit, a socket client.
    Producer("dispatch", "clients", ("custom",)),
)

# How to get each producer (by name for ALWAYS, else by the registry's kind), for the
# table `event producers` prints.
HOW: dict[str, str] = {
    "engine": "always (every engine)",
    "engine:state_events": 'state_events = ["PREFIX"] (top level of config.toml)',
    "cli:backup": "always: sloth-tui backup, sloth-tui restore FILE",
    "cli:secret": "always: sloth-tui secret set|rotate|delete",
    "cli:schedule": "always: sloth-tui schedule add|remove|enable|disable",
    "secret.get": "always: secret.get(name) in a hook",
    "dispatch": "always: sloth-tui event dispatch custom, event.emit in a hook",
    "socket": "always; needs serve --tcp HOST:PORT --token-file F",
    "monitor": "[monitor] (on by default)",
    "watchers": "[[watchers]] path = DIR (or sloth-tui watch add NAME PATH)",
    "host_watchers": "[[watchers]] kind = process|port|log|command|service",
    "checks": "[[checks]] kind = http|tcp|dns",
    "schedules": "[[schedules]] name, cron (or sloth-tui schedule add)",
    "secrets": "always in serve: secret set --expires/--rotate-after",
    "backup": "[backup] schedule = CRON, keep = N",
    "http": "[[webhooks]] with serve --http HOST:PORT (or [http] listen)",
    "demo": "sloth-tui dashboard --demo (synthetic: not counted)",
    "sloth_runner": "[sources.sloth_runner] db = PATH",
    "nats": "serve --nats URL (or [nats] url): the fleet's membership",
}


def how_of(producer: Producer) -> str:
    return HOW.get(producer.name) or HOW.get(producer.kind, producer.kind)


# A config.toml with every kind of source: what `event producers --example` reads, and
# what the tests hold to 14 of 16 categories.
EXAMPLE_CONFIG = """\
state_events = ["deploy:"]

[monitor]
enabled = true

[[watchers]]
name = "etc"
path = "/etc"

[[watchers]]
name = "nginx-up"
kind = "process"
process = "nginx"

[[watchers]]
name = "http-port"
kind = "port"
port = 80

[[watchers]]
name = "ssh"
kind = "log"
preset = "ssh-auth"

[[watchers]]
name = "disk"
kind = "command"
command = ["df", "-h", "/"]

[[watchers]]
name = "cron-unit"
kind = "service"
unit = "cron.service"

[[schedules]]
name = "nightly"
cron = "0 3 * * *"

[[checks]]
name = "web"
kind = "http"
url = "http://127.0.0.1:8080/health"

[[checks]]
name = "db-port"
kind = "tcp"
host = "127.0.0.1"
port = 5432

[[checks]]
name = "resolver"
kind = "dns"
host = "localhost"

[backup]
schedule = "0 4 * * *"
keep = 7

[sources.sloth_runner]
db = "/var/lib/sloth-runner/hooks.db"

[http]
listen = "127.0.0.1:8080"

[[webhooks]]
name = "github"
preset = "github"

[nats]
url = "nats://127.0.0.1:4222"
name = "web-1"
"""


@dataclass(frozen=True, slots=True)
class Coverage:
    """One category of the catalog in this install: the table's row."""

    category: str
    extension: str | None  # a category only Sloth Runner's extension types fill
    produced: int  # of its types, those something here produces
    types: int
    producers: tuple[str, ...]  # their names, each once
    how: tuple[str, ...]  # how each kind of those producers is configured (HOW)


@dataclass(frozen=True, slots=True)
class ProducerMap:
    """The producers of one install, and the questions the front ends ask of them."""

    producers: tuple[Producer, ...]
    config_file: Path | None = None
    _cache: dict[str, tuple[str, ...]] = field(default_factory=dict, compare=False, repr=False)

    def for_type(self, type_name: str) -> tuple[str, ...]:
        """The names of the producers that emit `type_name` here, in start order."""
        found = self._cache.get(type_name)
        if found is None:
            found = tuple(p.name for p in self.producers if p.emits(type_name))
            self._cache[type_name] = found
        return found

    def how_for(self, type_names: Iterable[str]) -> tuple[str, ...]:
        """How the producers of any of `type_names` are configured, each once, in order."""
        names = set(type_names)
        return tuple(
            dict.fromkeys(how_of(p) for p in self.producers if any(p.emits(t) for t in names))
        )

    def coverage(self) -> list[Coverage]:
        """Every category (the extensions' too), in the catalog's order."""
        rows = []
        for cat in catalog.categories(extensions=True):
            names = [t.type for t in cat.types]
            rows.append(
                Coverage(
                    category=cat.name,
                    extension=cat.extension,
                    produced=sum(1 for n in names if self.for_type(n)),
                    types=len(names),
                    producers=tuple(dict.fromkeys(p for n in names for p in self.for_type(n))),
                    how=self.how_for(names),
                )
            )
        return rows

    def produced_categories(self) -> list[str]:
        """The seed's categories (16) with at least one seed type produced here."""
        return [c.name for c in catalog.categories() if any(self.for_type(t.type) for t in c.types)]


def producers_of(settings: Settings, options: SourceOptions | None = None) -> list[Producer]:
    """The sources `serve` would build from this settings, each with its declaration."""
    opts = options or SourceOptions()
    out: list[Producer] = []
    for kind in REGISTRY:
        for source in build_sources(settings, opts, kinds=(kind,)):
            declared = getattr(source, "produces", ())
            out.append(Producer(source.name, kind, tuple(declared)))
    return out


def engine_options(settings: Settings) -> list[Producer]:
    """What the engine produces only when config.toml asks for it."""
    if not settings.state_events:  # opt-in: never one event per state write by default
        return []
    return [
        Producer(
            "engine:state_events", "engine", ("state.created", "state.updated", "state.deleted")
        )
    ]


def install_producers(settings: Settings) -> ProducerMap:
    """Every producer of this install: config.toml's sources, then the engine's opt-in
    events, then ALWAYS."""
    return ProducerMap(
        (*producers_of(settings), *engine_options(settings), *ALWAYS), settings.config_file
    )


def example_producers() -> ProducerMap:
    """The producers of an install configured with EXAMPLE_CONFIG (nothing is started;
    the config is read from a temporary directory, removed at once)."""
    with tempfile.TemporaryDirectory(prefix="sloth-example-") as home:
        (Path(home) / "config.toml").write_text(EXAMPLE_CONFIG, encoding="utf-8")
        return install_producers(load_settings(home))
