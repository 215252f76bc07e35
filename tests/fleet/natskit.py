"""A real `nats-server -js` on loopback for the fleet's tests: a free port, a temporary
store directory, stopped by its PID. `restart()` brings it back on the same port and
store (a NATS restart, as an operator's would be)."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path

import pytest


def nats_binary() -> str | None:
    return shutil.which("nats-server") or (
        "/usr/sbin/nats-server" if os.access("/usr/sbin/nats-server", os.X_OK) else None
    )


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class NatsServer:
    def __init__(self, store_dir: Path, port: int | None = None) -> None:
        binary = nats_binary()
        if binary is None:
            pytest.fail("nats-server is not installed (apt-get install nats-server; .ci/run does)")
        self.binary = binary
        self.store_dir = store_dir
        self.port = port or free_port()
        self.log = store_dir.parent / f"nats-{self.port}.log"
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"nats://127.0.0.1:{self.port}"

    def start(self, timeout: float = 15.0) -> NatsServer:
        self.store_dir.mkdir(parents=True, exist_ok=True)
        cmd = [
            self.binary,
            "-js",
            "-a",
            "127.0.0.1",
            "-p",
            str(self.port),
            "-sd",
            str(self.store_dir),
        ]
        with open(self.log, "ab") as log:
            self.proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=log, stderr=log)
        deadline = time.monotonic() + timeout
        while not self._ready():
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise AssertionError(f"nats-server did not come up:\n{self.output()}")
            time.sleep(0.02)
        return self

    def _ready(self) -> bool:
        return "Server is ready" in self.output()

    def output(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""

    def stop(self, sig: int = signal.SIGTERM) -> None:
        if self.proc is None:
            return
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        self.proc = None

    def kill(self) -> None:
        self.stop(signal.SIGKILL)

    def restart(self) -> NatsServer:
        self.stop()
        # the log of the next start is appended: wait on its own "ready" line
        if self.log.exists():
            self.log.rename(self.log.with_suffix(f".{time.monotonic_ns()}.log"))
        return self.start()
