"""Engine: the one API that the CLI, the dashboard, the socket server and every source use.

engine = await Engine.open(settings)  # serving engines (serve, dashboard): lifecycle=True
event = await engine.dispatch("deploy.failed", {...}, source="cli")
sub = engine.subscribe()          # notices: event, event_status, execution, hooks, stats, log
await engine.close()
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sloth_tui import __version__
from sloth_tui.config import Settings
from sloth_tui.engine import fleet_outbox, stale_fd
from sloth_tui.engine.api import EventLine, SourceControls, SyntaxProblem, full_line
from sloth_tui.engine.bus import Bus, Subscription
from sloth_tui.engine.db_events import DbEvents, migration_events
from sloth_tui.engine.dispatcher import Dispatcher
from sloth_tui.engine.events import catalog_warnings, check_context, checked_parts
from sloth_tui.engine.explain import explain_event
from sloth_tui.engine.fleet_port import EngineFleetPort
from sloth_tui.engine.hook_admin import HookRegistry, refuse_if_readonly
from sloth_tui.engine.lock import DataDirLock
from sloth_tui.engine.log_notices import LogNotices
from sloth_tui.engine.mirror_intake import keys_of
from sloth_tui.engine.mirror_intake import plan as mirror_plan
from sloth_tui.engine.private import loose_modes
from sloth_tui.engine.replay import replay_hook
from sloth_tui.engine.state_run import ScopedRuns
from sloth_tui.engine.store import Store, migration_name
from sloth_tui.engine.threadhost import ThreadHost
from sloth_tui.engine.trace_sql import trace_event
from sloth_tui.lua import runtime as lua_runtime
from sloth_tui.lua.limits import Limits
from sloth_tui.lua.runtime import HookRuntime
from sloth_tui.model.errors import EventRefused, HookError, NotFound, SlothError
from sloth_tui.model.explain import HookVerdict
from sloth_tui.model.filters import Filter
from sloth_tui.model.fleet import FleetStatus
from sloth_tui.model.mirror import ForeignEvent, MirrorBatch, MirrorResult
from sloth_tui.model.records import OK_STATUSES, Event, Execution, Hook
from sloth_tui.model.replay import ReplayReport
from sloth_tui.model.stats import EngineStats, HookStats, SourceHealth, SourceItem
from sloth_tui.model.trace import Trace

if TYPE_CHECKING:
    from sloth_tui.engine.api import EngineAPI

log = logging.getLogger("sloth_tui.engine")

CAP_CHECK_EVERY = 1000  # events between retention-cap checks
SETTLE_GRACE = 2.0  # seconds past the longest hook deadline a stop waits for runs under way
GIL_SWITCH_INTERVAL = 0.0005  # seconds
STATS_EVERY = 1.0  # seconds between the figures notices while they change
STATS_QUIET_ROUNDS = 3  # unchanged rounds after which the figures loop sleeps until a stir


class Engine:
    """The engine in this process: implements EngineAPI (engine/api.py)."""

    settings: Settings

    def __init__(
        self,
        settings: Settings,
        store: Store,
        *,
        readonly: bool,
        lifecycle: bool = False,
        fleet: bool = False,
    ) -> None:
        self.settings = settings
        # In a fleet (serve --nats), hooks run where the fleet hands them out
        # (fleet/runner.py through fleet_port().run_hook), not at admission: an event
        # whose hooks match is stored pending and published, and recovery leaves it to
        # the fleet's redelivery. Its own records go out through the outbox.
        self.fleet = fleet
        self._fleet_status: Callable[[], FleetStatus] | None = None
        self._claim_once: Callable[[str, float], Awaitable[bool]] | None = None
        self.store = store
        self._readonly = readonly
        self.lifecycle = lifecycle
        self.bus = Bus()
        self._log_notices: LogNotices | None = None  # a serving engine's warnings, as notices
        self._started = time.time()
        self._registry = HookRegistry(settings, store, self.bus, readonly=readonly)
        # The registry's matcher: _admit asks it once per event.
        self.matcher = self._registry.matcher
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
        self._source_health: Callable[[], list[SourceHealth]] | None = None
        self.runs: ScopedRuns | None = None  # the dispatcher's RunFn (writable engines)
        self.db_events: DbEvents | None = None  # the store's watcher (engines that serve)
        self._source_controls: SourceControls | None = None  # report_controls
        # Mirror batches one at a time: each reads which keys are taken, then writes.
        self._mirror_lock = asyncio.Lock()

    # -- who this engine is ------------------------------------------------------------

    @property
    def remote(self) -> bool:
        return False

    @property
    def readonly(self) -> bool:
        return self._readonly

    @property
    def started(self) -> float:
        return self._started

    @property
    def info(self) -> dict[str, Any]:
        """What the daemon's ping tells of it (remote/server.py): for headers, `doctor`."""
        s = self.settings
        return {
            "version": __version__,
            "pid": os.getpid(),
            "home": str(s.home),
            "socket": str(s.socket_path),
            "hooks_dir": str(s.hooks_dir),
            "started": self._started,
        }

    # -- lifecycle ------------------------------------------------------------

    @classmethod
    async def open(
        cls,
        settings: Settings,
        *,
        readonly: bool = False,
        lifecycle: bool = False,
        fleet: bool = False,
        text_index: bool | None = None,
    ) -> Engine:
        """Open the engine on settings.home. Read-only engines take no lock and run no hooks.

        lifecycle=True is for engines that serve (`serve`, the dashboard's embedded
        engine): they record system.startup now and system.shutdown on close. A one-shot
        command leaves it off, so running one is not an event that hooks react to.
        text_index (default: lifecycle) keeps the store's text index, when
        settings.text_index allows: a one-shot command would start indexing, then wait
        for it at close; what it writes is indexed at the next serve.
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
            store = await Store.open(
                settings.db_path,
                readonly=readonly,
                check=lifecycle,
                text_index=settings.text_index
                and (lifecycle if text_index is None else text_index),
            )
            engine = cls(settings, store, readonly=readonly, lifecycle=lifecycle, fleet=fleet)
            engine._lock = lock
            if lifecycle:  # an engine that serves says so once, at its start
                engine.warnings = loose_modes(settings.home, settings.db_path)
                for line in engine.warnings:
                    log.warning("%s", line)
            await engine._registry.reload()
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
        # A client of this loop's servers must never wait on a reader asyncio forgot to
        # register (stale_fd.py: seen after a NATS kill).
        stale_fd.install(asyncio.get_running_loop())
        self._next_id = await self.store.max_event_id() + 1
        if self.fleet:
            # From the first event on (system.startup, what the socket takes before the
            # fleet's link is up): an event stored before the outbox would never reach
            # the fleet, and its hooks, left to the fleet, would never run.
            await fleet_outbox.enable(self.store)
        else:  # an engine once in a fleet and now alone keeps no outbox
            await fleet_outbox.disable(self.store)
        registry = self._registry
        host = ThreadHost(self.store, asyncio.get_running_loop(), self.dispatch, self)
        self._runtime = runtime = HookRuntime(host, registry.limits)
        # Real runs buffer their effects and commit them with their record (effects.py);
        # each runs in its scope (state_run.py): state.lock's table, opt-in state events.
        limits_for = _LimitsCache(registry)
        self.runs = ScopedRuns(
            lambda hook, event: host.run(runtime.run, hook, event, limits_for(hook)),
            run_many=lambda pairs, entered: host.run_many(
                runtime.run_many, pairs, limits_for, entered
            ),
            state_events=s.state_events,
        )
        self._dispatcher = Dispatcher(
            self.store,
            self.bus,
            self.runs,
            concurrency=s.concurrency,
            queue_size=s.queue_size,
            lookup=registry.find,
            run_many=self.runs.many,
        )
        self._dispatcher.follow_ups.disable = self._auto_disable
        registry.attach(runtime, self._dispatcher)
        # Recovery loads in the background, so `serve` listens at once; the workers wait
        # for it, and what it recovers goes to the queue ahead of anything new.
        self._dispatcher.hold()
        self._recovery = asyncio.create_task(self._recover(self._next_id), name="engine-recovery")
        if self.lifecycle:
            self._log_notices = LogNotices(self.bus)  # for attached dashboards to show
            self._log_notices.install()
            await self.dispatch(
                "system.startup",
                {"version": __version__, "start_time": _iso(self.started)},
                source="system",
            )
            await self._watch_store()
        self._stats_task = asyncio.create_task(self._publish_stats(), name="engine-stats")

    async def _watch_store(self) -> None:
        """An engine that serves records its store's own events (db_events.py): the
        migrations this open applied (only now can it record anything), the start-up
        integrity check of the state table, and from now on slow operations, write
        faults and damaged state values. A one-shot command records none, as it records
        no system.startup. (Damage PRAGMA quick_check finds stops the start before this:
        an engine cannot record an event in a store it refuses; `doctor` says why.)"""
        self.db_events = DbEvents(self.dispatch)
        self.store.watcher = self.db_events
        found, applied = self.store.migrated
        for data in migration_events(str(self.store.path), found, applied, migration_name):
            await self.dispatch("db.migration", data, source="system")
        damaged, total = await self.store.damaged_state()
        if total:
            log.warning("%d state values are damaged (not JSON); state.corrupted says which",
                        total)  # fmt: skip
        for hook, key in damaged:
            self.store.state_damaged(hook, key, "invalid_json")

    def halt_hooks(self) -> None:
        """Start no more hook runs: the first step of a stop. Queued runs are dropped (their
        events stay unfinished, and the next start runs them); runs under way go on."""
        if self._recovery is not None:
            self._recovery.cancel()  # what it had not queued yet stays pending too
        if self._dispatcher is not None:
            self._dispatcher.halt()

    async def close(self, reason: str | None = None, drain_timeout: float = 10.0) -> None:
        """Stop: let queued hooks run for up to drain_timeout (0: start no more), let the
        runs under way end (each within its deadline), record system.shutdown (lifecycle
        engines; its own hooks run), close the store and release the lock.

        Whatever did not run stays pending in the store, and the next start runs it.
        reason (for system.shutdown and the shutdown notice) defaults to "stopped".
        """
        if self._closed:
            return
        reason = "stopped" if reason is None else reason
        d = self._dispatcher
        if d is not None:
            if drain_timeout > 0 and not d.halted:
                await d.drain(drain_timeout)
            self.halt_hooks()
            settled = await d.settle(self._registry.longest_timeout() + SETTLE_GRACE)
            if not settled:
                log.warning("hook runs still under way past their deadline; stopping anyway")
            if self.lifecycle:
                await self._record_shutdown(d, reason, run_hooks=settled)
            await d.follow_ups.settle()  # an auto-disable under way writes its hook first
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
        if self.db_events is not None:  # nothing more to say about a store being closed
            self.store.watcher = None
            await self.db_events.settle()
        try:
            await self.store.close()
        finally:
            if self._lock is not None:
                self._lock.release()
            if self._log_notices is not None:  # after the store's last words
                self._log_notices.remove()

    async def __aenter__(self) -> Engine:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def _recover(self, first_new_id: int) -> None:
        """Queue the events a crash left unfinished, ahead of any new one, skipping hooks
        already recorded for them. Runs in the background (see _start): events this start
        admitted before its read (ids from `first_new_id` on) are queued already, and are
        not the crash's to recover (their hooks would run twice)."""
        assert self._dispatcher is not None
        jobs: list[tuple[Event, list[Hook], None, str, int]] = []
        if self.fleet:  # the fleet redelivers what no engine acked (fleet/runner.py)
            self._dispatcher.put_first(jobs)
            return
        try:
            events = [e for e in await self.store.unfinished_events() if e.id < first_new_id]
            recorded = await self.store.recorded_runs_of_unfinished() if events else {}
            for event in events:
                done = recorded.get(event.id, {})
                matched = self.matcher.admit(self.matcher.match(event.type, event.stack), event)
                hooks = [h for h in matched if h.name not in done]
                ok = all(status in OK_STATUSES for status in done.values())
                if hooks:
                    if not ok:  # a run before the crash failed: so does the event
                        self._dispatcher.follow_ups.recorded_before(event.id, done)
                    jobs.append((event, hooks, None, "recovery", 1))
                else:
                    self.store.set_status_later(event.id, "completed" if ok else "failed")
            if jobs:
                log.info("recovery: %d unfinished events queued ahead of new ones", len(jobs))
        except Exception:  # the events stay pending; new ones must not wait for ever
            log.exception("recovery failed; unfinished events stay pending")
            jobs = []
        finally:
            self._dispatcher.put_first(jobs)

    async def _publish_stats(self) -> None:
        """The engine's figures, each STATS_EVERY s while they change. Figures equal to
        the last ones are not sent: each notice wakes every subscriber (an idle dashboard,
        an attached one over the socket) only to show what it already shows. After
        STATS_QUIET_ROUNDS unchanged rounds, or with nobody subscribed, the loop sleeps
        until the bus stirs (every change starts with a notice or a subscriber), so an
        idle engine does not wake at all: a wakeup costs ~0.5 ms of CPU on a small VM."""
        last: EngineStats | None = None
        unchanged = 0
        while True:
            if unchanged >= STATS_QUIET_ROUNDS or not self.bus.subscriber_count:
                await self.bus.wait_stirred()
                unchanged = 0
            await asyncio.sleep(STATS_EVERY)
            if not self.bus.subscriber_count:
                last = None
                continue
            stats = self.stats()
            if stats == last:
                unchanged += 1
                continue
            self.bus.publish("stats", stats)
            last, unchanged = stats, 0

    # -- events ---------------------------------------------------------------

    def _check_open(self) -> Dispatcher:
        if self._closed or self._dispatcher is None:
            raise EventRefused("the engine is not accepting events (read-only or stopped)")
        return self._dispatcher

    def _admit(
        self,
        type: Any,
        data: Any,
        source: str,
        parent: Event | None,
        strict: bool | None,
        context: tuple[Any, Any, Any] | None = None,
    ) -> tuple[Event, list[Hook], str]:
        """Validate and give the event its id; returns it, its hooks and its encoded data.

        `context` is (stack, agent, run_id) as a producer gave them; an event a hook
        dispatches inherits its parent's, so a stack's chain stays in its stack."""
        type, category, data, encoded, warnings = checked_parts(
            type, data, strict=self.settings.strict if strict is None else strict
        )
        if not source.isascii():
            _check_storable(source)
        stack = agent = run_id = None
        if context is not None and context != (None, None, None):
            stack = check_context("stack", context[0])
            agent = check_context("agent", context[1])
            run_id = check_context("run_id", context[2])
        if parent is None:
            depth = 0
            parent_id = None
        else:
            stack, agent, run_id = parent.stack, parent.agent, parent.run_id
            depth = parent.depth + 1
            parent_id = parent.id
            if depth > self.settings.max_depth:
                raise EventRefused(
                    f"event chain too deep: {type} would be at depth {depth}, "
                    f"the limit is {self.settings.max_depth}"
                )
        matcher = self.matcher
        hooks = matcher.match(type, stack)
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
            stack,
            agent,
            run_id,
        )
        self._next_id += 1
        if hooks and matcher.conditional:  # some hook has a `when`: hooks it fails go
            hooks = matcher.admit(hooks, event)
            if not hooks:
                event.status = "completed"
        if hooks and self.fleet:  # pending: the fleet runs them (see __init__)
            hooks = []
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
        self,
        event: Event,
        hooks: list[Hook],
        parent: Event | None,
        *,
        wait: bool = False,
        trigger: str = "event",
    ) -> asyncio.Future[list[Execution]] | None:
        # The matcher's cached lists are replaced on reload, never mutated: no copy needed.
        dispatcher = self._check_open()
        if parent is not None:
            return dispatcher.submit_nowait(event, hooks, wait=wait, trigger=trigger)
        return await dispatcher.submit(event, hooks, wait=wait, trigger=trigger)

    async def dispatch(
        self,
        type: str,
        data: dict[str, Any] | None = None,
        *,
        source: str = "cli",
        parent: Event | None = None,
        strict: bool | None = None,
        wait: bool = False,
        stack: str | None = None,
        agent: str | None = None,
        run_id: str | None = None,
    ) -> Event:
        """Validate, store (returns once committed), publish, and queue for matching hooks.

        With wait=True, returns only after the hooks have run (see `executions_of`).
        """
        self._check_open()
        event, hooks, encoded = self._admit(
            type, data, source, parent, strict, (stack, agent, run_id)
        )
        await self.store.write_event(event, encoded)
        self._committed(event)
        if hooks:
            # The common case without a coroutine (this runs once per event): queued now
            # when there is room; else _queue_hooks waits for it.
            dispatcher = self._dispatcher
            if (
                parent is None
                and not wait
                and dispatcher is not None
                and not self._closed
                and dispatcher.submit_if_room(event, hooks)
            ):
                return event
            done = await self._queue_hooks(event, hooks, parent, wait=wait)
            if done is not None:
                await done
        return event

    async def dispatch_and_run(
        self,
        type: str,
        data: dict[str, Any] | None = None,
        *,
        source: str = "cli",
        strict: bool | None = None,
        stack: str | None = None,
        agent: str | None = None,
        run_id: str | None = None,
    ) -> tuple[Event, list[Execution]]:
        """Dispatch and run the matching hooks to the end; return the event and its executions."""
        event = await self.dispatch(
            type,
            data,
            source=source,
            strict=strict,
            wait=True,
            stack=stack,
            agent=agent,
            run_id=run_id,
        )
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
            # Hooks named run as asked; "all that match" follows their conditions (when).
            chosen = self.matcher.admit(self.matcher.match(event.type, event.stack), event)
            if not chosen:
                raise HookError(f"no enabled hook matches {event.type}: nothing to re-run")
        else:
            chosen = []
            for name in dict.fromkeys(hooks):  # in the order given, once each
                hook = self._registry.find(name)
                if hook is None:
                    raise NotFound(f"no hook named {name!r}")
                if not hook.enabled:
                    raise HookError(f"hook {name!r} is disabled: enable it to re-run it")
                chosen.append(hook)
        done = await self._queue_hooks(event, chosen, None, wait=True, trigger="rerun")
        assert done is not None
        executions = await done
        return event, executions

    async def _auto_disable(self, name: str, failures: int, last_error: str) -> None:
        """auto_disable (engine/policy_after.py): the hook is disabled with the reason, and
        a system.warning says so. Once per streak; `hook enable` clears the reason."""
        last = " ".join(last_error.split())  # one line
        if len(last) > 300:
            last = last[:300] + "…"
        reason = f"auto-disabled after {failures} failures in a row; last error: {last}"
        try:
            await self._registry.update_hook(name, enabled=False, disabled_reason=reason)
        except (NotFound, HookError):  # deleted meanwhile, or the engine is read-only
            return
        log.warning("hook %s %s", name, reason)
        data = {
            "component": f"hook:{name}",
            "message": f"hook {name} {reason}",
            "severity": "warning",
            "hook": name,
            "last_error": last,
        }
        with contextlib.suppress(EventRefused):  # stopping: the hook is disabled all the same
            await self.dispatch("system.warning", data, source="system")

    async def dispatch_batch(self, items: list[EventLine]) -> list[Event | EventRefused]:
        """Many top-level events, one store write: how socket ingest keeps up with a pipelining
        producer (one task and one commit wait per batch instead of per event).

        Each item is (type, data, source, strict, stack, agent, run_id), checked alone: a
        refused one comes back as its EventRefused and the rest still go in. Returns once
        every accepted event is committed; results (and ids) follow the order given. Same
        rules as dispatch().
        """
        self._check_open()
        results: list[Event | EventRefused] = []
        rows: list[tuple[Event, str | None]] = []
        accepted: list[tuple[Event, list[Hook]]] = []
        for type_, data, source, strict, stack, agent, run_id in map(full_line, items):
            try:
                event, hooks, encoded = self._admit(
                    type_, data, source, None, strict, (stack, agent, run_id)
                )
            except EventRefused as exc:
                results.append(exc)
                continue
            rows.append((event, encoded))
            accepted.append((event, hooks))
            results.append(event)
        if rows:
            await self.store.write_events(rows)
        for event, hooks in accepted:
            self._committed(event)
            if hooks:
                await self._queue_hooks(event, hooks, None)
        return results

    async def mirror(self, batch: MirrorBatch) -> MirrorResult:
        """Take in another engine's rows (the Sloth Runner bridge): each key once, the
        cursor in the same transaction. See model/mirror.py and engine/mirror_intake.py."""
        self._check_open()
        # strict=False below: mirrored rows happened elsewhere, and refusing one for a
        # catalog mismatch would lose it; they are kept, with their warnings.

        def admit(foreign: ForeignEvent) -> tuple[Event, list[Hook], str]:
            context = (foreign.stack, foreign.agent, foreign.run_id)
            admitted = self._admit(foreign.type, foreign.data, batch.source, None, False, context)
            event = admitted[0]
            # Sloth Runner nests the catalog's fields under the category (data.task.
            # task_name, data.agent.name): kept as it comes, and checked where they are.
            nested = event.data.get(event.category)
            if event.warnings and isinstance(nested, dict):
                event.warnings = catalog_warnings(event.type, nested)
            return admitted

        async with self._mirror_lock:
            known = await self.store.mirrored(keys_of(batch))
            todo = mirror_plan(batch, known, admit)
            if todo.writes:
                await self.store.write(*todo.writes)
        for event, hooks in todo.new_events:
            self._committed(event)
            if hooks:
                await self._queue_hooks(event, hooks, None)
        for execution in todo.executions:
            self.bus.publish("execution", execution)
        for local_id in todo.status_changes:
            with contextlib.suppress(NotFound):  # trimmed meanwhile: nothing to show
                self.bus.publish("event_status", await self.store.get_event(local_id))
        return todo.result

    async def mirror_cursor(self, name: str) -> str | None:
        """Where the mirror `name` resumes (None: from the start)."""
        return await self.store.cursor(name)

    def _enforce_cap(self) -> None:
        drop_upto = self._next_id - 1 - self.settings.max_events
        if drop_upto > 0:
            self.store.trim_later(drop_upto)

    async def get_event(self, event_id: int) -> Event:
        return await self.store.get_event(event_id)

    async def query_events(
        self,
        flt: Filter | None = None,
        *,
        limit: int = 100,
        before_id: int | None = None,
        after_id: int | None = None,
        since: float | None = None,
        until: float | None = None,
    ) -> list[Event]:
        return await self.store.query_events(
            flt, limit=limit, before_id=before_id, after_id=after_id, since=since, until=until
        )

    async def count_events(self, flt: Filter | None = None) -> int:
        return await self.store.count_events(flt)

    async def child_events(self, event_id: int) -> list[Event]:
        return await self.store.child_events(event_id)

    async def executions_of(self, event_id: int) -> list[Execution]:
        return list(reversed(await self.store.executions(event_id=event_id, limit=10_000)))

    async def hook_outcomes(self, event_ids: list[int]) -> dict[int, list[tuple[str, str]]]:
        """For each event id: (hook, status) of its real runs, oldest first ([] for none)."""
        return await self.store.hook_outcomes(event_ids)

    async def executions(
        self,
        hook: str | None = None,
        event_id: int | None = None,
        status: str | None = None,
        only_failed: bool = False,
        include_dry_runs: bool = True,
        before_id: int | None = None,
        limit: int = 100,
    ) -> list[Execution]:
        return await self.store.executions(
            hook=hook,
            event_id=event_id,
            status=status,
            only_failed=only_failed,
            include_dry_runs=include_dry_runs,
            before_id=before_id,
            limit=limit,
        )

    async def delete_event(self, event_id: int) -> None:
        await self.store.get_event(event_id)  # NotFound when missing
        refuse_if_readonly(self._readonly)
        await self.store.delete_event(event_id)

    async def cleanup(self, older_than: float) -> int:
        """Delete events older than `older_than` seconds; return how many went."""
        cutoff = time.time() - older_than
        count = await self.store.count_older_than(cutoff)
        refuse_if_readonly(self._readonly)
        await self.store.delete_older_than(cutoff)
        return count

    async def counts(self) -> dict[str, Any]:
        return {
            "categories": await self.store.counts_by_category(),
            "types": {t: n for _c, t, n in await self.store.counts_by_type()},
        }

    # -- hooks (hook_admin.HookRegistry) ----------------------------------------------

    async def list_hooks(self) -> list[Hook]:
        return await self._registry.list_hooks()

    async def get_hook(self, name: str) -> Hook:
        return await self._registry.get_hook(name)

    async def add_hook(
        self,
        name: str,
        events: list[str],
        file: str | Path,
        *,
        description: str = "",
        enabled: bool = True,
        timeout: float | None = None,
        max_instructions: int | None = None,
        max_memory_mb: int | None = None,
        stack: str | None = None,
    ) -> Hook:
        return await self._registry.add_hook(
            name,
            events,
            file,
            description=description,
            enabled=enabled,
            timeout=timeout,
            max_instructions=max_instructions,
            max_memory_mb=max_memory_mb,
            stack=stack,
        )

    async def update_hook(self, name: str, **changes: Any) -> Hook:
        return await self._registry.update_hook(name, **changes)

    async def set_hook_enabled(self, name: str, enabled: bool) -> Hook:
        return await self._registry.update_hook(name, enabled=enabled)

    async def delete_hook(self, name: str) -> None:
        await self._registry.delete_hook(name)

    async def hook_stats(self) -> dict[str, HookStats]:
        return await self.store.hook_stats()

    async def test_hook(
        self,
        hook: Hook | str,
        event_type: str | None = None,
        data: dict[str, Any] | None = None,
        *,
        event: Event | None = None,
        code: str | None = None,
    ) -> Execution:
        """Dry run: the hook on a sample (or given) event; http and dispatch are only recorded."""
        return await self._registry.test_hook(hook, event_type, data, event=event, code=code)

    async def replay(self, name: str, *, code: str | None = None, last: int = 50) -> ReplayReport:
        return await replay_hook(self, self._registry, name, code=code, last=last)

    # -- why, and what followed -----------------------------------------------------------

    async def explain(self, event_id: int, hook: str | None = None) -> list[HookVerdict]:
        return await explain_event(self, self._registry, event_id, hook)

    async def trace(self, event_id: int) -> Trace:
        return await trace_event(self.store, event_id)

    # -- Lua, checked here (a thread each: compiling must not hold up the loop) -----------

    async def check_syntax(self, code: str, chunkname: str = "hook") -> SyntaxProblem:
        return await asyncio.to_thread(lua_runtime.check_syntax, code, chunkname)

    async def declared_event_types(self, path: str) -> list[str]:
        return await asyncio.to_thread(lua_runtime.declared_event_types, path)

    # -- notices and stats ----------------------------------------------------------

    def subscribe(self, maxsize: int = 10_000) -> Subscription:
        return self.bus.subscribe(maxsize)

    async def wait_subscribed(self, timeout: float = 5.0) -> bool:
        """Notices flow at once from a local bus: nothing to wait for."""
        return True

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
            text_index_waiting=index.waiting if (index := self.store.text_index) else 0,
            write_fault=self.store.write_fault,
        )

    def report_sources(self, health: Callable[[], list[SourceHealth]]) -> None:
        """Where source_health() reads from: the wiring that started this engine's
        producers (sources/wiring.py) hands its SourceSet.health here."""
        self._source_health = health

    async def source_health(self) -> list[SourceHealth]:
        return [] if self._source_health is None else self._source_health()

    def report_controls(self, controls: SourceControls) -> None:
        """Where source_items() and control_source() go: the wiring that started this
        engine's producers (sources/wiring.py's SourceSet), as with report_sources."""
        self._source_controls = controls

    async def source_items(self) -> list[SourceItem]:
        return [] if self._source_controls is None else self._source_controls.source_items()

    async def control_source(self, source: str, item: str, action: str) -> str:
        if self._source_controls is None:
            raise SlothError("this engine runs no sources to control")
        return await self._source_controls.control_source(source, item, action)

    async def fleet_status(self) -> FleetStatus:
        return FleetStatus() if self._fleet_status is None else self._fleet_status()

    async def claim_once(self, key: str, ttl_hint: float) -> bool:
        # Alone, every claim is this engine's; in a fleet the membership answers.
        return True if self._claim_once is None else await self._claim_once(key, ttl_hint)

    def fleet_port(self) -> EngineFleetPort:
        """What the fleet's parts need beyond EngineAPI (engine/api.FleetPort)."""
        return EngineFleetPort(self)

    async def wait_idle(self, timeout: float = 30.0) -> bool:
        """Wait until no hook work is queued or running (tests, `event dispatch`). A retry
        whose delay has not passed is not waited for (a stop must not wait for it)."""
        if self._dispatcher is None:
            return True
        ok = await self._dispatcher.drain(timeout)
        await self.store.flush()
        return ok


if TYPE_CHECKING:

    def _conforms(engine: Engine) -> EngineAPI:
        """mypy checks here that Engine implements EngineAPI, member by member."""
        return engine


class _LimitsCache:
    """registry.limits_for(hook), built once per settings and per hook's own limits.

    Building Limits resolves paths (the temp dir's realpath, the vault's files): about
    a tenth of a trivial hook run's engine time when done per run. Called from every
    pool thread: a race builds the same value twice, which is harmless."""

    def __init__(self, registry: HookRegistry) -> None:
        self._registry = registry
        self._settings = registry.settings
        self._built: dict[tuple[int | None, int | None], Limits] = {}

    def __call__(self, hook: Hook) -> Limits:
        registry = self._registry
        if registry.settings is not self._settings:  # replaced: start again
            self._settings = registry.settings
            self._built = {}
        key = (hook.max_instructions, hook.max_memory_mb)
        limits = self._built.get(key)
        if limits is None:
            limits = self._built[key] = registry.limits_for(hook)
        return limits


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
