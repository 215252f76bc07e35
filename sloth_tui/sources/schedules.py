"""Schedules as a Source: `schedule.triggered` on each cron fire, `schedule.missed` once
for the fires that fell while no engine ran.

One source runs every schedule (config.toml's [[schedules]] and the CLI's file, see
schedule_store.py), on one loop: each tick re-reads the CLI's file when it changed,
fires what is due, and waits until the next fire (at most `poll` seconds, so a `schedule
add` is picked up within a second without a restart). A schedule whose events are
refused (its custom event fails the catalog in strict mode, the queue is full) is
logged and counted; it never stops the others, nor the loop.

Durability, the order of fire and write: per schedule, `schedule-state.json` keeps the
time through which its fires are accounted for. A fire is dispatched first (the engine
has stored it when dispatch returns) and the new mark written after. A crash between
the two loses nothing and doubles nothing: at the next start that one fire lies after
the mark, so it is reported in `schedule.missed` (missed fires are reported, never
replayed). Writing the mark first would instead lose the fire silently on such a crash.

At start, the fires between a schedule's mark and now fell while no engine ran: they
are counted (up to a cap; first and last found exactly) and reported as one
`schedule.missed`, not fired. While running, a tick that finds several fires due (the
machine slept, the clock jumped) fires the latest and reports the earlier ones missed.
A clock set back fires nothing until it passes the mark again.

In a fleet (serve --nats), engines that share a schedule fire it once per due time
between them: each due fire is claimed first (EngineAPI.claim_once, the fleet's claims
bucket), and only the winner dispatches it. Alone, or while NATS is unreachable, the
claim is always won. Missed-fire reports and manual runs are not claimed.

From the dashboard (EngineAPI.control_source; the source is `Controllable`): each
schedule is an item to enable or disable (the switch `schedule enable|disable` writes,
schedule_switch.py, then re-read at once) or to run once now: a schedule.triggered with
`manual: true`, counted as a fire, which moves no mark (the cron's fires are unchanged).
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from sloth_tui.config import ConfigError, Settings
from sloth_tui.model.errors import SlothError
from sloth_tui.model.stats import SOURCE_ACTIONS, SourceItem
from sloth_tui.sources.schedule_clock import Clock, SystemClock
from sloth_tui.sources.schedule_spec import (
    Due,
    ScheduleSpec,
    fires_between,
    iso_local,
    iso_utc,
    next_fire,
)
from sloth_tui.sources.schedule_store import (
    CliSchedules,
    Mark,
    cli_path,
    config_schedules,
    file_signature,
    load_cli,
    load_marks,
    merge,
    save_marks,
    state_path,
)
from sloth_tui.sources.schedule_switch import switch_schedule
from sloth_tui.sources.status import Status, one_line

if TYPE_CHECKING:
    from sloth_tui.engine.api import EngineAPI
    from sloth_tui.model.stats import SourceHealth
    from sloth_tui.sources.options import SourceOptions

log = logging.getLogger("sloth_tui.schedules")

KIND = "schedules"


def trigger_data(spec: ScheduleSpec, scheduled: float, now: float) -> dict[str, Any]:
    """schedule.triggered: the catalog's fields, then when and by what rule."""
    data: dict[str, Any] = {
        "schedule_name": spec.name,
        "schedule_id": spec.schedule_id,
        "workflow_name": spec.workflow_name,
        "scheduled_for": iso_utc(scheduled),
        "scheduled_local": iso_local(scheduled, spec.zone),
        "fired_at": iso_utc(now),
        "cron": spec.cron,
        "timezone": spec.timezone,
    }
    if spec.event is not None:
        data["event"] = spec.event
    return data


def missed_data(spec: ScheduleSpec, due: Due, now: float) -> dict[str, Any]:
    """schedule.missed: the catalog's fields (expected_time is the first missed fire,
    actual_time when it was found), then how many and the last."""
    return {
        "schedule_name": spec.name,
        "expected_time": iso_utc(due.first),
        "actual_time": iso_utc(now),
        "schedule_id": spec.schedule_id,
        "workflow_name": spec.workflow_name,
        "missed_count": due.count,
        "missed_count_exact": due.exact,
        "last_expected_time": iso_utc(due.last),
        "cron": spec.cron,
        "timezone": spec.timezone,
    }


class ScheduleSource:
    produces = ("schedule.triggered", "schedule.missed")  # and each entry's own event

    def __init__(
        self,
        settings: Settings,
        config: tuple[ScheduleSpec, ...],
        *,
        clock: Clock | None = None,
        poll: float = 1.0,
    ) -> None:
        self.settings = settings
        self.config = config
        self.clock: Clock = clock or SystemClock()
        self.poll = poll
        self.name = KIND
        self.specs: list[ScheduleSpec] = []
        self.marks: dict[str, Mark] = {}
        self.fired = 0
        self.manual = 0  # of those fired, run by hand (control "run")
        self.missed = 0
        self.errors = 0
        self.problem = ""  # the CLI's file or the state file, when one is unusable
        self.ticks = 0  # finished ticks (tests wait on it)
        self._next: dict[str, float | None] = {}
        self._sig: tuple[int, int, int] | None = None
        self._dirty = False
        self._api: EngineAPI | None = None
        self._task: asyncio.Task[None] | None = None
        self._status = Status(self.name, KIND)

    # -- lifecycle ----------------------------------------------------------------------

    async def start(self, api: EngineAPI) -> None:
        self._api = api
        now = self.clock.now()
        specs = self._read_specs()
        self.specs = specs if specs is not None else list(self.config)
        marks, problem = load_marks(state_path(self.settings))
        if problem:
            self._note_problem(problem)
        await self._account_at_start(marks, now)
        self._task = asyncio.create_task(self._run(), name="schedules")
        self._status.running()

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
            if self._dirty:
                self._save()
        self._status.stopped()

    def health(self) -> SourceHealth:
        on = sum(1 for s in self.specs if s.enabled)
        parts = [f"{len(self.specs)} schedules ({on} enabled), {self.fired} fired"]
        if self.manual:
            parts[0] += f" ({self.manual} by hand)"
        if self.missed:
            parts.append(f"{self.missed} missed")
        if self.errors:
            parts.append(f"{self.errors} errors")
        upcoming = [(t, n) for n, t in self._next.items() if t is not None]
        if upcoming:
            t, n = min(upcoming)
            parts.append(f"next {n} at {iso_utc(t)}")
        if self.problem:
            parts.append(self.problem)
        return self._status.health(", ".join(parts))

    # -- the schedules and their marks ----------------------------------------------------

    def _note_problem(self, problem: str) -> None:
        if problem != self.problem:
            log.error("schedules: %s", problem)
        self.problem = one_line(problem)

    def _read_specs(self) -> list[ScheduleSpec] | None:
        """config.toml's and the CLI's schedules; None (and a problem noted) when the
        CLI's file is unusable: the caller keeps what it runs."""
        path = cli_path(self.settings)
        self._sig = file_signature(path)
        try:
            cli = load_cli(path) if self._sig is not None else CliSchedules()
            specs = merge(self.config, cli, path)
        except ConfigError as exc:
            self._note_problem(str(exc))
            return None
        self.problem = ""
        return specs

    async def _account_at_start(self, marks: dict[str, Mark], now: float) -> None:
        """Report, once per schedule, the fires that fell since its mark; then mark
        every schedule accounted for through now."""
        for spec in self.specs:
            mark = marks.get(spec.name)
            if mark is not None and (mark.cron, mark.timezone) == (spec.cron, spec.timezone):
                since = max(mark.through, spec.changed)
            elif spec.changed:  # added by the CLI while no engine ran: counts from then
                since = spec.changed
            else:  # first seen (or its rule changed): nothing to count
                since = now
            if spec.enabled and since < now:
                due = await asyncio.to_thread(fires_between, spec, since, now)
                if due is not None:
                    await self._report_missed(spec, due, now)
            last = mark.last_fire if mark is not None else None
            self.marks[spec.name] = Mark(max(since, now), last, spec.cron, spec.timezone)
            self._next[spec.name] = next_fire(spec, max(since, now)) if spec.enabled else None
        if self.specs or marks:  # no file for a home without schedules
            self._dirty = True
            self._save()

    def _apply(self, specs: list[ScheduleSpec], now: float) -> None:
        """A changed CLI file while running: a new, changed or re-enabled schedule
        counts from now (nothing before it is missed); a removed one loses its mark."""
        old = {s.name: s for s in self.specs}
        for spec in specs:
            before = old.get(spec.name)
            mark = self.marks.get(spec.name)
            fresh = (
                before is None
                or mark is None
                or (before.cron, before.timezone) != (spec.cron, spec.timezone)
                or (spec.enabled and not before.enabled)
            )
            if fresh:
                last = mark.last_fire if mark is not None else None
                self.marks[spec.name] = Mark(now, last, spec.cron, spec.timezone)
                self._dirty = True
            through = self.marks[spec.name].through
            self._next[spec.name] = next_fire(spec, through) if spec.enabled else None
        for name in set(old) - {s.name for s in specs}:
            self.marks.pop(name, None)
            self._next.pop(name, None)
            self._dirty = True
        self.specs = specs
        log.info("schedules: %s", ", ".join(s.name for s in specs) or "(none)")

    def _save(self) -> None:
        try:
            save_marks(state_path(self.settings), self.marks)
        except OSError as exc:  # a full disk: the fires go on; at worst reported missed later
            self.errors += 1
            self._note_problem(f"cannot write {state_path(self.settings)}: {exc.strerror or exc}")
            return
        self._dirty = False

    # -- the loop -------------------------------------------------------------------------

    async def _run(self) -> None:
        while True:
            try:
                await self.tick()
                wake = self._wake()
            except Exception:  # a bug in one tick must not end the schedules (nor spin)
                self.errors += 1
                log.exception("schedules: tick failed")
                wake = self.clock.now() + self.poll
            await self.clock.sleep_until(wake)

    def _wake(self) -> float:
        upcoming = [t for t in self._next.values() if t is not None]
        return min([*upcoming, self.clock.now() + self.poll])

    async def tick(self) -> None:
        """Re-read the CLI's file if it changed, fire what is due, write the marks."""
        now = self.clock.now()
        if file_signature(cli_path(self.settings)) != self._sig:
            specs = self._read_specs()
            if specs is not None:
                self._apply(specs, now)
        for spec in self.specs:
            when = self._next.get(spec.name)
            if spec.enabled and when is not None and when <= now:
                await self._fire_due(spec, now)
        if self._dirty:
            self._save()
        self.ticks += 1

    async def _fire_due(self, spec: ScheduleSpec, now: float) -> None:
        mark = self.marks[spec.name]
        due = fires_between(spec, mark.through, now)
        if due is None:  # the cache was stale (a clock set back): look again
            self._next[spec.name] = next_fire(spec, mark.through)
            return
        latest = due.last
        # Advance the mark in memory before dispatching: a refused event is not retried
        # (each tick would refuse it again), it is logged and counted.
        self.marks[spec.name] = Mark(latest, latest, spec.cron, spec.timezone)
        self._next[spec.name] = next_fire(spec, latest)
        self._dirty = True
        if due.count > 1:  # the machine slept or the clock jumped: one report
            earlier = fires_between(spec, mark.through, latest - 1)
            if earlier is not None:
                await self._report_missed(spec, replace(earlier, exact=due.exact), now)
        # Engines of a fleet that share this schedule fire it once per due time between
        # them: the first to claim (name, due time) fires (EngineAPI.claim_once).
        if await self._claimed(spec, latest):
            await self._fire(spec, latest, now)

    async def _claimed(self, spec: ScheduleSpec, scheduled: float) -> bool:
        assert self._api is not None
        name = hashlib.sha256(spec.name.encode()).hexdigest()[:20]
        try:
            return await self._api.claim_once(f"schedule.{name}.{int(scheduled)}", 3600.0)
        except SlothError as exc:  # unknown is no: another engine may have fired it
            self.errors += 1
            log.error("schedule %s: cannot claim its fire: %s", spec.name, one_line(str(exc)))
            return False

    async def _fire(
        self, spec: ScheduleSpec, scheduled: float, now: float, *, manual: bool = False
    ) -> str:
        """Dispatch one fire; "" when it went in, else the one-line reason (logged)."""
        assert self._api is not None
        source = f"schedule:{spec.name}"
        data = trigger_data(spec, scheduled, now)
        if manual:
            data["manual"] = True
        try:
            await self._api.dispatch("schedule.triggered", data, source=source)
            self.fired += 1
            self.manual += manual
            log.info("schedule %s fired (%s)", spec.name, iso_utc(scheduled))
            if spec.event is not None:
                await self._api.dispatch(spec.event, dict(spec.data), source=source)
        except SlothError as exc:
            self.errors += 1
            log.error("schedule %s: %s", spec.name, one_line(str(exc)))
            return one_line(str(exc))
        return ""

    async def _report_missed(self, spec: ScheduleSpec, due: Due, now: float) -> None:
        assert self._api is not None
        try:
            await self._api.dispatch(
                "schedule.missed", missed_data(spec, due, now), source=f"schedule:{spec.name}"
            )
            self.missed += due.count
            log.warning(
                "schedule %s: %d fires missed (%s to %s)",
                spec.name,
                due.count,
                iso_utc(due.first),
                iso_utc(due.last),
            )
        except SlothError as exc:
            self.errors += 1
            log.error("schedule %s: %s", spec.name, one_line(str(exc)))

    # -- control from the dashboard (engine/api.py's Controllable) ----------------------

    def control_items(self) -> list[SourceItem]:
        items = []
        for spec in self.specs:
            when = self._next.get(spec.name)
            detail = f"{spec.cron} ({spec.timezone})"
            if not spec.enabled:
                detail += ", disabled"
            elif when is not None:
                detail += f", next {iso_local(when, spec.zone)}"
            items.append(SourceItem(self.name, spec.name, spec.enabled, SOURCE_ACTIONS, detail))
        return items

    async def control(self, item: str, action: str) -> str:
        spec = next((s for s in self.specs if s.name == item), None)
        if spec is None:
            raise SlothError(f"no schedule named {item!r}")
        if self._api is None:
            raise SlothError("the schedules are not running")
        if action == "run":
            now = self.clock.now()
            problem = await self._fire(spec, now, now, manual=True)
            if problem:
                raise SlothError(f"schedule {item}: {problem}")
            return f"ran schedule {item} once (schedule.triggered, manual)"
        if action not in ("enable", "disable"):
            raise SlothError(f"schedules: cannot {action}")
        return await self._switch(spec, action == "enable")

    async def _switch(self, spec: ScheduleSpec, enabled: bool) -> str:
        """The CLI's switch, then the file re-read now (not at the next tick), then the
        change recorded as the CLI records it (schedule.enabled / disabled)."""
        assert self._api is not None
        word = "enabled" if enabled else "disabled"
        now = self.clock.now()
        was = await asyncio.to_thread(switch_schedule, self.settings, spec.name, enabled, now)
        if was == enabled:
            return f"schedule {spec.name} was already {word}"
        specs = self._read_specs()
        if specs is not None:
            self._apply(specs, now)
        if self._dirty:
            self._save()
        try:
            await self._api.dispatch(
                f"schedule.{word}",
                {"schedule_name": spec.name, f"{word}_by": "dashboard"},
                source=f"schedule:{spec.name}",
            )
        except SlothError as exc:  # the switch is saved: the record is what failed
            self.errors += 1
            return f"{word} schedule {spec.name} (not recorded: {one_line(str(exc))})"
        return f"{word} schedule {spec.name}"


def schedule_sources(settings: Settings, options: SourceOptions) -> list[ScheduleSource]:
    """The registry's line for [[schedules]]: one source for every schedule, in `serve`
    only. A dashboard's embedded engine leaves them to serve, as it does the monitor and
    the watchers (a dashboard opened and closed now and then would fire them now and
    then; serve reports what fell while it was down). Always built, even with none
    configured, so a `schedule add` reaches a running serve. A bad [[schedules]] entry
    is a ConfigError here: serve refuses to start with that one line."""
    if options.role != "serve":
        return []
    return [ScheduleSource(settings, config_schedules(settings))]
