"""The fleet membership (sloth_tui/fleet) as a Source: `serve --nats URL` or [nats] url.

`serve` joins as a member: it publishes, takes the fleet in, runs its share of the hooks
and heartbeats. A dashboard's embedded engine given a nats:// URL joins as an observer
(fleet/parts.part_classes). The kind is required: an operator who asked for a fleet and
gave a bad [nats] table or a name another live engine holds gets an error. NATS being
down is no such error: the engine runs alone and the link keeps trying.
"""

from __future__ import annotations

import contextlib
import logging
from typing import TYPE_CHECKING

from sloth_tui.config import ConfigError, Settings
from sloth_tui.fleet.link import FleetLink
from sloth_tui.fleet.parts import FleetContext, FleetPart, MembersView, part_classes
from sloth_tui.fleet.settings import FleetSettings, fleet_settings
from sloth_tui.model.errors import SlothError
from sloth_tui.model.fleet import FleetStatus
from sloth_tui.sources.status import Status

if TYPE_CHECKING:
    from sloth_tui.engine.api import EngineAPI, FleetPort
    from sloth_tui.model.stats import SourceHealth
    from sloth_tui.sources.options import SourceOptions

log = logging.getLogger("sloth_tui.fleet")


class FleetError(SlothError):
    pass


class FleetSource:
    name = "fleet"
    kind = "nats"
    # agent.* from the members' heartbeats (fleet/membership.py), recorded once fleet-wide
    produces: tuple[str, ...] = (
        "agent.registered",
        "agent.connected",
        "agent.disconnected",
        "agent.heartbeat_failed",
        "agent.version_mismatch",
    )

    def __init__(self, fleet: FleetSettings) -> None:
        self.fleet = fleet
        self.link = FleetLink(fleet)
        self.parts: list[FleetPart] = []
        self.ctx: FleetContext | None = None
        self._status = Status(self.name, self.kind)

    async def start(self, api: EngineAPI) -> None:
        # getattr, not isinstance(api, FleetCapable): the wiring hands a source a counting
        # wrapper that forwards members by __getattr__, which runtime protocol checks
        # (getattr_static) do not see.
        fleet_port = getattr(api, "fleet_port", None)
        if fleet_port is None:
            raise self._status.failed(
                FleetError("a fleet member needs its engine in this process (not attached)")
            )
        port: FleetPort = fleet_port()
        self.ctx = ctx = FleetContext(api=api, port=port, link=self.link, fleet=self.fleet)
        port.report_fleet(self.status)
        await port.outbox_enable()
        started: list[FleetPart] = []
        try:
            for cls in part_classes(self.fleet.observer):
                part = cls()
                await part.start(ctx)
                started.append(part)
            self.parts = started
            await self.link.start()
        except SlothError as exc:
            for part in reversed(started):
                with contextlib.suppress(Exception):
                    await part.stop()
            raise self._status.failed(exc) from None
        self._status.running()

    async def stop(self) -> None:
        for part in reversed(self.parts):
            try:
                await part.stop()
            except Exception:
                log.exception("fleet: part %s failed to stop", part.name)
        await self.link.stop()
        self._status.stopped()

    def status(self) -> FleetStatus:
        members = []
        for part in self.parts:
            if isinstance(part, MembersView):
                members = part.members()
        counters = dict(self.ctx.counters.values) if self.ctx is not None else {}
        return FleetStatus(
            joined=True,
            url=self.fleet.shown_url,
            name=self.fleet.name,
            connected=self.link.connected,
            observer=self.fleet.observer,
            error=self.link.error,
            members=tuple(members),
            counters=counters,
        )

    def health(self) -> SourceHealth:
        state = "connected" if self.link.connected else "not connected"
        role = "observer" if self.fleet.observer else "member"
        detail = f"{role} {self.fleet.name} · {self.fleet.shown_url} · {state}"
        if self.link.error and not self.link.connected:
            detail += f" · {self.link.error}"
        return self._status.health(detail)


def fleet_sources(settings: Settings, options: SourceOptions) -> list[FleetSource]:
    """The registry's line: one membership when `--nats` or [nats] url says where.
    Raises ConfigError on a bad [nats] (before anything starts)."""
    fleet = fleet_settings(
        settings, options.nats, name=options.nats_name, observer=options.role != "serve"
    )
    if fleet is None:
        if options.nats_name is not None:
            raise ConfigError(
                f"--name {options.nats_name!r} names this engine in a fleet: "
                "say which with --nats URL (or [nats] url in config.toml)"
            )
        return []
    return [FleetSource(fleet)]
