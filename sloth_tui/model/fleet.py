"""What an engine knows of the fleet it belongs to (serve --nats): the records of
`EngineAPI.fleet_status()`, shown by `sloth-tui fleet status` and the Fleet screen.

An engine that is not in a fleet answers `FleetStatus()` (joined False, no members).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

# A member's state as the fleet sees it, from its heartbeats (fleet/membership.py).
MEMBER_STATES = ("up", "late", "down")


@dataclass(frozen=True, slots=True)
class FleetMember:
    """One engine of the fleet, from its last heartbeat."""

    name: str
    host: str = ""
    version: str = ""
    state: str = "up"  # one of MEMBER_STATES
    last_heartbeat: float = 0.0  # epoch seconds of the last heartbeat seen
    started: float = 0.0
    hooks: int = 0  # hooks in its registry
    events_per_s: float = 0.0
    runs_per_s: float = 0.0  # hook runs per second
    queue_depth: int = 0  # hook runs waiting in its dispatcher
    lag: int = 0  # fleet events it has not taken in yet (its intake consumer's pending)
    outbox: int = 0  # its own events and runs not yet published

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "host": self.host,
            "version": self.version,
            "state": self.state,
            "last_heartbeat": self.last_heartbeat,
            "started": self.started,
            "hooks": self.hooks,
            "events_per_s": self.events_per_s,
            "runs_per_s": self.runs_per_s,
            "queue_depth": self.queue_depth,
            "lag": self.lag,
            "outbox": self.outbox,
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> FleetMember:
        return cls(
            name=str(d["name"]),
            host=str(d.get("host") or ""),
            version=str(d.get("version") or ""),
            state=str(d.get("state") or "up"),
            last_heartbeat=float(d.get("last_heartbeat") or 0.0),
            started=float(d.get("started") or 0.0),
            hooks=int(d.get("hooks") or 0),
            events_per_s=float(d.get("events_per_s") or 0.0),
            runs_per_s=float(d.get("runs_per_s") or 0.0),
            queue_depth=int(d.get("queue_depth") or 0),
            lag=int(d.get("lag") or 0),
            outbox=int(d.get("outbox") or 0),
        )


@dataclass(frozen=True, slots=True)
class FleetStatus:
    """This engine's view of its fleet. `counters` are its own since start: published,
    taken_in, refused (bad messages on the fleet's subjects), runs, runs_skipped_done
    (a redelivery whose run another engine had finished), and so on, by name."""

    joined: bool = False  # serve --nats (or [nats] url) was asked for
    url: str = ""  # the NATS server(s), credentials left out
    name: str = ""  # this engine's name in the fleet
    connected: bool = False  # the link to NATS is up now
    observer: bool = False  # a dashboard's view: takes events in, runs no hooks
    error: str = ""  # the last link problem, one line ("" when none)
    members: tuple[FleetMember, ...] = ()
    counters: dict[str, int] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "joined": self.joined,
            "url": self.url,
            "name": self.name,
            "connected": self.connected,
            "observer": self.observer,
            "error": self.error,
            "members": [m.to_dict() for m in self.members],
            "counters": dict(self.counters),
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> FleetStatus:
        return cls(
            joined=bool(d.get("joined")),
            url=str(d.get("url") or ""),
            name=str(d.get("name") or ""),
            connected=bool(d.get("connected")),
            observer=bool(d.get("observer")),
            error=str(d.get("error") or ""),
            members=tuple(FleetMember.from_dict(m) for m in d.get("members") or ()),
            counters={str(k): int(v) for k, v in (d.get("counters") or {}).items()},
        )


@dataclass(frozen=True, slots=True)
class OutboxItem:
    """One row of the store's fleet outbox: an event or a run this engine has yet to
    publish. `record` is None when it is gone from the store meanwhile (trimmed)."""

    seq: int
    kind: str  # "event" or "execution"
    ref: int  # the event's or the execution's local id
    record: Any = None  # Event or Execution (model/records.py)
