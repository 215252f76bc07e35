"""kind = "service": a systemd unit's state, by `systemctl show -p ActiveState,SubState
UNIT`, and service.status_changed when it changes, upstream's event and fields
(service, old_status, new_status, watcher_id; a status is systemd's ActiveState, such
as active, inactive or failed) plus the SubStates (running, exited, dead, ...).

Where systemd does not run (a container, macOS), the watcher does not start and says
so in one line: "not available here: no systemd".
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
from dataclasses import dataclass

from sloth_tui.sources.watch_base import Found, PolledWatcher, Sleep, WatchError
from sloth_tui.sources.watch_config import ServiceWatch

SYSTEMD_DIR = "/run/systemd/system"  # exists only when systemd is the running init (sd_booted)
TIMEOUT = 10.0


@dataclass(frozen=True, slots=True)
class UnitState:
    active: str  # ActiveState
    sub: str  # SubState


def parse_show(text: str) -> UnitState:
    """`systemctl show -p ActiveState,SubState` output (KEY=value lines); ValueError
    when one of the two is missing."""
    values: dict[str, str] = {}
    for line in text.splitlines():
        key, sep, value = line.partition("=")
        if sep and key.strip() in ("ActiveState", "SubState"):
            values[key.strip()] = value.strip()[:64]
    if "ActiveState" not in values or "SubState" not in values:
        raise ValueError("systemctl show gave no ActiveState/SubState")
    return UnitState(values["ActiveState"], values["SubState"])


class ServiceWatcher(PolledWatcher):
    kind = "service"
    produces = ("service.status_changed",)

    def __init__(
        self,
        spec: ServiceWatch,
        *,
        sleep: Sleep = asyncio.sleep,
        systemd_dir: str = SYSTEMD_DIR,
        systemctl: tuple[str, ...] | None = None,
    ) -> None:
        super().__init__(spec.name, spec.interval, sleep=sleep)
        self.spec = spec
        self._systemd_dir = systemd_dir
        self._systemctl = systemctl  # the program to run (tests give a stand-in)
        self.state: UnitState | None = None

    async def prepare(self) -> None:
        if not os.path.isdir(self._systemd_dir):
            raise WatchError("not available here: no systemd")
        if self._systemctl is None:
            found = shutil.which("systemctl")
            if found is None:
                raise WatchError("not available here: no systemctl")
            self._systemctl = (found,)

    async def read_state(self) -> UnitState:
        assert self._systemctl is not None
        argv = [*self._systemctl, "show", "-p", "ActiveState,SubState", "--", self.spec.unit]
        proc = await asyncio.create_subprocess_exec(
            *argv,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        try:
            out, err = await asyncio.wait_for(proc.communicate(), TIMEOUT)
        except TimeoutError:
            with contextlib.suppress(ProcessLookupError):
                proc.kill()
            await proc.wait()
            raise WatchError(f"systemctl show {self.spec.unit} timed out") from None
        if proc.returncode != 0:
            why = err.decode("utf-8", "replace").strip()[:200] or f"exit code {proc.returncode}"
            raise WatchError(f"systemctl show {self.spec.unit}: {why}")
        try:
            return parse_show(out[:65_536].decode("utf-8", "replace"))
        except ValueError as exc:
            raise WatchError(f"{self.spec.unit}: {exc}") from None

    async def check(self) -> Found:
        before, self.state = self.state, await self.read_state()
        if before is None or before == self.state:
            return []
        data = {
            "service": self.spec.unit,
            "old_status": before.active,
            "new_status": self.state.active,
            "watcher_id": self.watcher,
            "old_sub_state": before.sub,
            "new_sub_state": self.state.sub,
        }
        return [("service.status_changed", data)]

    def describe(self) -> str:
        now = f"{self.state.active} ({self.state.sub})" if self.state else "not looked yet"
        return f"systemd unit {self.spec.unit} every {self.spec.interval:g}s, {now}"
