"""Fleet test kit: real `sloth-tui serve --nats` engines, each with its own home and name.

    engines = Fleet(tmp_path, nats_server.url, ["a", "b", "c"]).start()
    engines["a"].send({"type": "deploy.failed", "data": {...}})   # over its socket
    wait_for(lambda: engines["b"].count("deploy.failed") == 1)
    engines.stop()   # or a single engine's kill() (SIGKILL) and start() again

Everything is read back from each engine's own SQLite file (read-only), never mocked.
"""

from __future__ import annotations

import contextlib
import json
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

SLOTH = [sys.executable, "-m", "sloth_tui"]


def wait_for(predicate: Callable[[], Any], timeout: float = 30.0, what: str = "condition") -> Any:
    """Poll until predicate() is truthy; AssertionError naming `what` after timeout."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(0.05)


class FleetEngine:
    """One `serve --nats` process; logs to HOME-serve.log; killed in teardown."""

    def __init__(
        self,
        root: Path,
        name: str,
        url: str,
        *,
        config: str = "",
        args: Iterable[str] = (),
        prelude: str = "",
    ) -> None:
        self.name = name
        # Python run in the serve process before sloth-tui's own (a test patching a constant)
        self.prelude = prelude
        self.url = url
        self.home = root / name
        self.home.mkdir(parents=True, exist_ok=True)
        (self.home / "config.toml").write_text(f'[nats]\nname = "{name}"\n{config}')
        self.args = list(args)
        self.log = root / f"{name}-serve.log"
        self.proc: subprocess.Popen[bytes] | None = None
        self.socket = self.home / "sloth.sock"

    @property
    def db(self) -> Path:
        return self.home / "sloth.db"

    def start(self, timeout: float = 30.0, *, wait_connected: bool = True) -> FleetEngine:
        mark = len(self.output())
        program = SLOTH
        if self.prelude:
            then = "import runpy\nrunpy.run_module('sloth_tui', run_name='__main__')"
            program = [sys.executable, "-c", f"{self.prelude}\n{then}"]
        cmd = [*program, "serve", "--home", str(self.home), "--nats", self.url, "--no-monitor"]
        with open(self.log, "ab") as log:
            self.proc = subprocess.Popen(
                [*cmd, *self.args], stdin=subprocess.DEVNULL, stdout=log, stderr=log
            )
        want = "fleet: connected to" if wait_connected else "ready: engine on"
        deadline = time.monotonic() + timeout
        while want not in self.output()[mark:]:
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.kill()
                raise AssertionError(f"serve {self.name} did not come up:\n{self.output()}")
            time.sleep(0.05)
        if wait_connected:  # the socket answers too
            wait_for(self.socket.exists, timeout, f"{self.name}'s socket")
        return self

    def output(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""

    def stop(self, timeout: float = 20.0) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        self.proc = None

    def kill(self) -> None:
        """SIGKILL: no shutdown at all, as a crash."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(10)
        self.proc = None

    # -- talking to it ----------------------------------------------------------------

    def send(self, *events: dict[str, Any], timeout: float = 30.0) -> list[dict[str, Any]]:
        """Event lines over its socket, pipelined; the replies, in order."""
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
            sock.settimeout(timeout)
            sock.connect(str(self.socket))
            sock.sendall(b"".join(json.dumps(e).encode() + b"\n" for e in events))
            reader = sock.makefile("rb")
            replies: list[dict[str, Any]] = []
            try:
                for _ in events:
                    replies.append(json.loads(reader.readline()))
            except TimeoutError:  # say what the engine was doing, for the next look
                tail = "\n".join(self.output().splitlines()[-30:])
                raise AssertionError(
                    f"{self.name} answered {len(replies)} of {len(events)} events in "
                    f"{timeout}s; its log ends:\n{tail}"
                ) from None
            return replies

    def cli(self, *args: str, timeout: float = 60.0) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [*SLOTH, "--home", str(self.home), *args],
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )

    def rows(self, sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        """A read-only query on its store (the engine may be running or stopped)."""
        if not self.db.exists():
            return []
        with contextlib.closing(
            sqlite3.connect(f"file:{self.db}?mode=ro", uri=True, timeout=10)
        ) as conn:
            return conn.execute(sql, params).fetchall()

    def count(self, type_glob: str = "*", *, origin: str | None = None) -> int:
        sql = "SELECT COUNT(*) FROM events WHERE type GLOB ?"
        params: tuple[Any, ...] = (type_glob,)
        if origin is not None:
            sql += " AND COALESCE(origin, ?) = ?"
            params += (self.name, origin)
        return int(self.rows(sql, params)[0][0])


class Fleet:
    """Several FleetEngines on one NATS server."""

    def __init__(self, root: Path, url: str, names: Iterable[str], *, config: str = "") -> None:
        self.engines = {name: FleetEngine(root, name, url, config=config) for name in names}

    def __getitem__(self, name: str) -> FleetEngine:
        return self.engines[name]

    def __iter__(self) -> Any:
        return iter(self.engines.values())

    def start(self) -> Fleet:
        for engine in self.engines.values():
            engine.start()
        return self

    def stop(self) -> None:
        for engine in self.engines.values():
            engine.stop()
