"""Engine: the one API that the CLI, the dashboard, the socket server and every source use.

engine = await Engine.open(settings)  # serving engines (serve, dashboard): lifecycle=True
event = await engine.dispatch("deploy.failed", {...}, source="cli")
sub = engine.subscribe()          # notices: event, event_status, execution, hooks, stats
await engine.close()
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sys
import time
from typing import Any

from sloth_tui import __version__
from sloth_tui.config import Settings
from sloth_tui.engine.bus import Bus, Subscription
from sloth_tui.engine.dispatcher import Dispatcher
from sloth_tui.engine.events import checked_parts
from sloth_tui.engine.hook_admin import HookAdmin
from sloth_tui.engine.hooks import Matcher
from sloth_tui.engine.lock import DataDirLock
from sloth_tui.engine.private import loose_modes
from sloth_tui.engine.store import INSERT_EVENT, Store, event_row
from sloth_tui.engine.threadhost import ThreadHost
from sloth_tui.lua.runtime import HookRuntime
from sloth_tui.model.errors import EventRefused, HookError, NotFound
from sloth_tui.model.filters import Filter
from sloth_tui.model.records import Event, Execution, Hook
from sloth_tui.model.stats import EngineStats

log = logging.getLogger("sloth_tui.engine")

CAP_CHECK_EVERY = 1000  # events between retention-cap checks
SETTLE_GRACE = 2.0  # seconds past the longest hook deadline a stop waits for runs under way
# Hooks already recorded for the events recovery picks up: one query, not one per event.
RECORDED_RUNS = (
    "SELECT x.event_id, x.hook FROM executions x JOIN events e ON e.id = x.event_id "
    "WHERE e.status IN ('pending', 'processing') AND x.dry_run = 0"
)
GIL_SWITCH_INTERVAL = 0.0005  # seconds


class Engine(HookAdmin):
    def __init__(
        self, settings: Settings, store: Store, *, readonly: bool, lifecycle: bool = False
    ) -> None:
        self.settings = settings
        self.store = store
        self.readonly = readonly
        self.lifecycle = lifecycle
        self.bus = Bus()
        self.matcher = Matcher()
        self.started = time.time()
        self._hooks: dict[str, Hook] = {}
        self._next_id = 1
        self._events_total = 0
        self._lock: DataDirLock | None = None
        self._dispatcher: Dispatcher | None = None
        self._runtime: HookRuntime | None = None
        self._stats_task: asyncio.Task[None] | None = None
        self._recovery: asyncio.Task[None] | None = None
        self._closed = False
        self._released = False  # store closed and lock released (close or abort)
        self.warnings: list[str] = []  # for the operator, at start (file modes)

    # -- lifecycle ------------------------------------------------------------

    @classmethod
    async def open(
        cls, settings: Settings, *, readonly: bool = False, lifecycle: bool = False
    ) -> Engine:
        """Open the engine on settings.home. Read-only engines take no lock and run no hooks.

        lifecycle=True is for engines that serve (`serve`, the dashboard's embedded
        engine): they record system.startup now and system.shutdown on close. A one-shot
        command leaves it off, so running one is not an event that hooks react to.
        """
        if readonly and lifecycle:
            raise ValueError("a read-only engine records no lifecycle events")
        lock = None
        if not readonly:
            lock = DataDirLock(settings.lock_path)
            lock.acquire()
        store: Store | None = None
        try:
            # The full quick_check (about 0.2 s per 100k events) is for engines that serve:
            # a one-shot command should stay quick, and reads still fail in one line.
            store = await Store.open(settings.db_path, readonly=readonly, check=lifecycle)
            engine = cls(settings, store, readonly=readonly, lifecycle=lifecycle)
            engine._lock = lock
            if lifecycle:  # an engine that serves says so once, at its start
                engine.warnings = loose_modes(settings.home, settings.db_path)
                for line in engine.warnings:
                    log.warning("%s", line)
            await engine._reload_hooks()
            if not readonly:
                await engine._start()
        except BaseException:
            if store is not None:
                await store.close()
            if lock:
                lock.release()
            raise
        return engine

    async def _start(self) -> None:
        s = self.settings
        # The store's writer thread needs the GIL for moments between SQLite calls; at the
        # default 5 ms switch interval it waits for the busy event loop to go idle, and
        # ingest runs in lockstep (loop, then writer). 0.5 ms lets them overlap.
        sys.setswitchinterval(min(sys.getswitchinterval(), GIL_SWITCH_INTERVAL))
        self._next_id = await self.store.max_event_id() + 1
        host = ThreadHost(self.store, asyncio.get_running_loop(), self.dispatch, self)
        self._runtime = HookRuntime(host, self._limits)
        runtime = self._runtime
        self._dispatcher = Dispatcher(
            self.store,
            self.bus,
            # Real runs buffer their effects and commit them with their record (effects.py).
            lambda hook, event: host.run(runtime.run, hook, event, self.limits_for(hook)),
            concurrency=s.concurrency,
            queue_size=s.queue_size,
        )
        # Recovery loads in the background, so `serve` listens at once; the workers wait
        # for it, and what it recovers goes to the queue ahead of anything new.
        self._dispatcher.hold()
        self._recovery = asyncio.create_task(self._recover(), name="engine-recovery")
        if self.lifecycle:
            await self.dispatch(
                "system.startup",
                {"version": __version__, "start_time": _iso(self.started)},
                source="system",
            )
        self._stats_task = asyncio.create_task(self._publish_stats(), name="engine-stats")

    def halt_hooks(self) -> None:
        """Start no more hook runs: the first step of a stop. Queued runs are dropped (their
        events stay unfinished, and the next start runs them); runs under way go on."""
        if self._recovery is not None:
            self._recovery.cancel()  # what it had not queued yet stays pending too
        if self._dispatcher is not None:
            self._dispatcher.halt()

    def _longest_deadline(self) -> float:
        return max([self.settings.hook_timeout, *(h.timeout for h in self._hooks.values())])

    async def close(self, reason: str = "stopped", drain_timeout: float = 10.0) -> None:
        """Stop: let queued hooks run for up to drain_timeout (0: start no more), let the
        runs under way end (each within its deadline), record system.shutdown (lifecycle
        engines; its own hooks run), close the store and release the lock.

        Whatever did not run stays pending in the store, and the next start runs it.
        """
        if self._closed:
            return
        d = self._dispatcher
        if d is not None:
            if drain_timeout > 0 and not d.halted:
                await d.drain(drain_timeout)
            self.halt_hooks()
            settled = await d.settle(self._longest_deadline() + SETTLE_GRACE)
            if not settled:
                log.warning("hook runs still under way past their deadline; stopping anyway")
            if self.lifecycle:
                await self._record_shutdown(d, reason, run_hooks=settled)
        self._closed = True
        if self._stats_task is not None:
            self._stats_task.cancel()
        if d is not None:
            # Settled: the pool is idle and joins at once. Else it is not waited for.
            await d.stop(timeout=None if d.idle else 0)
        self.bus.publish("shutdown", reason)
        await self._release()

    async def _record_shutdown(self, d: Dispatcher, reason: str, *, run_hooks: bool) -> None:
        """The last event. Its hooks run (nothing else does: the dispatcher is halted again
        right after), unless runs still under way hold the pool."""
        data = {"reason": reason, "uptime": round(time.time() - self.started, 3)}
        if run_hooks:
            d.resume()
        try:
            with contextlib.suppress(EventRefused):
                await self.dispatch("system.shutdown", data, source="system", wait=run_hooks)
        finally:
            d.halt()

    async def abort(self) -> None:
        """Stop at once (a second signal): nothing more runs or waits for runs under way;
        what is committed stays, the store is closed and the lock released. Runs cut off
        leave their events unfinished, for recovery."""
        self._closed = True
        self.halt_hooks()
        if self._stats_task is not None:
            self._stats_task.cancel()
        if self._dispatcher is not None:
            await self._dispatcher.stop(timeout=0)
        self.bus.publish("shutdown", "aborted")
        await self._release()

    async def _release(self) -> None:
        if self._released:
            return
        self._released = True
        try:
            await self.store.close()
        finally:
            if self._lock is not None:
                self._lock.release()

    async def __aenter__(self) -> Engine:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def _recover(self) -> None:
        """Queue the events a crash left unfinished, ahead of any new one, skipping hooks
        already recorded for them. Runs in the background (see _start)."""
        assert self._dispatcher is not None
        jobs: list[tuple[Event, list[Hook], None]] = []
        try:
            events = await self.store.unfinished_events()
            recorded: dict[int, set[str]] = {}
            if events:
                rows = await self.store.run_readonly(lambda c: c.execute(RECORDED_RUNS).fetchall())
                for event_id, hook in rows:
                    recorded.setdefault(event_id, set()).add(hook)
            for event in events:
                done = recorded.get(event.id, set())
                hooks = [h for h in self.matcher.match(event.type) if h.name not in done]
                if hooks:
                    jobs.append((event, hooks, None))
                else:
                    self.store.write_later(
                        ("UPDATE events SET status = 'completed' WHERE id = ?", (event.id,))
                    )
            if jobs:
                log.info("recovery: %d unfinished events queued ahead of new ones", len(jobs))
        except Exception:  # the events stay pending; new ones must not wait for ever
            log.exception("recovery failed; unfinished events stay pending")
            jobs = []
        finally:
            self._dispatcher.put_first(jobs)

    async def _publish_stats(self) -> None:
        while True:
            await asyncio.sleep(1.0)
            if self.bus.subscriber_count:
                self.bus.publish("stats", self.stats())

    # -- events ---------------------------------------------------------------

    def _check_open(self) -> Dispatcher:
        if self._closed or self._dispatcher is None:
            raise EventRefused("the engine is not accepting events (read-only or stopped)")
        return self._dispatcher

    def _admit(
        self, type: Any, data: Any, source: str, parent: Event | None, strict: bool | None
    ) -> tuple[Event, list[Hook], str]:
        """Validate and give the event its id; returns it, its hooks and its encoded data."""
        type, category, data, encoded, warnings = checked_parts(
            type, data, strict=self.settings.strict if strict is None else strict
        )
        if not source.isascii():
            _check_storable(source)
        if parent is None:
            depth = 0
            parent_id = None
        else:
            depth = parent.depth + 1
            parent_id = parent.id
            if depth > self.settings.max_depth:
                raise EventRefused(
                    f"event chain too deep: {type} would be at depth {depth}, "
                    f"the limit is {self.settings.max_depth}"
                )
        hooks = self.matcher.match(type)
        # Positional: this runs once per event, and keywords cost more.
        event = Event(
            self._next_id,
            type,
            category,
            data,
            source,
            time.time(),
            parent_id,
            depth,
            "pending" if hooks else "completed",
            warnings,
        )
        self._next_id += 1
        return event, hooks, encoded

    def _committed(self, event: Event) -> None:
        """After commit: count, publish, keep the retention cap."""
        self._events_total += 1
        self.bus.publish("event", event)
        if self._events_total % CAP_CHECK_EVERY == 0:
            self._enforce_cap()

    # -- events dispatched by hook runs (threadhost.Children) ------------------------
    # A run's events are inserted with its commit, when the run ends; the hook gets the
    # id at the call. So a child's id can be lower than ids committed while its parent
    # ran: ids are unique and follow the calls, but rows arrive in commit order, and a
    # reader that resumes "after the highest id seen" can miss a child committed late.
    # Live readers get every child from the bus (published at its commit); readers
    # that poll must dedupe by id rather than by the highest id (see the README).

    async def reserve_child(
        self, type: str, data: dict[str, Any], *, source: str, parent: Event
    ) -> tuple[Event, list[Hook], str]:
        """Check a hook's event and give it its id, and its room in the queue when it has
        hooks to run (refused when the queue is full: a hook never waits for room)."""
        dispatcher = self._check_open()
        event, hooks, encoded = self._admit(type, data, source, parent, None)
        if hooks:
            try:
                dispatcher.reserve_room()
            except EventRefused as exc:
                raise EventRefused(f"{type}: {exc}") from None
        return event, hooks, encoded

    def child_committed(self, event: Event, hooks: list[Hook]) -> None:
        self._committed(event)
        if hooks and self._dispatcher is not None:
            self._dispatcher.submit_reserved(event, hooks)

    def child_dropped(self, event: Event, hooks: list[Hook]) -> None:
        if hooks and self._dispatcher is not None:
            self._dispatcher.release_room()

    async def _queue_hooks(
        self, event: Event, hooks: list[Hook], parent: Event | None, *, wait: bool = False
    ) -> asyncio.Future[list[Execution]] | None:
        # The matcher's cached lists are replaced on reload, never mutated: no copy needed.
        dispatcher = self._check_open()
        if parent is not None:
            return dispatcher.submit_nowait(event, hooks, wait=wait)
        return await dispatcher.submit(event, hooks, wait=wait)

    async def dispatch(
        self,
        type: str,
        data: dict[str, Any] | None = None,
        *,
        source: str = "cli",
        parent: Event | None = None,
        strict: bool | None = None,
        wait: bool = False,
    ) -> Event:
        """Validate, store (returns once committed), publish, and queue for matching hooks.

        With wait=True, returns only after the hooks have run (see `executions_of`).
        """
        self._check_open()
        event, hooks, encoded = self._admit(type, data, source, parent, strict)
        await self.store.write((INSERT_EVENT, event_row(event, encoded)))
        self._committed(event)
        if hooks:
            done = await self._queue_hooks(event, hooks, parent, wait=wait)
            if done is not None:
                await done
        return event

    async def dispatch_and_run(
        self, type: str, data: dict[str, Any] | None = None, **kwargs: Any
    ) -> tuple[Event, list[Execution]]:
        """Dispatch and run the matching hooks to the end; return the event and its executions."""
        event = await self.dispatch(type, data, wait=True, **kwargs)
        return event, await self.executions_of(event.id)

    async def rerun(
        self, event_id: int, hooks: list[str] | None = None
    ) -> tuple[Event, list[Execution]]:
        """Run hooks again, for real, on a stored event: after fixing a hook that failed
        on it, say. Runs the hooks named, or else every enabled hook matching its type.

        The new executions are recorded beside the old ones, the event's status follows
        this run, and this returns once the runs are stored. The event keeps its id,
        data and time: events its hooks dispatch are its children, as the first time.
        """
        self._check_open()
        if hooks is not None and not hooks:
            raise HookError("name at least one hook to re-run, or none for all that match")
        event = await self.store.get_event(event_id)  # NotFound when missing or trimmed
        if hooks is None:
            chosen = self.matcher.match(event.type)
            if not chosen:
                raise HookError(f"no enabled hook matches {event.type}: nothing to re-run")
        else:
            chosen = []
            for name in dict.fromkeys(hooks):  # in the order given, once each
                hook = self._hooks.get(name)
                if hook is None:
                    raise NotFound(f"no hook named {name!r}")
                if not hook.enabled:
                    raise HookError(f"hook {name!r} is disabled: enable it to re-run it")
                chosen.append(hook)
        done = await self._queue_hooks(event, chosen, None, wait=True)
        assert done is not None
        executions = await done
        return event, executions

    async def dispatch_batch(
        self, items: list[tuple[Any, Any, str, bool | None]]
    ) -> list[Event | EventRefused]:
        """Many top-level events, one store write: how socket ingest keeps up with a pipelining
        producer (one task and one commit wait per batch instead of per event).

        Each item is (type, data, source, strict) and is checked alone: a refused one comes
        back as its EventRefused and the rest still go in. Returns once every accepted event
        is committed; results (and ids) follow the order given. Same rules as dispatch().
        """
        self._check_open()
        results: list[Event | EventRefused] = []
        ops: list[Any] = []
        accepted: list[tuple[Event, list[Hook]]] = []
        for type_, data, source, strict in items:
            try:
                event, hooks, encoded = self._admit(type_, data, source, None, strict)
            except EventRefused as exc:
                results.append(exc)
                continue
            ops.append((INSERT_EVENT, event_row(event, encoded)))
            accepted.append((event, hooks))
            results.append(event)
        if ops:
            await self.store.write(*ops)
        for event, hooks in accepted:
            self._committed(event)
            if hooks:
                await self._queue_hooks(event, hooks, None)
        return results

    def _enforce_cap(self) -> None:
        drop_upto = self._next_id - 1 - self.settings.max_events
        if drop_upto > 0:
            for op in Store.cap_ops(drop_upto):
                self.store.write_later(op)

    async def get_event(self, event_id: int) -> Event:
        return await self.store.get_event(event_id)

    async def query_events(self, flt: Filter | None = None, **kwargs: Any) -> list[Event]:
        return await self.store.query_events(flt, **kwargs)

    async def count_events(self, flt: Filter | None = None) -> int:
        return await self.store.count_events(flt)

    async def child_events(self, event_id: int) -> list[Event]:
        return await self.store.child_events(event_id)

    async def executions_of(self, event_id: int) -> list[Execution]:
        return list(reversed(await self.store.executions(event_id=event_id, limit=10_000)))

    async def hook_outcomes(self, event_ids: list[int]) -> dict[int, list[tuple[str, str]]]:
        """For each event id: (hook, status) of its real runs, oldest first ([] for none)."""
        return await self.store.hook_outcomes(event_ids)

    async def executions(self, **kwargs: Any) -> list[Execution]:
        return await self.store.executions(**kwargs)

    async def delete_event(self, event_id: int) -> None:
        await self.store.get_event(event_id)  # NotFound when missing
        await self._write(
            ("DELETE FROM executions WHERE event_id = ?", (event_id,)),
            ("DELETE FROM events WHERE id = ?", (event_id,)),
        )

    async def cleanup(self, older_than: float) -> int:
        """Delete events older than `older_than` seconds; return how many went."""
        cutoff = time.time() - older_than
        flt_count = await self.store.run_readonly(
            lambda c: c.execute("SELECT COUNT(*) FROM events WHERE ts < ?", (cutoff,)).fetchone()[0]
        )
        await self._write(*Store.cleanup_ops(cutoff))
        return int(flt_count)

    async def counts(self) -> dict[str, Any]:
        return {
            "categories": await self.store.counts_by_category(),
            "types": {t: n for _c, t, n in await self.store.counts_by_type()},
        }

    # -- notices and stats ----------------------------------------------------------

    def subscribe(self, maxsize: int = 10_000) -> Subscription:
        return self.bus.subscribe(maxsize)

    def stats(self) -> EngineStats:
        d = self._dispatcher
        return EngineStats(
            started=self.started,
            events_total=self._events_total,
            executions_total=d.executions_total if d else 0,
            queue_depth=d.depth if d else 0,
            bus_dropped=self.bus.dropped_total,
            subscribers=self.bus.subscriber_count,
            commits=self.store.commits,
        )

    async def wait_idle(self, timeout: float = 30.0) -> bool:
        """Wait until no hook work is queued or running (tests, `event dispatch`)."""
        if self._dispatcher is None:
            return True
        ok = await self._dispatcher.drain(timeout)
        await self.store.flush()
        return ok


def _iso(ts: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(ts))


def _check_storable(source: str) -> None:
    """SQLite stores UTF-8: a lone surrogate in a source (`socket:\\ud800` from a client)
    cannot be written, and would fail the whole commit round, other clients' events too."""
    try:
        source.encode("utf-8")
    except UnicodeEncodeError:
        raise EventRefused(
            f"source {source.encode('utf-8', 'backslashreplace').decode()} is not valid "
            "UTF-8 text (a lone surrogate)"
        ) from None
