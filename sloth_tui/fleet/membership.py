"""Membership: this engine's heartbeats in the members bucket, the fleet's members as
every engine sees them, the agent.* events derived from them, and once-only claims.

Joining (at each connection, until joined): a record under this engine's name with
another incarnation that is not yet "down" may be a live engine or one just killed. A
live one beats again within 1.5 x its interval, so we watch the key that long: a new
heartbeat from it means the name is taken, and this engine refuses to join (one line in
the log, the link's error and a system.error event) and goes on alone: no heartbeats, no
fleet work (`FleetLink.leave`). Otherwise the record is taken over by compare-and-set, so
two engines starting at once with one name cannot both win.

The agent.* events, each recorded once fleet-wide: whoever may see a change tries
`kv("claims").create(key)`, and only the winner dispatches (source "fleet"); every other
engine takes the event in through the intake like any other.
- agent.registered: the joining engine found no record of its name in the bucket;
- agent.connected: an engine joined (once per incarnation; the joiner records it);
- agent.heartbeat_failed: a member is late (once per missed heartbeat, by an observer);
- agent.disconnected: a member went down (heartbeats stale, or it stopped), once per
  incarnation; also when a restarted engine takes over the record of its dead self;
- agent.version_mismatch: the fleet's version is the oldest live member's (earliest
  start, then name): every engine computes the same reference from the same bucket,
  so a member whose version differs from it is reported once per incarnation, with
  server_version = that reference. A fleet being upgraded one engine at a time thus
  reports each upgraded engine until the oldest one is upgraded too.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import logging
import re
import socket
import time
import uuid
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from sloth_tui import __version__
from sloth_tui.fleet import subjects
from sloth_tui.fleet.kv_watch import start_watch
from sloth_tui.fleet.members import LATE, MemberRecord, RecordError, as_member, state_of
from sloth_tui.fleet.parts import FleetContext
from sloth_tui.model.errors import SlothError
from sloth_tui.model.fleet import FleetMember

if TYPE_CHECKING:
    from nats.js.kv import KeyValue

log = logging.getLogger("sloth_tui.fleet")

# A dead member's stale record is reported down only this long after its last heartbeat:
# the claims bucket forgets a claim after a day, and an engine started later must not
# report again what the fleet recorded then.
REPORT_WITHIN_S = 12 * 3600
_KEY = re.compile(r"[A-Za-z0-9_=-]+(\.[A-Za-z0-9_=-]+)*")
MAX_KEY = 200


def claim_key(key: str) -> str:
    """A KV key for any claim name: kept when it is one, else a digest of it."""
    if len(key) <= MAX_KEY and _KEY.fullmatch(key):
        return key
    return "h." + hashlib.sha256(key.encode()).hexdigest()


def iso_utc(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class Membership:
    name = "membership"

    def __init__(self) -> None:
        self.incarnation = uuid.uuid4().hex
        self._ids_upto = 0  # this store's newest event id at the last record written
        self.started = time.time()
        self.host = socket.gethostname()[:200]
        self.records: dict[str, MemberRecord] = {}  # by name, from the watch
        self.bad_keys: set[str] = set()  # keys whose value is not a record
        self.joined = False
        self.refused = ""  # the one line when another live engine holds this name
        self._ctx: FleetContext | None = None
        self._join_lock = asyncio.Lock()
        self._tried: set[str] = set()  # claim keys asked already (won or lost)
        self._rates: tuple[float, int, int] | None = None  # time, events, runs
        self._last: FleetMember | None = None  # this engine's last heartbeat
        self._lag = 0
        self._beat_task: asyncio.Task[None] | None = None
        self._watch_task: asyncio.Task[None] | None = None
        self._refusing: asyncio.Task[None] | None = None  # _contested's refusal
        self._revision = 0  # of this engine's record, as it last wrote it

    # -- FleetPart ----------------------------------------------------------------------

    async def start(self, ctx: FleetContext) -> None:
        self._ctx = ctx
        ctx.port.report_claims(self.claim_once)
        ctx.link.on_connect(self._on_connect)
        self._beat_task = asyncio.create_task(self._beat_loop(), name="fleet-heartbeat")

    async def stop(self) -> None:
        for task in (self._beat_task, self._watch_task):
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task
        ctx = self._ctx
        if ctx is not None and self.joined and ctx.link.connected and self._last is not None:
            # The last record says it left: the others report it down at once.
            record = MemberRecord(
                self._last,
                self.incarnation,
                ctx.fleet.heartbeat,
                left=True,
                ids_upto=self._ids_upto,
            )
            with contextlib.suppress(Exception):
                kv = await ctx.link.kv("members")
                await asyncio.wait_for(kv.put(self._key, record.to_json()), 2.0)
        self.joined = False

    # -- MembersView --------------------------------------------------------------------

    def members(self) -> list[FleetMember]:
        now = time.time()
        return [as_member(self.records[name], now) for name in sorted(self.records)]

    @property
    def skipped(self) -> int:
        return len(self.bad_keys)

    # -- claims -------------------------------------------------------------------------

    async def claim_once(self, key: str, ttl_hint: float) -> bool:
        """EngineAPI.claim_once in a fleet. An engine that is not connected (or refused)
        works alone, so it does the work; the claims bucket keeps a claim a day, longer
        than any `ttl_hint` a caller here needs."""
        won = await self._claim(key)
        return True if won is None else won

    async def _claim(self, key: str) -> bool | None:
        """True: this engine won `key`; False: another did; None: could not ask."""
        from nats.js.errors import KeyWrongLastSequenceError

        ctx = self._ctx
        if ctx is None or self.refused or not ctx.link.connected:
            return None
        value = json.dumps({"engine": ctx.name, "at": time.time()}).encode()
        try:
            kv = await ctx.link.kv("claims")
            await kv.create(claim_key(key), value)
        except KeyWrongLastSequenceError:
            return False
        except Exception as exc:  # the link went down meanwhile, a timeout
            log.warning("fleet: claim %s: %s", claim_key(key), _one_line(exc))
            return None
        return True

    async def _record_once(self, key: str, type_: str, data: dict[str, Any]) -> None:
        """Dispatch `type_` here when this engine wins `key` (each key asked once)."""
        if key in self._tried:
            return
        won = await self._claim(key)
        if won is None:  # ask again at the next heartbeat
            return
        self._tried.add(key)
        if not won:
            return
        assert self._ctx is not None
        try:
            await self._ctx.api.dispatch(type_, data, source="fleet")
            self._ctx.counters.add("agent_events")
        except SlothError as exc:
            log.error("fleet: %s: %s", type_, _one_line(exc))

    # -- joining ------------------------------------------------------------------------

    @property
    def _key(self) -> str:
        assert self._ctx is not None
        return subjects.token(self._ctx.name)

    async def _on_connect(self) -> None:
        await self._join()
        if self.joined:
            self._start_watch()

    async def _join(self) -> None:
        async with self._join_lock:
            if self.joined or self.refused or self._refusing is not None:
                return
            try:
                await self._try_join()
            except Exception as exc:  # the link dropped mid-way: the heartbeat tries again
                log.warning("fleet: joining failed: %s", _one_line(exc))

    async def _try_join(self) -> None:
        from nats.js.errors import KeyWrongLastSequenceError

        assert self._ctx is not None
        ctx = self._ctx
        kv = await ctx.link.kv("members")
        entry, existing = await self._read_own(kv)
        if existing is not None and existing.incarnation != self.incarnation:
            live = state_of(existing, time.time()) != "down"
            if live and await self._beats_again(kv, existing):
                await self._refuse(existing)
                return
        record = await self._record()
        if existing is not None and existing.ids_upto > record.ids_upto:
            await self._refuse_store(existing.ids_upto, record.ids_upto)
            return
        try:
            if entry is None:
                self._revision = await kv.create(self._key, record.to_json())
            else:
                self._revision = await kv.update(self._key, record.to_json(), last=entry.revision)
        except KeyWrongLastSequenceError:  # another engine with this name wrote meanwhile
            await self._refuse(None)
            return
        self.joined = True
        self.records[ctx.name] = record
        log.info("fleet: joined as %s (incarnation %s)", ctx.name, self.incarnation[:8])
        token = self._key
        if existing is None:
            agent = {"name": ctx.name, "address": self.host, "version": __version__}
            await self._record_once(
                f"agent_registered.{token}", "agent.registered", {"agent": agent}
            )
        elif existing.incarnation != self.incarnation:  # its former self died unreported
            await self._report_down(existing)
        data = {"agent": {"name": ctx.name, "address": self.host}}
        await self._record_once(
            f"agent_connected.{token}.{self.incarnation}", "agent.connected", data
        )

    async def _read_own(self, kv: KeyValue) -> tuple[Any, MemberRecord | None]:
        """The bucket's entry for this name (None when none) and its record (None when
        none or not a record: a garbage value is overwritten)."""
        from nats.js.errors import NotFoundError

        try:
            entry = await kv.get(self._key)
        except NotFoundError:  # none, or deleted: create() takes it over
            return None, None
        try:
            return entry, MemberRecord.from_json(entry.value, self._key, entry.revision or 0)
        except RecordError:
            return entry, None

    async def _beats_again(self, kv: KeyValue, existing: MemberRecord) -> bool:
        """Whether the engine behind `existing` writes again within 1.5 heartbeats (+0.5 s):
        alive. A killed engine's record is fresh for a while but never written again."""
        deadline = time.monotonic() + LATE * existing.heartbeat + 0.5
        while time.monotonic() < deadline:
            await asyncio.sleep(0.1)
            entry, record = await self._read_own(kv)
            if entry is not None and (entry.revision or 0) != existing.revision:
                return record is None or not record.left
        return False

    async def _refuse(self, holder: MemberRecord | None) -> None:
        assert self._ctx is not None
        ctx = self._ctx
        where = f" on {holder.member.host}" if holder is not None and holder.member.host else ""
        self.refused = (
            f"another live engine is named {ctx.name!r}{where}: not joining the fleet "
            f"(give it its own: serve --name NAME, or [nats] name); this engine runs alone"
        )
        log.error("fleet: %s", self.refused)
        ctx.counters.add("name_refused")
        data = {"component": "fleet", "error": self.refused, "severity": "critical"}
        with contextlib.suppress(SlothError):
            await ctx.api.dispatch("system.error", data, source="fleet")
        ctx.link.leave(self.refused)

    async def _refuse_store(self, theirs: int, ours: int) -> None:
        """This name's record says its store reached event id `theirs`; this store is at
        `ours`: it is another store (fresh, or a restored backup), whose new events would
        reuse fleet ids the fleet already holds and be dropped as known."""
        assert self._ctx is not None
        ctx = self._ctx
        self.refused = (
            f"the fleet knows engine {ctx.name!r} up to event id {theirs}, and this store "
            f"is at {ours}: it is not the store that used the name (a new or restored "
            "one); not joining, so that no event is lost as a duplicate: give it a new name "
            "(serve --name NAME, or [nats] name); this engine runs alone"
        )
        log.error("fleet: %s", self.refused)
        ctx.counters.add("name_refused")
        data = {"component": "fleet", "error": self.refused, "severity": "critical"}
        with contextlib.suppress(SlothError):
            await ctx.api.dispatch("system.error", data, source="fleet")
        ctx.link.leave(self.refused)

    # -- heartbeats ---------------------------------------------------------------------

    async def _record(self) -> MemberRecord:
        """This engine's record now."""
        assert self._ctx is not None
        ctx = self._ctx
        now = time.time()
        stats = ctx.api.stats()
        events_per_s = runs_per_s = 0.0
        if self._rates is not None:
            then, events, runs = self._rates
            span = max(now - then, 1e-3)
            events_per_s = round(max(stats.events_total - events, 0) / span, 2)
            runs_per_s = round(max(stats.executions_total - runs, 0) / span, 2)
        self._rates = (now, stats.events_total, stats.executions_total)
        outbox = 0
        with contextlib.suppress(Exception):
            outbox = await ctx.port.outbox_depth()
        with contextlib.suppress(Exception):
            info = await ctx.link.jetstream().consumer_info(
                subjects.events_stream(ctx.prefix), subjects.intake_consumer(ctx.name)
            )
            self._lag = int(info.num_pending or 0)
        member = FleetMember(
            name=ctx.name,
            host=self.host,
            version=__version__,
            last_heartbeat=now,
            started=self.started,
            hooks=len(await ctx.api.list_hooks()),
            events_per_s=events_per_s,
            runs_per_s=runs_per_s,
            queue_depth=stats.queue_depth,
            lag=self._lag,
            outbox=outbox,
        )
        self._last = member
        newest = await ctx.api.query_events(None, limit=1)
        ids_upto = self._ids_upto = newest[0].id if newest else 0
        return MemberRecord(member, self.incarnation, ctx.fleet.heartbeat, ids_upto=ids_upto)

    async def _beat_loop(self) -> None:
        assert self._ctx is not None
        ctx = self._ctx
        while not self.refused:
            await asyncio.sleep(ctx.fleet.heartbeat)
            if not ctx.link.connected:
                continue
            if not self.joined:
                await self._on_connect()
                continue
            try:
                record = await self._record()
                if not await self._write(record):
                    continue
                self.records[ctx.name] = record
                ctx.counters.add("heartbeats")
                await self._observe()
            except Exception as exc:  # the link dropped: the next beat tries again
                log.warning("fleet: heartbeat: %s", _one_line(exc))

    async def _write(self, record: MemberRecord) -> bool:
        """Put this engine's record over the one it last wrote, compare-and-set: a record
        someone else wrote meanwhile is never overwritten unseen. False when not written."""
        from nats.js.errors import KeyWrongLastSequenceError

        assert self._ctx is not None
        kv = await self._ctx.link.kv("members")
        try:
            self._revision = await kv.update(self._key, record.to_json(), last=self._revision)
            return True
        except KeyWrongLastSequenceError:
            pass
        entry, other = await self._read_own(kv)
        if other is not None and other.incarnation != self.incarnation and not other.left:
            self._contested(other)
            if not self.joined:  # it keeps the name
                return False
        # Ours, a garbage value, a record that left, or a contender that yields to us.
        if entry is None:  # deleted meanwhile: create() takes a deleted key over
            self._revision = await kv.create(self._key, record.to_json())
        else:
            self._revision = await kv.update(self._key, record.to_json(), last=entry.revision)
        return True

    # -- the members bucket -------------------------------------------------------------

    def _start_watch(self) -> None:
        if self._watch_task is not None:
            self._watch_task.cancel()
        self._watch_task = asyncio.create_task(self._watch(), name="fleet-members")

    async def _watch(self) -> None:
        assert self._ctx is not None
        kv = await self._ctx.link.kv("members")
        watcher = await start_watch(kv)
        try:
            async for entry in watcher:
                if entry is None:  # the end of the initial values
                    continue
                self._take(entry.key, entry.value, entry.operation, entry.revision or 0)
        finally:
            with contextlib.suppress(Exception):
                await watcher.stop()

    def _take(self, key: str, value: bytes | None, operation: str | None, revision: int) -> None:
        name = subjects.untoken(key)
        if operation is not None:  # deleted or purged
            self.bad_keys.discard(key)
            self._count_skipped()
            if self.records.get(name) is not None and subjects.token(name) == key:
                del self.records[name]
            return
        try:
            record = MemberRecord.from_json(value, key, revision)
        except RecordError:
            self.bad_keys.add(key)
            self._count_skipped()
            return
        self.bad_keys.discard(key)
        self._count_skipped()
        if self._ctx is not None and record.name == self._ctx.name:
            if record.incarnation != self.incarnation and not record.left:
                self._contested(record)
            return  # our own view of ourselves is our last heartbeat
        self.records[record.name] = record

    def _contested(self, other: MemberRecord) -> None:
        """Another engine beats under this one's name after we joined (it took the name
        over while we were cut off from NATS long enough to look dead, or a stranger
        writes). Both see both records, so one rule settles it the same way on each
        side: the lower incarnation keeps the name, the other refuses as at joining."""
        if self.refused or self._refusing is not None or not self.joined:
            return
        if state_of(other, time.time()) == "down" or other.incarnation > self.incarnation:
            return
        self.joined = False
        self._refusing = asyncio.create_task(self._refuse(other), name="fleet-name-taken")

    def _count_skipped(self) -> None:
        # fleet_status() shows how many records were not ones.
        if self._ctx is not None:
            self._ctx.counters.gauge("members_skipped", len(self.bad_keys))

    async def _observe(self) -> None:
        """The agent.* events the members' states call for, each tried once here."""
        now = time.time()
        live = [r for r in self.records.values() if state_of(r, now) != "down"]
        reference = min(live, key=lambda r: (r.member.started, r.name), default=None)
        for record in list(self.records.values()):
            state = state_of(record, now)
            token = subjects.token(record.name)
            mine = self._ctx is not None and record.name == self._ctx.name
            if state == "down" and not mine:
                await self._report_down(record)
            elif state == "late" and not mine:
                last = record.member.last_heartbeat
                missed = max(1, int((now - last) // record.heartbeat))
                data = {"agent": {"name": record.name}, "consecutive_failures": missed}
                key = f"agent_late.{token}.{record.incarnation}.{int(last)}"
                await self._record_once(key, "agent.heartbeat_failed", data)
            if state == "down" or reference is None:
                continue
            if record.member.version != reference.member.version:
                data = {
                    "agent": {"name": record.name},
                    "agent_version": record.member.version,
                    "server_version": reference.member.version,
                }
                key = f"agent_version.{token}.{record.incarnation}"
                await self._record_once(key, "agent.version_mismatch", data)

    async def _report_down(self, record: MemberRecord) -> None:
        last = record.member.last_heartbeat
        if time.time() - last > REPORT_WITHIN_S:
            return
        data = {"agent": {"name": record.name}, "last_seen": iso_utc(last)}
        key = f"agent_disconnected.{subjects.token(record.name)}.{record.incarnation}"
        await self._record_once(key, "agent.disconnected", data)


def _one_line(exc: BaseException) -> str:
    return (" ".join(str(exc).split()) or type(exc).__name__)[:300]
