"""EngineAPI: the one typed interface every screen, command and producer goes through.

Two classes implement it: `engine.engine.Engine` (in this process) and
`remote.client.RemoteEngine` (the same calls over the daemon's socket). mypy checks
both against this Protocol wherever one is passed as an EngineAPI, and
tests/engine/test_api_parity.py compares their signatures member by member. The
socket's operations are one table (`remote/ops.TABLE`, an Op per method below) from
which the server's handlers and RemoteEngine's requests are both derived, so a new
operation is written here, in Engine, as one Op, and as one line in RemoteEngine
(the parity test fails while one of them is missing).

`Source` is the interface of a producer (`sources/registry.py` builds them from the
config); it lives here because a source is handed an EngineAPI when it starts.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from sloth_tui.model.errors import EventRefused
from sloth_tui.model.explain import HookVerdict
from sloth_tui.model.filters import Filter
from sloth_tui.model.fleet import FleetStatus, OutboxItem
from sloth_tui.model.mirror import MirrorBatch, MirrorResult
from sloth_tui.model.records import Event, Execution, Hook
from sloth_tui.model.replay import ReplayReport
from sloth_tui.model.stats import EngineStats, HookStats, SourceHealth, SourceItem
from sloth_tui.model.trace import Trace

if TYPE_CHECKING:
    from sloth_tui.config import Settings
    from sloth_tui.engine.bus import Subscription
    from sloth_tui.engine.pending_state import StateBackend

# (type, data, source, strict[, stack, agent, run_id]): one event of a batch, as a socket
# line gives it. The optional three are Sloth Runner's context (None = none).
EventLine = tuple[Any, Any, str, bool | None] | tuple[Any, Any, str, bool | None, Any, Any, Any]


def full_line(
    item: EventLine,
) -> tuple[Any, Any, str, bool | None, Any, Any, Any]:
    """An event line with its context spelled out (None for a short line's)."""
    if len(item) == 4:
        return (*item, None, None, None)
    return item


# (line, message) of a Lua compile error; None when the code compiles.
SyntaxProblem = tuple[int, str] | None


class EngineAPI(Protocol):
    """What a screen, a command or a producer may ask of an engine, local or remote."""

    # -- who this engine is ------------------------------------------------------------

    @property
    def settings(self) -> Settings: ...

    @property
    def remote(self) -> bool:
        """True over the socket: the dashboard says so, and paths are the daemon's."""
        ...

    @property
    def readonly(self) -> bool: ...

    @property
    def started(self) -> float:
        """When the engine started (epoch seconds)."""
        ...

    @property
    def info(self) -> dict[str, Any]:
        """version, pid, home, socket, hooks_dir, started: for headers and `doctor`."""
        ...

    # -- events ---------------------------------------------------------------------------

    async def dispatch(
        self,
        type: str,
        data: dict[str, Any] | None = None,
        *,
        source: str = "cli",
        parent: Event | None = None,
        strict: bool | None = None,
        wait: bool = False,
        stack: str | None = None,
        agent: str | None = None,
        run_id: str | None = None,
    ) -> Event: ...

    async def dispatch_and_run(
        self,
        type: str,
        data: dict[str, Any] | None = None,
        *,
        source: str = "cli",
        strict: bool | None = None,
        stack: str | None = None,
        agent: str | None = None,
        run_id: str | None = None,
    ) -> tuple[Event, list[Execution]]: ...

    async def dispatch_batch(self, items: list[EventLine]) -> list[Event | EventRefused]:
        """Many top-level events in one store write; each item is checked alone and a
        refused one comes back as its EventRefused (socket ingest, `event dispatch -`)."""
        ...

    async def rerun(
        self, event_id: int, hooks: list[str] | None = None
    ) -> tuple[Event, list[Execution]]: ...

    async def mirror(self, batch: MirrorBatch) -> MirrorResult:
        """Another engine's rows (the Sloth Runner bridge), each key taken in once, with
        the mirror's cursor stored in the same transaction (model/mirror.py)."""
        ...

    async def mirror_cursor(self, name: str) -> str | None:
        """Where the mirror `name` resumes: the cursor of its last whole batch."""
        ...

    async def get_event(self, event_id: int) -> Event: ...

    async def query_events(
        self,
        flt: Filter | None = None,
        *,
        limit: int = 100,
        before_id: int | None = None,
        after_id: int | None = None,
        since: float | None = None,
        until: float | None = None,
    ) -> list[Event]: ...

    async def count_events(self, flt: Filter | None = None) -> int: ...

    async def child_events(self, event_id: int) -> list[Event]: ...

    async def executions_of(self, event_id: int) -> list[Execution]: ...

    async def executions(
        self,
        hook: str | None = None,
        event_id: int | None = None,
        status: str | None = None,
        only_failed: bool = False,
        include_dry_runs: bool = True,
        before_id: int | None = None,
        limit: int = 100,
    ) -> list[Execution]: ...

    async def hook_outcomes(self, event_ids: list[int]) -> dict[int, list[tuple[str, str]]]: ...

    async def delete_event(self, event_id: int) -> None: ...

    async def cleanup(self, older_than: float) -> int: ...

    async def counts(self) -> dict[str, Any]: ...

    # -- hooks ----------------------------------------------------------------------------

    async def list_hooks(self) -> list[Hook]: ...

    async def get_hook(self, name: str) -> Hook: ...

    async def add_hook(
        self,
        name: str,
        events: list[str],
        file: str | Path,
        *,
        description: str = "",
        enabled: bool = True,
        timeout: float | None = None,
        max_instructions: int | None = None,
        max_memory_mb: int | None = None,
        stack: str | None = None,
    ) -> Hook: ...

    async def update_hook(self, name: str, **changes: Any) -> Hook: ...

    async def set_hook_enabled(self, name: str, enabled: bool) -> Hook: ...

    async def delete_hook(self, name: str) -> None: ...

    async def hook_stats(self) -> dict[str, HookStats]: ...

    async def test_hook(
        self,
        hook: Hook | str,
        event_type: str | None = None,
        data: dict[str, Any] | None = None,
        *,
        event: Event | None = None,
        code: str | None = None,
    ) -> Execution: ...

    async def replay(self, name: str, *, code: str | None = None, last: int = 50) -> ReplayReport:
        """`code` (default: the hook's file as it is now) run in dry run over the last
        `last` stored events the hook's patterns match, beside each one's recorded run.
        Performs no side effect and writes nothing to the store (model/replay.py)."""
        ...

    # -- why, and what followed -----------------------------------------------------------

    async def explain(self, event_id: int, hook: str | None = None) -> list[HookVerdict]:
        """For each hook (or the one named): whether and why it ran on the event, or why
        not (model/explain.py). NotFound for an event or a hook that does not exist."""
        ...

    async def trace(self, event_id: int) -> Trace:
        """The tree the event belongs to, from its root: events, the runs on each, the
        events each run dispatched (model/trace.py). NotFound for a missing event."""
        ...

    # -- Lua, checked where the hooks run (an attached editor asks the daemon) ------------

    async def check_syntax(self, code: str, chunkname: str = "hook") -> SyntaxProblem: ...

    async def declared_event_types(self, path: str) -> list[str]: ...

    # -- notices, figures, lifecycle ------------------------------------------------------

    def subscribe(self, maxsize: int = 10_000) -> Subscription: ...

    async def wait_subscribed(self, timeout: float = 5.0) -> bool:
        """Until notices flow after subscribe() (at once for a local engine)."""
        ...

    def stats(self) -> EngineStats: ...

    async def source_health(self) -> list[SourceHealth]:
        """One line per producer of the serving engine ([] for one that serves nothing)."""
        ...

    async def source_items(self) -> list[SourceItem]:
        """What the serving engine's producers let an operator switch or run: each
        schedule, each check ([] when none does)."""
        ...

    async def control_source(self, source: str, item: str, action: str) -> str:
        """enable, disable or run `item` of producer `source`; the outcome in one line.
        Raises SlothError (one line) when the source, the item or the action is not one
        it has."""
        ...

    async def fleet_status(self) -> FleetStatus:
        """The fleet this engine belongs to (serve --nats): its members, its link, its
        counters. FleetStatus() (joined False) for an engine in no fleet."""
        ...

    async def claim_once(self, key: str, ttl_hint: float) -> bool:
        """Whether this engine does the once-only work named `key` (a schedule's fire at
        one due time): always True alone; in a fleet, True for exactly one engine (the
        first to create `key` in the claims bucket). `ttl_hint`: seconds the claim must
        outlive (the bucket keeps claims a day)."""
        ...

    async def wait_idle(self, timeout: float = 30.0) -> bool: ...

    async def close(self, reason: str | None = None) -> None:
        """Local: stop the engine. Remote: detach (the daemon keeps running)."""
        ...


class Source(Protocol):
    """A producer of events: built from config by the registry, started with an engine."""

    @property
    def name(self) -> str: ...

    async def start(self, api: EngineAPI) -> None:
        """Begin producing. Raises SlothError with a one-line reason when it cannot."""
        ...

    async def stop(self) -> None:
        """Stop producing; what was accepted is handed to the engine before returning."""
        ...

    def health(self) -> SourceHealth: ...


@runtime_checkable
class Controllable(Protocol):
    """What a Source may add so an operator can act on its items from the dashboard
    (EngineAPI.control_source): list them, and do one of their actions. The wiring
    checks the action against the item's `actions` before calling `control`."""

    def control_items(self) -> list[SourceItem]: ...

    async def control(self, item: str, action: str) -> str:
        """Do `action` ("enable", "disable", "run") on `item`; the outcome in one line.
        Raises SlothError (one line) for an item it does not have."""
        ...


class FleetPort(Protocol):
    """What the fleet (sloth_tui/fleet, started by sources/fleet.py) needs of an engine
    beyond EngineAPI. Only an engine in this process has it (`FleetCapable`): a fleet
    member runs its hooks and owns its store."""

    def report_fleet(self, status: Callable[[], FleetStatus]) -> None:
        """Where EngineAPI.fleet_status() reads from."""
        ...

    def report_claims(self, claim: Callable[[str, float], Awaitable[bool]]) -> None:
        """Where EngineAPI.claim_once() asks while in a fleet (fleet/membership.py)."""
        ...

    async def outbox_enable(self) -> None:
        """From now on, every event and run this engine records itself (origin NULL, not a
        dry run) is put in the outbox in the same transaction."""
        ...

    async def outbox_take(self, limit: int) -> list[OutboxItem]:
        """The oldest `limit` outbox rows with their records, oldest first."""
        ...

    async def outbox_done(self, seqs: Sequence[int]) -> None:
        """NATS has these: out of the outbox."""
        ...

    async def outbox_depth(self) -> int: ...

    async def fleet_ids(self, local_ids: Sequence[int]) -> dict[int, str]:
        """Local event ids -> the fleet ids of the copies of other engines' events among
        them (the reverse of local_ids); this engine's own events are left out."""
        ...

    async def local_ids(self, keys: Sequence[str]) -> dict[str, int]:
        """Fleet ids (mirror keys) -> the local ids of the events taken in under them."""
        ...

    async def run_hook(self, event_id: int, hook: str) -> Execution | None:
        """Run one hook on one stored event for the fleet (trigger "event"), returning
        once its record is committed; None when the hook does not run on it here (gone,
        disabled, its `when` or stack says no): nothing is recorded then."""
        ...

    def use_state(self, backend: StateBackend | None) -> None:
        """Hook state (`state.*`) lives in `backend` from now on (the fleet's KV bucket):
        reads go there, and each real run's writes as it ends, before its record
        commits. None: back to the store. Raises when this engine runs no hooks."""
        ...

    async def own_runs_since(self, since: float) -> list[tuple[str, int, int, str | None]]:
        """This engine's own runs handed out by the fleet (trigger event, not a dry run)
        started at `since` or later: (hook, execution id, event id, the event's fleet
        key when taken in from another engine, None when it is this engine's)."""
        ...


@runtime_checkable
class FleetCapable(Protocol):
    def fleet_port(self) -> FleetPort: ...


class SourceControls(Protocol):
    """What a local engine delegates source_items/control_source to: the wiring that
    started its producers (sources/wiring.py's SourceSet), as with source_health."""

    def source_items(self) -> list[SourceItem]: ...

    async def control_source(self, source: str, item: str, action: str) -> str: ...


__all__ = [
    "Controllable",
    "EngineAPI",
    "EventLine",
    "FleetCapable",
    "FleetPort",
    "Source",
    "SourceControls",
    "SourceHealth",
    "SourceItem",
    "SyntaxProblem",
    "full_line",
]
