"""Health and network checks ([[checks]] of config.toml) as sources: one per check.

Each check is its own Source (named check:NAME), with its own task: a probe that
hangs, a target that is down, or a bug in one probe stays that check's business, and
the others go on probing. A check whose target fails is still a *running* source: its
health() line says what the target is doing; the source fails only if it cannot run.

Parts: check_config (the table), check_probes / check_http (one probe), check_state
(results -> events, repeats suppressed). The time they use is injectable: `clock` (wall
time, for downtimes), `timer` (monotonic, for response times) and `sleep` (between
probes), so tests drive probes one at a time and never wait a real interval.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from sloth_tui.config import Settings
from sloth_tui.model.errors import SlothError
from sloth_tui.model.stats import SOURCE_ACTIONS, SourceItem
from sloth_tui.refusal_log import RefusalLog
from sloth_tui.sources.check_base import ProbeResult, Timer
from sloth_tui.sources.check_config import CheckSettings, load_checks
from sloth_tui.sources.check_probes import probe
from sloth_tui.sources.check_state import CheckState, Clock, Emitted
from sloth_tui.sources.status import Status

if TYPE_CHECKING:
    from sloth_tui.engine.api import EngineAPI
    from sloth_tui.model.stats import SourceHealth
    from sloth_tui.sources.options import SourceOptions

log = logging.getLogger("sloth_tui.checks")

Dispatch = Callable[..., Awaitable[Any]]
Sleep = Callable[[float], Awaitable[None]]


class CheckRunner:
    """One check: probe, turn the result into events, dispatch them."""

    def __init__(
        self,
        cfg: CheckSettings,
        dispatch: Dispatch,
        *,
        clock: Clock = time.time,
        timer: Timer = time.monotonic,
    ) -> None:
        self.cfg = cfg
        self.state = CheckState(cfg, clock)
        self.source = f"check:{cfg.name}"
        self._dispatch = dispatch
        self._timer = timer
        self._refusals = RefusalLog(self.source, log)

    async def tick(self) -> tuple[ProbeResult, Emitted]:
        """One probe now, and the events it raised (each dispatched)."""
        result = await probe(self.cfg, self._timer)
        events = self.state.feed(result)
        for event_type, data in events:
            try:
                await self._dispatch(event_type, data, source=self.source)
                self._refusals.taken()
            except SlothError as exc:  # refused (e.g. --strict): the check goes on
                self._refusals.refused(event_type, exc)
        if events:
            log.info("%s: %s", self.source, ", ".join(t for t, _ in events))
        return result, events


class CheckSource:
    """A [[checks]] entry as a Source: probes at start, then every `interval` seconds.

    On the Sources screen (engine/api.py Controllable) it can be paused, resumed and
    probed once now; a pause lasts while the engine runs (config.toml's `enabled` is
    what a restart reads)."""

    produces = ("health.*", "network.*")  # network.* from tcp checks

    def __init__(
        self,
        cfg: CheckSettings,
        *,
        clock: Clock = time.time,
        timer: Timer = time.monotonic,
        sleep: Sleep = asyncio.sleep,
    ) -> None:
        self.cfg = cfg
        self.name = f"check:{cfg.name}"
        self.runner: CheckRunner | None = None
        self._clock = clock
        self._timer = timer
        self._sleep = sleep
        self._task: asyncio.Task[None] | None = None
        self._stopping = False
        self._status = Status(self.name, "checks")
        self.paused = False
        # One probe at a time: a "run now" from the dashboard waits for the loop's.
        self._probing = asyncio.Lock()

    async def start(self, api: EngineAPI) -> None:
        self.runner = CheckRunner(self.cfg, api.dispatch, clock=self._clock, timer=self._timer)
        self._stopping = False
        self._task = asyncio.get_running_loop().create_task(self._run(), name=self.name)
        self._status.running()

    async def _run(self) -> None:
        runner = self.runner
        assert runner is not None
        log.info(
            "%s: %s %s every %gs", self.name, self.cfg.kind, self.cfg.target, self.cfg.interval
        )
        while not self._stopping:
            try:
                if not self.paused:
                    async with self._probing:
                        await runner.tick()
            except asyncio.CancelledError:
                raise
            except Exception:  # a bug here must not end the check, nor reach the others
                log.exception("%s: probe failed unexpectedly", self.name)
            await self._sleep(self.cfg.interval)

    async def stop(self) -> None:
        task, self._task = self._task, None
        self._stopping = True
        # One cancel can be lost: on Python 3.11 a wait_for whose inner future completes
        # as the cancel arrives returns the result instead, and the loop would go on to
        # sleep. So cancel until the task is done (the flag ends the loop either way).
        while task is not None and not task.done():
            task.cancel()
            await asyncio.wait({task}, timeout=1.0)
        if task is not None and not task.cancelled():
            with contextlib.suppress(Exception):
                task.result()
        self._status.stopped()

    def health(self) -> SourceHealth:
        state = self.runner.state.summary() if self.runner is not None else "no probe yet"
        paused = " (paused)" if self.paused else ""
        return self._status.health(f"{self.cfg.kind} {self.cfg.target}: {state}{paused}")

    # -- the Sources screen (Controllable) ---------------------------------------------

    def control_items(self) -> list[SourceItem]:
        detail = self.health().detail
        return [SourceItem(self.name, self.cfg.name, not self.paused, SOURCE_ACTIONS, detail)]

    async def control(self, item: str, action: str) -> str:
        if item != self.cfg.name:
            raise SlothError(f"no check named {item!r} in {self.name}")
        runner = self.runner
        if runner is None:
            raise SlothError(f"check {item} is not running")
        if action == "run":
            async with self._probing:
                result, _events = await runner.tick()
            return f"check {item}: " + ("passed" if result.ok else f"failed: {result.error}")
        self.paused = action == "disable"
        return f"check {item} {'paused until the engine restarts' if self.paused else 'resumed'}"


def check_sources(settings: Settings, options: SourceOptions) -> list[CheckSource]:
    """The registry's line for [[checks]]: one source per enabled entry. Checks are
    serve's, as the monitor and the watchers are: a dashboard's embedded engine leaves
    them out (without reading the table: a bad entry is serve's error to give). A bad
    entry is a ConfigError (one line) before anything starts."""
    if options.role != "serve":
        return []
    return [CheckSource(cfg) for cfg in load_checks(settings) if cfg.enabled]
