"""systemd's notify protocol (sd_notify(3)) for `serve` under `Type=notify`.

systemd passes NOTIFY_SOCKET, an AF_UNIX datagram socket (a path, or "@name" in the
abstract namespace), and for `WatchdogSec=` WATCHDOG_USEC (and WATCHDOG_PID, the process
it is meant for). A message is newline-separated `KEY=value` assignments in one
datagram: READY=1 once serving, STATUS=... for `systemctl status`, STOPPING=1 when
stopping, WATCHDOG=1 at least once per WATCHDOG_USEC or systemd kills and (with
Restart=) restarts the service.

The protocol is one sendto(), so it is written here rather than taken as a dependency.
Nothing here may stop `serve`: a missing or refusing socket is logged once and the
daemon goes on, as libsystemd's sd_notify() does.
"""

from __future__ import annotations

import asyncio
import logging
import os
import re
import socket
from collections.abc import MutableMapping
from dataclasses import dataclass, field

log = logging.getLogger("sloth_tui.serve.notify")

_VARS = ("NOTIFY_SOCKET", "WATCHDOG_USEC", "WATCHDOG_PID")
# A STATUS value is one line: control characters (newlines above all, which would start
# a new assignment) become spaces.
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
STATUS_MAX = 512  # systemd shows it in one line of `systemctl status`


@dataclass(slots=True)
class Notifier:
    """Sends notifications when `address` is set; does nothing otherwise (not under
    systemd, or Type=simple)."""

    address: str | None = None  # as socket.sendto takes it: abstract names start with NUL
    watchdog_interval: float | None = None  # seconds between WATCHDOG=1, half the limit
    _sock: socket.socket | None = field(default=None, repr=False)
    _complained: bool = field(default=False, repr=False)

    @classmethod
    def from_environ(
        cls, env: MutableMapping[str, str] | None = None, *, pid: int | None = None
    ) -> Notifier:
        """Read (and remove, as sd_notify's unset_environment does) the variables, so
        processes `serve` starts (command watchers) cannot speak for it."""
        env = os.environ if env is None else env
        values = {name: env.pop(name, None) for name in _VARS}
        raw = values["NOTIFY_SOCKET"]
        if not raw:
            return cls()
        address = "\0" + raw[1:] if raw.startswith("@") else raw
        interval = _watchdog_interval(
            values["WATCHDOG_USEC"], values["WATCHDOG_PID"], os.getpid() if pid is None else pid
        )
        return cls(address=address, watchdog_interval=interval)

    @property
    def enabled(self) -> bool:
        return self.address is not None

    def send(self, *assignments: str) -> bool:
        """One datagram of `KEY=value` lines; False when it could not be sent."""
        if self.address is None or not assignments:
            return False
        message = "\n".join(assignments).encode("utf-8", "replace")
        try:
            if self._sock is None:
                self._sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
                self._sock.setblocking(False)  # the engine's loop never waits on systemd
            self._sock.sendto(message, self.address)
        except OSError as exc:
            if not self._complained:  # once: a watchdog every few seconds would flood
                self._complained = True
                log.warning("cannot notify systemd at %s: %s", self.address, exc)
            return False
        return True

    def ready(self, status: str) -> bool:
        return self.send("READY=1", status_line(status))

    def status(self, status: str) -> bool:
        return self.send(status_line(status))

    def stopping(self, status: str) -> bool:
        return self.send("STOPPING=1", status_line(status))

    async def watchdog(self) -> None:
        """WATCHDOG=1 every `watchdog_interval` seconds, from the loop that runs the
        engine: when that loop hangs the pings stop, and systemd acts. Runs until
        cancelled; returns at once when no watchdog was asked for."""
        interval = self.watchdog_interval
        if self.address is None or interval is None:
            return
        while True:
            self.send("WATCHDOG=1")
            await asyncio.sleep(interval)

    def close(self) -> None:
        if self._sock is not None:
            self._sock.close()
            self._sock = None


def status_line(text: str) -> str:
    return "STATUS=" + _CONTROL.sub(" ", text)[:STATUS_MAX]


def _watchdog_interval(usec: str | None, for_pid: str | None, pid: int) -> float | None:
    """Half of WATCHDOG_USEC in seconds (systemd's advice), or None: not set, not for
    this process (WATCHDOG_PID names another one), or not a positive number."""
    if not usec:
        return None
    if for_pid and for_pid.strip() != str(pid):
        return None
    try:
        micros = int(usec)
    except ValueError:
        log.warning("WATCHDOG_USEC=%r is not a number of microseconds: no watchdog", usec)
        return None
    if micros <= 0:
        return None
    return micros / 2 / 1_000_000
