"""Process and host resource figures for the Stats screen (psutil), sampled on demand."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import psutil


@dataclass(frozen=True, slots=True)
class SysInfo:
    proc_cpu: float  # percent of one core
    proc_rss: int  # bytes
    host_cpu: float  # percent of all cores
    host_mem: float  # percent used
    disk: float  # percent used on the data dir's filesystem
    disk_free: int  # bytes


class SysSampler:
    """Non-blocking: CPU percentages are deltas since the previous call."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.proc = psutil.Process()
        self.proc.cpu_percent(None)
        psutil.cpu_percent(None)

    def __call__(self) -> SysInfo:
        try:
            disk = psutil.disk_usage(str(self.path))
            disk_pct, free = disk.percent, disk.free
        except OSError:
            disk_pct, free = 0.0, 0
        return SysInfo(
            proc_cpu=self.proc.cpu_percent(None),
            proc_rss=self.proc.memory_info().rss,
            host_cpu=psutil.cpu_percent(None),
            host_mem=psutil.virtual_memory().percent,
            disk=disk_pct,
            disk_free=free,
        )
