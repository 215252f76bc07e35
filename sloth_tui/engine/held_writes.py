"""Writes the store keeps through a full disk, to commit once space returns.

While the disk is full, events are refused: their producer is told, and tries again.
But the events stored before it filled still have their hooks run, and the records of
those runs (execution rows, hook counters) and the events' final statuses have nobody
to tell: dropped, they would leave each such event unfinished, and the next start would
run its hooks again (a second page, a second deploy) with the first run's logs gone.

So the writes their owner marks `kept` (the dispatcher's run records and statuses) that
fail because the disk is full are held here, in order, and go first into every later
round until one commits. Few can pile up: no event is stored while the disk is full, so
only the runs of events already queued make records. Past HELD_MAX operations the rest
are dropped and counted; their events are unfinished and run again at the next start,
as every held write is if the engine stops before space returns.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from sloth_tui.engine.store import WriteOp

# Operations held at most: about 1 KB each in memory. More than the dispatcher's queue
# of stored events can make (each makes an execution row and a share of a status update
# per hook).
HELD_MAX = 50_000


@dataclass(slots=True)
class HeldWrites:
    limit: int = HELD_MAX
    writes: list[tuple[WriteOp, ...]] = field(default_factory=list)
    ops: int = 0
    dropped: int = 0  # writes not held: over the limit

    def __bool__(self) -> bool:
        return bool(self.writes)

    def keep(self, ops: Sequence[WriteOp]) -> None:
        if self.ops + len(ops) > self.limit:
            self.dropped += 1
            return
        self.writes.append(tuple(ops))
        self.ops += len(ops)

    def take(self) -> list[tuple[WriteOp, ...]]:
        """Every held write, oldest first; none is held after."""
        writes, self.writes, self.ops = self.writes, [], 0
        return writes
