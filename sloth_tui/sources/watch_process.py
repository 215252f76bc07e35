"""kind = "process": process.started when a matching process appears (none ran at the
last look) and process.stopped when the last one is gone, upstream's event names and
fields (process, watcher_id), plus the pids and how many match.

A process matches by name (psutil's name(), or the base name of argv[0], as upstream
compares it) or by a pattern searched in its whole command line.
"""

from __future__ import annotations

import asyncio
import os
from typing import Any

import psutil

from sloth_tui.sources.watch_base import Found, PolledWatcher, Sleep, vet_regex
from sloth_tui.sources.watch_config import ProcessWatch

MAX_PIDS = 100  # pids listed in one event


class ProcessWatcher(PolledWatcher):
    kind = "process"
    produces = ("process.started", "process.stopped")

    def __init__(self, spec: ProcessWatch, *, sleep: Sleep = asyncio.sleep) -> None:
        super().__init__(spec.name, spec.interval, sleep=sleep)
        self.spec = spec
        self._regex = vet_regex(spec.pattern) if spec.pattern else None  # RE2
        self.pids: list[int] = []  # the matching processes at the last look

    @property
    def label(self) -> str:
        return self.spec.process or self.spec.pattern

    def matches(self, name: str, cmdline: list[str]) -> bool:
        if self._regex is not None:
            line = " ".join(cmdline)[:65_536].encode("utf-8", "surrogateescape")  # argv's bytes
            return self._regex.search(line) is not None
        argv0 = os.path.basename(cmdline[0]) if cmdline else ""
        return self.spec.process in (name, argv0)

    def _scan(self) -> list[int]:
        """Blocking (a walk of /proc): run in a thread."""
        me = os.getpid()
        found = []
        for proc in psutil.process_iter(["name", "cmdline"]):
            info: dict[str, Any] = proc.info
            if proc.pid == me:
                continue
            if self.matches(info.get("name") or "", info.get("cmdline") or []):
                found.append(proc.pid)
        return sorted(found)

    async def check(self) -> Found:
        before, self.pids = self.pids, await asyncio.to_thread(self._scan)
        data = {"process": self.label, "watcher_id": self.watcher}
        if self.pids and not before:
            return [
                ("process.started", dict(data, pids=self.pids[:MAX_PIDS], count=len(self.pids)))
            ]
        if before and not self.pids:
            return [("process.stopped", dict(data, pids=before[:MAX_PIDS], count=0))]
        return []

    def describe(self) -> str:
        how = f"pattern {self.spec.pattern!r}" if self._regex else f"name {self.spec.process!r}"
        state = f"running ({len(self.pids)})" if self.pids else "not running"
        return f"{how}, every {self.spec.interval:g}s, {state}"
