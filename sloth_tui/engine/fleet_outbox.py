"""The fleet outbox (schema 9): what this engine has recorded and NATS does not have yet.

Triggers put a row in `fleet_outbox` in the same transaction as each event and each real
run this engine records itself (origin NULL; a dry run never leaves). So the outbox is
exactly as durable as the records: a crash between the commit and the publish loses
nothing, and the publisher (fleet/publisher.py) sends again what it had not marked done;
JetStream drops the second copy by its message id. The triggers exist only while the
engine is in a fleet: `disable` drops them at the start of an engine that is not, so a
lone engine pays nothing per insert and keeps no outbox.

`fleet_keys` answers the publisher's other question: under which fleet id a local copy of
another engine's event was taken in (a run on it, or a child of it, names it so). An
index on `mirrored(local_id)` made with the triggers keeps that a lookup, not a scan.
"""

from __future__ import annotations

from collections.abc import Sequence

from sloth_tui.engine.rows import EXEC_COLUMNS, event_from_row, execution_from_row
from sloth_tui.engine.schema import EVENT_COLUMNS
from sloth_tui.engine.store import Store
from sloth_tui.model.fleet import OutboxItem

_TRIGGERS = (
    "CREATE TRIGGER IF NOT EXISTS fleet_outbox_events AFTER INSERT ON events "
    "WHEN NEW.origin IS NULL BEGIN "
    "INSERT INTO fleet_outbox (kind, ref) VALUES ('event', NEW.id); END",
    "CREATE TRIGGER IF NOT EXISTS fleet_outbox_runs AFTER INSERT ON executions "
    "WHEN NEW.origin IS NULL AND NEW.dry_run = 0 BEGIN "
    "INSERT INTO fleet_outbox (kind, ref) VALUES ('execution', NEW.id); END",
    "CREATE INDEX IF NOT EXISTS fleet_mirrored_local ON mirrored(local_id) "
    "WHERE local_id IS NOT NULL",
)
_DROP = (
    "DROP TRIGGER IF EXISTS fleet_outbox_events",
    "DROP TRIGGER IF EXISTS fleet_outbox_runs",
    "DROP INDEX IF EXISTS fleet_mirrored_local",
)
_CHUNK = 500  # SQLite's bound-parameter limit, with room


async def enable(store: Store) -> None:
    await store.write(*((sql, ()) for sql in _TRIGGERS))


async def disable(store: Store) -> None:
    """Not in a fleet: no triggers, and nothing left waiting to go out."""
    await store.write(*((sql, ()) for sql in _DROP), ("DELETE FROM fleet_outbox", ()))


async def take(store: Store, limit: int) -> list[OutboxItem]:
    rows = await store._fetchall(
        "SELECT seq, kind, ref FROM fleet_outbox ORDER BY seq LIMIT ?", (max(1, limit),)
    )
    event_ids = [ref for _seq, kind, ref in rows if kind == "event"]
    run_ids = [ref for _seq, kind, ref in rows if kind == "execution"]
    events = {}
    for start in range(0, len(event_ids), _CHUNK):
        chunk = event_ids[start : start + _CHUNK]
        marks = ",".join("?" * len(chunk))
        for row in await store._fetchall(
            f"SELECT {EVENT_COLUMNS} FROM events WHERE id IN ({marks})", chunk
        ):
            events[row[0]] = event_from_row(row)
    runs = {}
    for start in range(0, len(run_ids), _CHUNK):
        chunk = run_ids[start : start + _CHUNK]
        marks = ",".join("?" * len(chunk))
        for row in await store._fetchall(
            f"SELECT {EXEC_COLUMNS} FROM executions WHERE id IN ({marks})", chunk
        ):
            runs[row[0]] = execution_from_row(row)
    return [
        OutboxItem(seq, kind, ref, (events if kind == "event" else runs).get(ref))
        for seq, kind, ref in rows
    ]


async def done(store: Store, seqs: Sequence[int]) -> None:
    if not seqs:
        return
    ops = []
    for start in range(0, len(seqs), _CHUNK):
        chunk = list(seqs[start : start + _CHUNK])
        marks = ",".join("?" * len(chunk))
        ops.append((f"DELETE FROM fleet_outbox WHERE seq IN ({marks})", chunk))
    await store.write(*ops)


async def depth(store: Store) -> int:
    rows = await store._fetchall("SELECT COUNT(*) FROM fleet_outbox")
    return int(rows[0][0])


async def fleet_keys(store: Store, local_ids: Sequence[int]) -> dict[int, str]:
    """Local event ids -> the fleet ids they were taken in under, for the copies of other
    engines' events (origin set) among them; this engine's own events are not in it (a
    Sloth Runner bridge's rows are keyed in `mirrored` too, and are this engine's)."""
    unique = list(dict.fromkeys(local_ids))
    found: dict[int, str] = {}
    for start in range(0, len(unique), _CHUNK):
        chunk = unique[start : start + _CHUNK]
        marks = ",".join("?" * len(chunk))
        for local, key in await store._fetchall(
            "SELECT m.local_id, m.key FROM mirrored m JOIN events e ON e.id = m.local_id "
            f"WHERE m.local_id IN ({marks}) AND e.origin IS NOT NULL",
            chunk,
        ):
            found[int(local)] = str(key)
    return found
