"""The system monitor: samples the host with psutil and raises events on thresholds.

Each alarm fires when its reading reaches the threshold and then stays quiet
until the reading falls `hysteresis` points below it (hysteresis), so a value
hovering at the line does not flood the engine.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import psutil

from sloth_tui.config import ConfigError, MonitorSettings, Settings
from sloth_tui.model.errors import SlothError
from sloth_tui.refusal_log import RefusalLog
from sloth_tui.sources.status import Status

if TYPE_CHECKING:
    from sloth_tui.engine.api import EngineAPI
    from sloth_tui.model.stats import SourceHealth
    from sloth_tui.sources.options import SourceOptions

log = logging.getLogger("sloth_tui.monitor")

Dispatch = Callable[..., Awaitable[Any]]


@dataclass(slots=True)
class Sample:
    cpu_percent: float
    load: tuple[float, float, float]
    cpu_count: int
    memory_total: int
    memory_available: int
    memory_percent: float
    disks: dict[str, tuple[float, int]] = field(default_factory=dict)  # mount -> (percent, free)
    cost_s: float = 0.0  # CPU time the sample itself took


def check_settings(settings: MonitorSettings) -> None:
    if settings.interval <= 0:
        raise ConfigError(f"[monitor] interval must be above 0 seconds, not {settings.interval}")
    if settings.hysteresis < 0:
        raise ConfigError("[monitor] hysteresis must not be negative")


def take_sample(mounts: tuple[str, ...], missing: set[str]) -> Sample:
    """One reading of the host. Blocking (disk_usage may stall on a dead mount): run in a thread."""
    started = time.thread_time()
    memory = psutil.virtual_memory()
    disks: dict[str, tuple[float, int]] = {}
    for mount in mounts:
        try:
            usage = psutil.disk_usage(mount)
        except OSError as exc:
            if mount not in missing:  # say it once, not every interval
                missing.add(mount)
                log.error("monitor: cannot read disk usage of %s: %s", mount, exc.strerror or exc)
            continue
        missing.discard(mount)
        disks[mount] = (usage.percent, usage.free)
    return Sample(
        cpu_percent=psutil.cpu_percent(interval=None),
        load=os.getloadavg(),
        cpu_count=psutil.cpu_count() or 1,
        memory_total=memory.total,
        memory_available=memory.available,
        memory_percent=memory.percent,
        disks=disks,
        cost_s=time.thread_time() - started,
    )


class Alarms:
    """Threshold crossings with hysteresis; pure, so it is tested on made-up samples."""

    def __init__(self, settings: MonitorSettings) -> None:
        self.settings = settings
        self._high: set[str] = set()

    def _crossed(self, key: str, value: float, threshold: float) -> bool:
        if key in self._high:
            if value < threshold - self.settings.hysteresis:
                self._high.discard(key)  # recovered: may fire again
            return False
        if value >= threshold:
            self._high.add(key)
            return True
        return False

    def check(self, s: Sample) -> list[tuple[str, dict[str, Any]]]:
        cfg = self.settings
        out: list[tuple[str, dict[str, Any]]] = []
        if self._crossed("cpu", s.cpu_percent, cfg.cpu_percent):
            out.append(
                (
                    "system.cpu_high",
                    {"usage_percent": s.cpu_percent, "load_average": round(s.load[0], 2)},
                )
            )
        if self._crossed("memory", s.memory_percent, cfg.memory_percent):
            out.append(
                (
                    "system.memory_low",
                    {
                        "total": s.memory_total,
                        "available": s.memory_available,
                        "usage_percent": s.memory_percent,
                    },
                )
            )
        for mount, (percent, free) in s.disks.items():
            if self._crossed(f"disk:{mount}", percent, cfg.disk_percent):
                out.append(
                    (
                        "system.disk_full",
                        {"mount_point": mount, "usage_percent": percent, "available_bytes": free},
                    )
                )
        per_cpu = round(s.load[0] / s.cpu_count, 2)
        if self._crossed("load", per_cpu, cfg.load_per_cpu):
            out.append(
                (
                    "system.resource_high",
                    {"resource": "load_per_cpu", "current": per_cpu, "threshold": cfg.load_per_cpu},
                )
            )
        return out


class SystemMonitor:
    """Samples every `interval` seconds and dispatches alarms through `dispatch`."""

    def __init__(self, dispatch: Dispatch, settings: MonitorSettings) -> None:
        check_settings(settings)
        self.settings = settings
        self.alarms = Alarms(settings)
        self.samples = 0
        self.cpu_seconds = 0.0  # the monitor's own cost, for the overhead figure
        self._dispatch = dispatch
        self._refusals = RefusalLog("monitor", log)
        self._missing: set[str] = set()
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        psutil.cpu_percent(interval=None)  # the first reading is against boot: prime it
        self._task = asyncio.get_running_loop().create_task(self._run(), name="system-monitor")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def _run(self) -> None:
        log.info("sampling every %gs", self.settings.interval)
        while True:
            await asyncio.sleep(self.settings.interval)
            await self.tick()

    async def tick(self) -> list[tuple[str, dict[str, Any]]]:
        """One sample and the alarms it raised (each dispatched)."""
        sample = await asyncio.to_thread(take_sample, self.settings.mount_points, self._missing)
        started = time.thread_time()
        alarms = self.alarms.check(sample)
        for event_type, data in alarms:
            try:
                await self._dispatch(event_type, data, source="system")
                self._refusals.taken()
            except SlothError as exc:
                self._refusals.refused(event_type, exc)
        self.samples += 1
        self.cpu_seconds += sample.cost_s + time.thread_time() - started
        return alarms


class MonitorSource:
    """[monitor] as a Source: a SystemMonitor dispatching into the engine it starts with."""

    produces = ("system.cpu_high", "system.memory_low", "system.disk_full", "system.resource_high")

    def __init__(self, settings: MonitorSettings) -> None:
        self.settings = settings
        self.name = "monitor"
        self.monitor: SystemMonitor | None = None
        self._status = Status(self.name, "monitor")

    async def start(self, api: EngineAPI) -> None:
        try:
            monitor = SystemMonitor(api.dispatch, self.settings)  # checks [monitor]
        except SlothError as exc:
            raise self._status.failed(exc) from None
        monitor.start()
        self.monitor = monitor
        self._status.running()

    async def stop(self) -> None:
        if self.monitor is not None:
            await self.monitor.stop()
        self._status.stopped()

    def health(self) -> SourceHealth:
        m = self.monitor
        samples = m.samples if m is not None else 0
        return self._status.health(f"every {self.settings.interval:g} s, {samples} samples")


def monitor_sources(settings: Settings, options: SourceOptions) -> list[MonitorSource]:
    """The registry's line for [monitor]: one monitor unless it is switched off."""
    if not (options.monitor and settings.monitor.enabled):
        return []
    return [MonitorSource(settings.monitor)]
