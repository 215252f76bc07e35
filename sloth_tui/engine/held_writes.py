"""Writes the store keeps through a full disk, to commit once space returns.

While the disk is full, events are refused: their producer is told, and tries again.
But the events stored before it filled still have their hooks run, and the records of
those runs (execution rows, hook counters) and the events' final statuses have nobody
to tell: dropped, they would leave each such event unfinished, and the next start would
run its hooks again (a second page, a second deploy) with the first run's logs gone.

So the writes their owner marks `kept` (the dispatcher's run records and statuses) that
fail because the disk is full are held here, in order, and go first into every later
round until one commits. Few can pile up: no event is stored while the disk is full, so
only the runs of events already queued make records. Past HELD_MAX operations or
HELD_BYTES_MAX bytes the rest are dropped and counted; their events are unfinished and
run again at the next start, as every held write is if the engine stops before space
returns.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from sloth_tui.engine.store import WriteOp

# Operations held at most: more than the dispatcher's queue of stored events can make
# (each makes an execution row and a share of a status update per hook).
HELD_MAX = 50_000
# And bytes held at most, counted as the text and blobs of their parameters: a run's
# record may hold up to 2 MB of logs (lua/limits.py LOG_BYTES_MAX), so a bound in
# operations alone could hold gigabytes.
HELD_BYTES_MAX = 64 * 1024 * 1024
OP_OVERHEAD = 100  # bytes an operation costs beyond its text (tuple, numbers, SQL shared)


def op_bytes(ops: Sequence[WriteOp]) -> int:
    """About what `ops` hold in memory: their text and blobs, plus a little each."""
    size = OP_OVERHEAD * len(ops)
    for _sql, params in ops:
        for value in params:
            if isinstance(value, str | bytes):
                size += len(value)
    return size


@dataclass(slots=True)
class HeldWrites:
    limit: int = HELD_MAX
    byte_limit: int = HELD_BYTES_MAX
    writes: list[tuple[WriteOp, ...]] = field(default_factory=list)
    ops: int = 0
    bytes: int = 0
    dropped: int = 0  # writes not held: over either limit

    def __bool__(self) -> bool:
        return bool(self.writes)

    def keep(self, ops: Sequence[WriteOp]) -> None:
        size = op_bytes(ops)
        if self.ops + len(ops) > self.limit or self.bytes + size > self.byte_limit:
            self.dropped += 1
            return
        self.writes.append(tuple(ops))
        self.ops += len(ops)
        self.bytes += size

    def take(self) -> list[tuple[WriteOp, ...]]:
        """Every held write, oldest first; none is held after."""
        writes, self.writes, self.ops, self.bytes = self.writes, [], 0, 0
        return writes
