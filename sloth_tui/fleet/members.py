"""The members bucket (`<prefix>_members`): one record per engine name, read by anyone.

Key: `subjects.token(name)`. Value: JSON of `FleetMember.to_dict()` plus `incarnation`
(a uuid4 hex, new at each engine start), `heartbeat` (the sender's interval in seconds)
and `left` (true once it stopped on purpose). Written by fleet/membership.py; read by
the runner, the Fleet screen and `fleet status`.

The bucket is outside input: any client of the NATS server may write to it. A record
that is not one (not JSON, too big, a name that is not its key's, numbers out of range)
is skipped and counted, never raised; text fields are kept as given (shown escaped) but
cut to a bounded length.
"""

from __future__ import annotations

import contextlib
import json
import math
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

from sloth_tui.fleet import subjects
from sloth_tui.fleet.kv_watch import watch_entries
from sloth_tui.fleet.settings import NAME
from sloth_tui.model.fleet import FleetMember

if TYPE_CHECKING:
    from nats.js.kv import KeyValue

MAX_RECORD = 16 * 1024  # bytes; a heartbeat is a few hundred
MAX_TEXT = 200  # host, version
MAX_COUNT = 10**12  # hooks, queue depth, lag, outbox
LATE = 1.5  # x heartbeat: late
DOWN = 3.0  # x heartbeat, + DOWN_GRACE seconds: down
DOWN_GRACE = 2.0


class RecordError(ValueError):
    """A value in the members bucket that is not a member record."""


@dataclass(frozen=True, slots=True)
class MemberRecord:
    member: FleetMember  # its `state` as written ("up"); state_of() says what it is now
    incarnation: str
    heartbeat: float  # seconds between its heartbeats
    left: bool = False  # it stopped on purpose (its last record)
    revision: int = 0  # the KV revision it was read at (0: not read from KV)
    # The highest event id in its store when it wrote this. Ids only grow in one store,
    # so an engine whose store is behind the record of its own name has another store
    # (a fresh one, a restored backup): its new events would reuse fleet ids the fleet
    # has already taken in, and be dropped as known. membership refuses it.
    ids_upto: int = 0

    @property
    def name(self) -> str:
        return self.member.name

    def to_json(self) -> bytes:
        body = self.member.to_dict()
        body["incarnation"] = self.incarnation
        body["heartbeat"] = self.heartbeat
        if self.left:
            body["left"] = True
        body["ids_upto"] = self.ids_upto
        return json.dumps(body, separators=(",", ":")).encode()

    @classmethod
    def from_json(
        cls, raw: bytes | None, key: str | None = None, revision: int = 0
    ) -> MemberRecord:
        """Raises RecordError (one line) for anything that is not a record of `key`."""
        if raw is None or len(raw) > MAX_RECORD:
            raise RecordError("empty or too big")
        try:
            body = json.loads(raw)
        except (ValueError, RecursionError):
            raise RecordError("not JSON") from None
        if not isinstance(body, dict):
            raise RecordError("not a JSON object")
        name = body.get("name")
        if not isinstance(name, str) or not NAME.fullmatch(name):
            raise RecordError("no valid name")
        if key is not None and subjects.token(name) != key:
            raise RecordError("its name is not its key's")
        incarnation = body.get("incarnation")
        if not isinstance(incarnation, str) or not 0 < len(incarnation) <= 64:
            raise RecordError("no incarnation")
        heartbeat = _number(body.get("heartbeat"))
        if not 0.2 <= heartbeat <= 60:
            raise RecordError("heartbeat out of range")
        member = FleetMember(
            name=name,
            host=_text(body.get("host")),
            version=_text(body.get("version")),
            last_heartbeat=_number(body.get("last_heartbeat")),
            started=_number(body.get("started")),
            hooks=_count(body.get("hooks")),
            events_per_s=_number(body.get("events_per_s")),
            runs_per_s=_number(body.get("runs_per_s")),
            queue_depth=_count(body.get("queue_depth")),
            lag=_count(body.get("lag")),
            outbox=_count(body.get("outbox")),
        )
        ids_upto = _count(body.get("ids_upto"))
        return cls(member, incarnation, heartbeat, body.get("left") is True, revision, ids_upto)


def _text(value: Any) -> str:
    return value[:MAX_TEXT] if isinstance(value, str) else ""


def _number(value: Any) -> float:
    if value is None:
        return 0.0
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise RecordError("a number is not one")
    try:
        out = float(value)
    except OverflowError:  # an int past float's range (JSON ints are unbounded)
        raise RecordError("a number out of range") from None
    if not math.isfinite(out) or out < 0 or out > 1e12:
        raise RecordError("a number out of range")
    return out


def _count(value: Any) -> int:
    out = _number(value)
    if out != int(out) or out > MAX_COUNT:
        raise RecordError("a count is not one")
    return int(out)


def state_of(record: MemberRecord, now: float) -> str:
    """up, late (no heartbeat for 1.5 x its interval) or down (3 x + 2 s, or it left)."""
    if record.left:
        return "down"
    age = now - record.member.last_heartbeat
    if age > DOWN * record.heartbeat + DOWN_GRACE:
        return "down"
    if age > LATE * record.heartbeat:
        return "late"
    return "up"


def as_member(record: MemberRecord, now: float) -> FleetMember:
    """The record's member with its state now."""
    return replace(record.member, state=state_of(record, now))


@dataclass(slots=True)
class MembersTable:
    """The members bucket as read so far: the one reading of its values, for a scan
    (`scan_bucket`) and for an observer's watch (fleet/members_watch.py)."""

    records: dict[str, MemberRecord] = field(default_factory=dict)  # by key
    refused: set[str] = field(default_factory=set)  # keys whose value is not a record

    def take(self, entry: Any) -> None:
        """One value (nats-py's entry): a record, a stranger's junk, or a key gone."""
        key = entry.key
        self.records.pop(key, None)
        self.refused.discard(key)
        if entry.operation is not None:  # a delete or purge marker
            return
        try:
            self.records[key] = MemberRecord.from_json(entry.value, key, entry.revision or 0)
        except RecordError:
            self.refused.add(key)


@dataclass(frozen=True, slots=True)
class MembersRead:
    records: dict[str, MemberRecord]  # by name
    skipped: int  # values that were not records


async def scan_bucket(kv: KeyValue) -> MembersRead:
    """Every record in a members bucket now (fleet/kv_watch.py: where the values end)."""
    table = MembersTable()
    async with contextlib.aclosing(watch_entries(kv, timeout=5.0)) as entries:
        async for entry in entries:
            if entry is None:  # the values there were are all read
                break
            table.take(entry)
    return MembersRead({r.name: r for r in table.records.values()}, len(table.refused))
