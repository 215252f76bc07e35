"""The gate a gated hook's run passes just before it starts: mode, throttle and dedupe.

Called in the pool thread (Dispatcher._run_jobs), right before the run, for hooks whose
policy is `gated` (model/policy.py); hooks without a policy never come here. Per
(hook, key value) slot, under one lock:

- mode single: a run while one is under way is not run; it is recorded `skipped`.
- mode queued: one at a time, in the order runs reach the gate; the others wait here,
  in their pool thread. No deadlock: a waiter waits only for runs under way (each in
  its own thread, ending within its deadline) or for waiters ahead of it, which wait
  for the same. A halt wakes every waiter, which then leaves: its event stays
  unfinished, for recovery, like other work dropped at a stop.
- mode restart: a new run cancels the ones under way (their CancelToken, lua/worker.py)
  and starts at once. A cancelled run is recorded `skipped` ("cancelled: restarted for
  event N") when the cancel stopped it; one that finished first keeps its outcome.
- throttle / dedupe: checked once the mode lets the run start; a suppressed run is
  recorded `skipped` with the reason. Only runs that start count toward them.

Time for the windows comes from `clock` (wall seconds; tests pass a manual one).
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Generic, TypeVar

from sloth_tui.lua.worker import CancelToken, cancel_next_run
from sloth_tui.model.policy import MISSING_KEY, HookPolicy, format_seconds
from sloth_tui.model.records import Event, Execution, Hook

E = TypeVar("E")  # a run's effects: whatever the run function returns beside its record

PRUNE_ABOVE = 10_000  # slots kept before idle ones are swept (key values are unbounded)


@dataclass(eq=False, slots=True)
class _Ticket:
    event_id: int
    token: CancelToken | None = None


@dataclass(slots=True)
class _Slot:
    running: list[_Ticket] = field(default_factory=list)
    waiting: deque[_Ticket] = field(default_factory=deque)  # queued mode, in arrival order
    starts: deque[float] = field(default_factory=deque)  # throttle: starts in the window
    last: tuple[float, int] | None = None  # dedupe: (time, event id) of the last start
    keep_until: float = 0.0  # the end of the longest window the last start counts in

    def idle(self, now: float) -> bool:
        """Nothing under way or waiting, and no window that still counts."""
        return not (self.running or self.waiting) and self.keep_until <= now


@dataclass(frozen=True, slots=True)
class SlotView:
    """One (hook, key value) slot as it is now: for explain and the dashboard."""

    running: tuple[int, ...] = ()  # event ids of the runs under way
    waiting: int = 0  # runs waiting their turn (mode queued)
    recent: int = 0  # starts inside the throttle window
    last: tuple[float, int] | None = None  # dedupe: (clock time, event id) of the last start


class PolicyGate(Generic[E]):
    """Thread-safe: every pool thread calls run() for the gated hooks' runs."""

    def __init__(
        self,
        halt: threading.Event,
        clock: Callable[[], float] = time.time,
        enabled: Callable[[str], bool] = lambda name: True,
    ) -> None:
        self._halt = halt  # the dispatcher's: set, waiters leave
        self.clock = clock
        # Whether the hook is still enabled (the registry's, as it is now): a run that
        # waited its turn (mode queued) does not start for a hook disabled meanwhile.
        self._enabled = enabled
        self._cond = threading.Condition(threading.Lock())
        self._slots: dict[tuple[str, str], _Slot] = {}

    def wake(self) -> None:
        """After the dispatcher's halt is set: every queued waiter leaves."""
        with self._cond:
            self._cond.notify_all()

    def run(
        self, hook: Hook, event: Event, run: Callable[[Hook, Event], tuple[Execution, E]]
    ) -> tuple[Execution, E | None] | None:
        """Run `hook` on `event` as its policy allows: its record and effects, a skipped
        record (effects None), or None when a halt came while it waited (not run)."""
        policy = hook.policy
        value = policy.key_value(event)
        ticket = _Ticket(event.id, CancelToken() if policy.mode == "restart" else None)
        with self._cond:
            slot = self._slots.get((hook.name, value))
            if slot is None:
                if len(self._slots) >= PRUNE_ABOVE:
                    self._prune()
                slot = self._slots[(hook.name, value)] = _Slot()
            why = self._admit(slot, policy, value, ticket, hook.name)
        if why is _HALTED:
            return None
        if why is not None:
            return _skipped(hook, event, why), None
        if ticket.token is not None:
            cancel_next_run(ticket.token)
        try:
            execution, effects = run(hook, event)
        finally:
            if ticket.token is not None:
                cancel_next_run(None)  # in case the run never reached the worker
            with self._cond:
                slot.running.remove(ticket)
                if policy.mode == "queued":
                    self._cond.notify_all()
        token = ticket.token
        if token is not None and token.cancelled and execution.status == "timeout":
            execution.status = "skipped"
            execution.error = token.reason
            execution.error_line = None
            execution.limit = None
        return execution, effects

    def _admit(
        self, slot: _Slot, policy: HookPolicy, value: str, ticket: _Ticket, name: str
    ) -> str | None:
        """Under the lock: None when the run starts now (it is then in slot.running),
        _HALTED when a halt came while it waited, else why it does not run. Waits here
        in queued mode."""
        mode = policy.mode
        if mode == "single" and slot.running:
            return f"mode single: a run{_for(policy, value)} is under way (event " \
                f"{slot.running[0].event_id})"  # fmt: skip
        if mode == "queued" and (slot.running or slot.waiting):
            slot.waiting.append(ticket)
            while not self._halt.is_set() and (slot.running or slot.waiting[0] is not ticket):
                self._cond.wait()
            slot.waiting.remove(ticket)
            if self._halt.is_set():
                self._cond.notify_all()  # the next in line may now check the halt too
                return _HALTED
            if not self._enabled(name):
                self._cond.notify_all()  # its turn is over: the next one goes
                return "not run: the hook was disabled while this run waited its turn"
        now = self.clock()
        why = self._suppressed(slot, policy, value, now)
        if why is not None:
            if mode == "queued":
                self._cond.notify_all()  # its turn is over: the next one goes
            return why
        if mode == "restart":
            for other in slot.running:
                if other.token is not None and not other.token.cancelled:
                    other.token.cancel(f"cancelled: restarted for event {ticket.event_id}")
        window = 0.0
        if policy.throttle is not None:
            slot.starts.append(now)
            window = policy.throttle.window
        if policy.dedupe is not None:
            slot.last = (now, ticket.event_id)
            window = max(window, policy.dedupe)
        slot.keep_until = max(slot.keep_until, now + window)
        slot.running.append(ticket)
        return None

    @staticmethod
    def _suppressed(slot: _Slot, policy: HookPolicy, value: str, now: float) -> str | None:
        throttle = policy.throttle
        if throttle is not None:
            starts = slot.starts
            while starts and starts[0] <= now - throttle.window:
                starts.popleft()
            if len(starts) >= throttle.count:
                window = format_seconds(throttle.window)
                return (
                    f"throttle {throttle.count}/{window}: {len(starts)} runs in the last "
                    f"{window}{_for(policy, value)}"
                )
        if policy.dedupe is not None and slot.last is not None:
            at, event_id = slot.last
            if now - at < policy.dedupe:
                clock = time.strftime("%H:%M:%S", time.localtime(at))
                return (
                    f"dedupe {format_seconds(policy.dedupe)}: ran{_for(policy, value)} at "
                    f"{clock} (event {event_id})"
                )
        return None

    def _prune(self) -> None:
        """Drop slots with nothing under way and no window left (under the lock)."""
        now = self.clock()
        self._slots = {k: s for k, s in self._slots.items() if not s.idle(now)}

    def view(self, hook: Hook, value: str) -> SlotView:
        """The slot of `hook` for key value `value` (policy.key_value(event)), read only."""
        with self._cond:
            slot = self._slots.get((hook.name, value))
            if slot is None:
                return SlotView()
            throttle = hook.policy.throttle
            cutoff = self.clock() - (throttle.window if throttle is not None else 0.0)
            return SlotView(
                tuple(t.event_id for t in slot.running),
                len(slot.waiting),
                sum(1 for at in slot.starts if at > cutoff) if throttle is not None else 0,
                slot.last,
            )

    def forget(self, hook: str) -> None:
        """A hook deleted or changed: its idle slots go (ones in use stay until idle)."""
        with self._cond:
            self._slots = {
                k: s for k, s in self._slots.items() if k[0] != hook or s.running or s.waiting
            }


_HALTED = "halted"  # _admit's answer when a halt came while the run waited (by identity)


def _for(policy: HookPolicy, value: str) -> str:
    """ " for data.service='payments'", or "" for a hook without a key."""
    if not policy.key:
        return ""
    if value == MISSING_KEY:
        return f" for events without {policy.key}"
    # Cut after escaping too: one character can escape to ten (\U0010ffff).
    shown = repr(value[:60])
    if len(shown) > 60 or len(value) > 60:
        shown = shown[:60] + "…"
    return f" for {policy.key}={shown}"


def _skipped(hook: Hook, event: Event, why: str) -> Execution:
    return Execution(hook.name, event.id, "skipped", time.time(), error=why, event_type=event.type)
