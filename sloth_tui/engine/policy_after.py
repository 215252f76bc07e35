"""What follows a run of a hook with a policy, on the loop: retries and auto-disable.

The dispatcher hands each stored real run of a hook whose policy has `retry` or
`auto_disable` to `ran()`:

- retry: a run whose status the policy retries, while attempts remain, gets another run
  of that hook on that event after Retry.delay_before(next attempt) seconds (a
  loop.call_later timer, then queued past the bound, as recovery is). Each attempt is its
  own execution, trigger "retry", attempt 2, 3, ... The event's status then follows the
  latest attempt of each of its hooks (`latest`). A retry pending when the engine stops
  (halt) is dropped: its timer is cancelled and the event keeps the status its last
  attempt gave it; nothing records it and nothing retries it at the next start.
- auto_disable N: after N real runs in a row that did not succeed (`skipped` neither
  counts nor resets the count) the hook is disabled through `disable` (the engine:
  registry + a system.warning), once, however many runs fail at once. The count lives in
  memory: a restart starts it again at 0. Enabling the hook clears it (forget()).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field

from sloth_tui.model.records import OK_STATUSES, Event, Execution, Hook

log = logging.getLogger("sloth_tui.engine")

# Queue a retry: (event, hook, attempt). Returns False when it cannot (stopping).
Requeue = Callable[[Event, Hook, int], bool]
# Disable a hook: (name, failures in a row, last error). Async: the registry writes.
Disable = Callable[[str, int, str], Coroutine[object, object, None]]
# The hook as it is now (None: deleted): a retry runs the current version, if enabled.
Lookup = Callable[[str], Hook | None]


@dataclass(slots=True)
class _Failures:
    count: int = 0
    last_error: str = ""


@dataclass
class FollowUps:
    requeue: Requeue
    lookup: Lookup
    disable: Disable | None = None  # set by the engine once it can disable hooks
    # event id -> hook -> status of its latest attempt, for events with a retry under way
    latest: dict[int, dict[str, str]] = field(default_factory=dict)
    _pending: dict[int, int] = field(default_factory=dict)  # event id -> retries to come
    _timers: set[asyncio.TimerHandle] = field(default_factory=set)
    _failures: dict[str, _Failures] = field(default_factory=dict)
    _disabling: set[str] = field(default_factory=set)
    _tasks: set[asyncio.Task[None]] = field(default_factory=set)
    halted: bool = False

    def ran(self, hook: Hook, event: Event, execution: Execution) -> None:
        """On the loop, once the run is stored: schedule its retry, count its failure."""
        if execution.trigger == "retry":
            self.retry_done(event.id)
        policy = hook.policy
        status = execution.status
        retry = policy.retry
        if retry is not None and not self.halted and retry.retries(status):
            attempt = execution.attempt + 1
            if attempt <= retry.attempts + 1:
                self._schedule(event, hook.name, attempt, retry.delay_before(attempt))
        if policy.auto_disable is not None and status != "skipped":
            self._count(hook.name, policy.auto_disable, execution)

    # -- retry ------------------------------------------------------------------------

    def _schedule(self, event: Event, name: str, attempt: int, delay: float) -> None:
        self.latest.setdefault(event.id, {})
        self._pending[event.id] = self._pending.get(event.id, 0) + 1
        loop = asyncio.get_running_loop()
        handle: asyncio.TimerHandle | None = None

        def fire() -> None:
            assert handle is not None
            self._timers.discard(handle)
            hook = self.lookup(name)
            if hook is None or not hook.enabled or not self.requeue(event, hook, attempt):
                self.retry_done(event.id)  # deleted or disabled meanwhile: no retry

        handle = loop.call_later(delay, fire)
        self._timers.add(handle)

    def recorded_before(self, event_id: int, outcomes: dict[str, str]) -> None:
        """Runs of the event recorded before a crash (hook -> status of its latest):
        recovery runs the others, and the event's status counts these too (settled)."""
        self.latest[event_id] = dict(outcomes)

    def retry_done(self, event_id: int) -> None:
        left = self._pending.get(event_id, 0) - 1
        if left > 0:
            self._pending[event_id] = left
        else:
            self._pending.pop(event_id, None)

    def settled(self, event: Event, executions: list[Execution]) -> bool:
        """The event's status once these runs are stored: ok (True) or failed, counting
        the latest attempt of each of its hooks when a retry is or was under way."""
        outcomes = self.latest.get(event.id) if self.latest else None
        if outcomes is None:
            if len(executions) == 1:  # most events: one hook (this runs once per event)
                return executions[0].status in OK_STATUSES
            return all(e.status in OK_STATUSES for e in executions)
        for execution in executions:
            outcomes[execution.hook] = execution.status
        if event.id not in self._pending:
            del self.latest[event.id]
        return all(status in OK_STATUSES for status in outcomes.values())

    @property
    def retries_due(self) -> int:
        """Retries scheduled and not yet run to their end (wait_idle does not count them:
        a stop must not wait an hour for a retry's delay)."""
        return sum(self._pending.values())

    def halt(self) -> None:
        """Stopping: pending retries are dropped (see the module docstring)."""
        self.halted = True
        for handle in self._timers:
            handle.cancel()
        self._timers.clear()
        self._pending.clear()
        self.latest.clear()

    def resume(self) -> None:
        self.halted = False

    # -- auto_disable -------------------------------------------------------------------

    def _count(self, name: str, limit: int, execution: Execution) -> None:
        failures = self._failures.setdefault(name, _Failures())
        if execution.status in OK_STATUSES:
            failures.count = 0
            return
        failures.count += 1
        failures.last_error = execution.error or execution.status
        if failures.count < limit or name in self._disabling or self.disable is None:
            return
        hook = self.lookup(name)
        if hook is None or not hook.enabled:
            return
        self._disabling.add(name)  # once: the runs failing meanwhile do not disable it again
        task = asyncio.get_running_loop().create_task(
            self.disable(name, failures.count, failures.last_error), name=f"auto-disable-{name}"
        )
        self._tasks.add(task)
        task.add_done_callback(self._disabled)

    def _disabled(self, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("auto-disable failed: %s", task.exception())

    def failures_in_a_row(self, name: str) -> int:
        """The hook's current streak of runs that did not succeed (auto_disable's count;
        in memory: 0 after a restart). For explain and the dashboard."""
        failures = self._failures.get(name)
        return 0 if failures is None else failures.count

    def forget(self, name: str) -> None:
        """The hook was enabled (or deleted): its failures in a row start again at 0."""
        self._failures.pop(name, None)
        self._disabling.discard(name)

    async def settle(self) -> None:
        """Wait for auto-disables under way (the engine, before it closes the store)."""
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)
