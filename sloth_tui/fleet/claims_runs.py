"""Done-markers: one hook's run on one fleet event happens once, across the fleet and
across crashes (bucket `done`, key subjects.done_key(hook, event fleet id)).

A hook's consumer hands each event to one engine, but JetStream delivers at least once:
an engine killed mid-run has its message redelivered to another. The marker says what
became of the run:

- before running, the engine creates it {"state": "running", "engine", "incarnation",
  "since"}: creation is atomic, so of two engines holding the same message one wins;
- once the run's record is committed it becomes {"state": "done", "engine",
  "execution"} (update with the revision read: nobody took it over meanwhile);
- a redelivered message finding "done" is acked without running; finding "running" by a
  holder that is gone (it left, or crashed past the grace below), it is taken over with
  the same compare-and-set; by a live holder, it waits (nak with delay); by this very
  process while it does not run it (its done update failed), the store says whether it
  ran (the runner's ORPHAN case).

A kill -9 between the commit and the "done" update leaves "running" by a process that is
gone, with the run recorded: the engine's next start marks it done (`finish_own`) before
it consumes, so nobody runs it again. For that, a crashed holder's markers are not taken
over at once: it has CRASH_GRACE_BEATS heartbeats after its last one to come back, and
RESTART_GRACE_S after its start to mark them. A holder that stopped on purpose (its
record says it left) let its runs finish first, so what it still holds is taken at once.
A holder that never comes back within the grace cannot say it ran: the run is taken over
and may then have run twice (the one case; `runs_taken_over` counts them).
"""

from __future__ import annotations

import contextlib
import json
import time
from dataclasses import dataclass
from enum import Enum
from typing import TYPE_CHECKING, Any

from sloth_tui.fleet import subjects
from sloth_tui.fleet.members import MemberRecord, RecordError, state_of
from sloth_tui.fleet.settings import NAME

if TYPE_CHECKING:
    from nats.js.kv import KeyValue

# A holder without any members record (membership not written yet, or lost) counts as
# gone once its marker is this old and older than the hook's ack wait: a live holder
# would have finished or timed out by then.
MISSING_GRACE_S = 10.0
# A holder that crashed (heartbeats stopped, no "left") keeps its markers this many of its
# heartbeat intervals after its last heartbeat (40 s at the default 2 s), and a restarted
# one RESTART_GRACE_S after its start: the window in which it marks done the runs it
# recorded just before dying (finish_own). Past it, the run is taken over: a holder that
# never returns cannot say it ran, and the fleet runs it again.
CRASH_GRACE_BEATS = 20.0
RESTART_GRACE_S = 15.0


class Verdict(Enum):
    RUN = "run"  # this engine holds the marker: run the hook
    TAKEN_OVER = "taken_over"  # as RUN, from a holder that is gone
    DONE = "done"  # ran already: ack without running
    WAIT = "wait"  # a live holder runs it: nak with a delay
    ORPHAN = "orphan"  # held by this very process, which runs it no more: see the store
    LOST = "lost"  # another engine took it meanwhile: nak with a short delay


@dataclass(frozen=True, slots=True)
class Claim:
    verdict: Verdict
    revision: int = 0  # the marker's revision this engine holds (RUN, TAKEN_OVER)


def _dumps(value: dict[str, Any]) -> bytes:
    return json.dumps(value, separators=(",", ":")).encode()


def _loads(data: bytes | None) -> dict[str, Any]:
    """A marker's JSON; {} for anything else (a stranger's write is not trusted)."""
    if not data:
        return {}
    try:
        value = json.loads(data)
    except (ValueError, RecursionError):
        return {}
    return value if isinstance(value, dict) else {}


def _number(value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return 0.0
    return float(value)


class Markers:
    """The done bucket, as one engine (name, incarnation) uses it."""

    def __init__(self, done: KeyValue, members: KeyValue, name: str, incarnation: str) -> None:
        self.done = done
        self.members = members
        self.name = name
        self.incarnation = incarnation

    def _running(self) -> bytes:
        return _dumps(
            {
                "state": "running",
                "engine": self.name,
                "incarnation": self.incarnation,
                "since": time.time(),
            }
        )

    async def claim(self, key: str, ack_wait: float) -> Claim:
        """Before a run: create the marker, or say what the one there means. The caller
        does not run this key at the moment (it asks only then)."""
        from nats.js.errors import KeyWrongLastSequenceError, NotFoundError

        try:
            return Claim(Verdict.RUN, await self.done.create(key, self._running()))
        except KeyWrongLastSequenceError:
            pass
        try:
            entry = await self.done.get(key)
        except NotFoundError:  # deleted between the two calls: try again shortly
            return Claim(Verdict.LOST)
        marker = _loads(entry.value)
        if marker.get("state") == "done":
            return Claim(Verdict.DONE)
        if self._mine(marker):
            # Its handling ended without the done update (NATS went away after the
            # commit, say): the store says whether it ran.
            return Claim(Verdict.ORPHAN, entry.revision or 0)
        if await self._holder_alive(marker, ack_wait):
            return Claim(Verdict.WAIT)
        try:
            revision = await self.done.update(key, self._running(), last=entry.revision)
        except KeyWrongLastSequenceError:
            return Claim(Verdict.LOST)
        return Claim(Verdict.TAKEN_OVER, revision)

    async def finish(self, key: str, revision: int, execution_id: int | None) -> bool:
        """After the record committed: the marker says done. False when another engine
        took it over meanwhile (it will find the run done here only if it asks the
        store; the double run is the takeover's, which only follows a holder seen gone)."""
        from nats.js.errors import KeyWrongLastSequenceError

        value = {"state": "done", "engine": self.name, "execution": execution_id}
        try:
            await self.done.update(key, _dumps(value), last=revision)
        except KeyWrongLastSequenceError:
            return False
        return True

    async def release(self, key: str, revision: int) -> None:
        """The hook does not run on this event here (run_hook None): no marker stays."""
        from nats.js.errors import KeyWrongLastSequenceError

        with contextlib.suppress(KeyWrongLastSequenceError):
            await self.done.delete(key, last=revision)

    async def finish_own(self, key: str, execution_id: int) -> bool:
        """At start: a marker still "running" by this engine's previous process, whose
        run is recorded here, becomes done. False when it says anything else."""
        from nats.js.errors import KeyWrongLastSequenceError, NotFoundError

        try:
            entry = await self.done.get(key)
        except NotFoundError:  # missing, or deleted (KeyDeletedError)
            return False
        marker = _loads(entry.value)
        if (
            marker.get("state") != "running"
            or marker.get("engine") != self.name
            or marker.get("incarnation") == self.incarnation
        ):
            return False
        value = {"state": "done", "engine": self.name, "execution": execution_id}
        try:
            await self.done.update(key, _dumps(value), last=entry.revision)
        except KeyWrongLastSequenceError:
            return False
        return True

    def _mine(self, marker: dict[str, Any]) -> bool:
        return marker.get("engine") == self.name and marker.get("incarnation") == self.incarnation

    async def _holder_alive(self, marker: dict[str, Any], ack_wait: float) -> bool:
        holder = marker.get("engine")
        since = _number(marker.get("since"))
        if not isinstance(holder, str) or not NAME.fullmatch(holder):
            return False  # no engine's name (a stranger's write): take it
        if holder == self.name:
            # This process's own marker is live (the message came back while it runs);
            # another incarnation of this name is a process that is gone.
            return marker.get("incarnation") == self.incarnation
        record = await self._member(holder)
        now = time.time()
        if record is None:
            return now - since < max(MISSING_GRACE_S, ack_wait)
        if record.left:  # stopped on purpose: what it still held was cut off, not run
            return False
        started = record.member.started
        if started and since and started > since:
            # Restarted after taking the marker: the process that ran it is gone. Its
            # next start marks the runs it had recorded done (finish_own) before it
            # consumes; it is given RESTART_GRACE_S to do so.
            return now - started < RESTART_GRACE_S
        if state_of(record, now) == "down":
            # Crashed (stale heartbeats): it may have recorded the run and died before
            # the done update. A crashed engine is usually restarted (systemd, an
            # operator) and then says so; taking over at once would run the hook twice.
            return now - record.member.last_heartbeat < CRASH_GRACE_BEATS * record.heartbeat
        return True

    async def _member(self, name: str) -> MemberRecord | None:
        """The holder's members record; None when missing or not a record."""
        from nats.js.errors import NotFoundError

        key = subjects.token(name)
        try:
            entry = await self.members.get(key)
        except NotFoundError:  # missing, or deleted (KeyDeletedError)
            return None
        try:
            return MemberRecord.from_json(entry.value, key, entry.revision or 0)
        except RecordError:
            return None
