"""Running one hook on one stored event for the fleet (FleetPort.run_hook), and the
engine's own fleet runs since a time (FleetPort.own_runs_since, for the runner's start).

In a fleet (Engine(fleet=True)) admission stores an event whose hooks match as pending
and queues nothing: fleet/runner.py takes each (event, hook) from the hook's shared
consumer and asks this engine to run it here. The run goes through the dispatcher as a
rerun does, so the hook's policies (mode, throttle, retry, auto_disable...) apply as to
any run on this engine, and the answer comes once the record is committed: the runner
acks the message only after that, and an ack must follow a durable record.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from sloth_tui.model.errors import NotFound, SlothError
from sloth_tui.model.records import Execution

if TYPE_CHECKING:
    from sloth_tui.engine.engine import Engine

# (hook, execution id, event id here, the event's fleet key when taken in from another
# engine, None when it is this engine's own)
OwnRun = tuple[str, int, int, str | None]


class RunNotRecorded(SlothError):
    """The run ran but its record is not in the store (the write failed): not acked."""


async def run_hook(engine: Engine, event_id: int, hook: str) -> Execution | None:
    """Run `hook` on stored event `event_id` (trigger "event"); the execution, with its
    id here, once committed. None when it does not run here: the event is gone, the hook
    is missing or disabled, or its pattern, stack or `when` does not hold for the event.
    Raises RunNotRecorded when the run's record did not reach the store."""
    engine._check_open()
    try:
        event = await engine.store.get_event(event_id)
    except NotFound:
        return None
    matched = [h for h in engine.matcher.match(event.type, event.stack) if h.name == hook]
    if not matched:  # missing, disabled, another pattern or stack
        return None
    chosen = engine.matcher.admit(matched, event)
    if not chosen:  # its `when` says no: nothing is recorded, as at admission
        return None
    done = await engine._queue_hooks(event, chosen, None, wait=True, trigger="event")
    assert done is not None  # wait=True always gives a future
    executions = await done  # answered after the round holding the record committed
    if not executions:  # stopping cut the batch before the run: left for redelivery
        raise RunNotRecorded(f"hook {hook} did not run on event {event_id}: engine stopping")
    return await _recorded(engine, executions[0])


async def _recorded(engine: Engine, execution: Execution) -> Execution:
    """The execution as stored (with its id). The dispatcher answers waiters even when
    the write failed (the run did run); the fleet must not ack such a run, so it is
    read back: one indexed query (executions_event)."""
    rows = await engine.store.executions(
        hook=execution.hook, event_id=execution.event_id, include_dry_runs=False, limit=20
    )
    for row in rows:
        if row.started == execution.started and row.origin is None and row.id is not None:
            return row
    raise RunNotRecorded(
        f"the run of hook {execution.hook} on event {execution.event_id} was not recorded"
    )


async def own_runs_since(engine: Engine, since: float) -> list[OwnRun]:
    """This engine's own runs started at `since` or later, triggered by an event (the
    runs the fleet handed it; not reruns, retries, tests or dry runs), newest first,
    each with its event's fleet key when the event was taken in from another engine."""
    return await engine.store.own_event_runs_since(since)
