"""The parts of an engine's membership in a fleet, each one job, started in order by
sources/fleet.py. A new part is one module with a class and one line in `part_classes`.

Every part gets the same FleetContext. Parts talk to the engine only through `api`
(EngineAPI, what every producer uses) and `port` (engine/api.FleetPort, what only a fleet
needs: the outbox, running one hook on one event). They never import the engine.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol, runtime_checkable

from sloth_tui.fleet.link import FleetLink
from sloth_tui.fleet.settings import FleetSettings

if TYPE_CHECKING:
    from sloth_tui.engine.api import EngineAPI, FleetPort
    from sloth_tui.model.fleet import FleetMember


@dataclass(slots=True)
class Counters:
    """What a part counts, by name, for fleet_status() and `fleet status`."""

    values: dict[str, int] = field(default_factory=dict)

    def add(self, name: str, n: int = 1) -> None:
        self.values[name] = self.values.get(name, 0) + n

    def gauge(self, name: str, value: int) -> None:
        """A figure of now, not a count: shown from its first non-zero value on, and
        back to 0 when what it measures is gone (not left at its highest)."""
        if value or name in self.values:
            self.values[name] = value


@dataclass(slots=True)
class FleetContext:
    api: EngineAPI
    port: FleetPort
    link: FleetLink
    fleet: FleetSettings
    counters: Counters = field(default_factory=Counters)

    @property
    def name(self) -> str:
        return self.fleet.name

    @property
    def prefix(self) -> str:
        return self.fleet.prefix


class FleetPart(Protocol):
    """One job of the fleet membership."""

    name: str

    async def start(self, ctx: FleetContext) -> None:
        """Begin; must not wait for NATS (use ctx.link.on_connect for what needs it).
        Raises SlothError (one line) only for what makes the membership impossible, such
        as another live engine with this one's name."""
        ...

    async def stop(self) -> None:
        """Stop; what was taken from NATS and not yet recorded is left unacked."""
        ...


@runtime_checkable
class MembersView(Protocol):
    """The part that knows the fleet's members (membership.Membership)."""

    def members(self) -> list[FleetMember]: ...


def part_classes(observer: bool) -> list[type[FleetPart]]:
    """The parts in start order (stopped in reverse). An observer (a dashboard's view of
    the fleet) takes events and runs in and may fire events; it runs no hooks and is no
    member."""
    from sloth_tui.fleet.intake import Intake
    from sloth_tui.fleet.members_watch import MembersWatch
    from sloth_tui.fleet.membership import Membership
    from sloth_tui.fleet.publisher import Publisher
    from sloth_tui.fleet.registry import RegistrySync
    from sloth_tui.fleet.runner import HookRunner

    if observer:  # MembersWatch: reads the members bucket (no heartbeats of its own)
        return [Publisher, Intake, MembersWatch]
    return [Membership, RegistrySync, Publisher, Intake, HookRunner]
