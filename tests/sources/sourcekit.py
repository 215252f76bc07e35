"""Helpers for the producer tests: a real daemon process, socket and store access."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from sloth_tui.remote.protocol import probe

_SCRIPT = Path(sys.executable).parent / "sloth-tui"
# The installed console script when there is one: it is what operators run.
SLOTH = [str(_SCRIPT)] if _SCRIPT.exists() else [sys.executable, "-m", "sloth_tui"]


def wait_for(predicate: Callable[[], Any], timeout: float = 10.0, what: str = "condition") -> Any:
    """Poll until predicate() is truthy (bounded); return its value."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(0.05)


async def async_wait_for(
    predicate: Callable[[], Any], timeout: float = 10.0, what: str = "condition"
) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        await asyncio.sleep(0.05)


def db_rows(home: Path, sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Read the store directly, as a second process would (proves what is durable)."""
    conn = sqlite3.connect(f"file:{home / 'sloth.db'}?mode=ro", uri=True, timeout=5)
    try:
        return conn.execute(sql, params).fetchall()
    finally:
        conn.close()


def events_of(home: Path, type_glob: str = "*") -> list[dict[str, Any]]:
    rows = db_rows(
        home,
        "SELECT id, type, source, status, data FROM events WHERE type GLOB ? ORDER BY id",
        (type_glob,),
    )
    return [
        {"id": r[0], "type": r[1], "source": r[2], "status": r[3], "data": json.loads(r[4])}
        for r in rows
    ]


def ask(path: Path, *lines: bytes | dict[str, Any], timeout: float = 10.0) -> list[dict[str, Any]]:
    """Send lines on a fresh Unix connection, half-close, and read every reply."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.settimeout(timeout)
        sock.connect(str(path))
        for line in lines:
            sock.sendall(line if isinstance(line, bytes) else json.dumps(line).encode() + b"\n")
        sock.shutdown(socket.SHUT_WR)
        data = b""
        while chunk := sock.recv(1 << 16):
            data += chunk
    return [json.loads(x) for x in data.splitlines()]


class DaemonProcess:
    """`sloth-tui serve` in a subprocess; logs to a file; always killed in teardown."""

    def __init__(self, home: Path) -> None:
        self.home = home
        self.log = home.parent / f"{home.name}-serve.log"
        self.proc: subprocess.Popen[bytes] | None = None
        self.socket = home / "sloth.sock"

    def start(
        self,
        *args: str,
        socket_path: Path | None = None,
        timeout: float = 20.0,
        home_args: bool = True,
    ) -> DaemonProcess:
        self.socket = socket_path or self.home / "sloth.sock"
        cmd = [*SLOTH, "serve", *(["--home", str(self.home)] if home_args else []), *args]
        if socket_path is not None:
            cmd += ["--socket", str(socket_path)]
        with open(self.log, "ab") as log:
            self.proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=log, stderr=log)
        deadline = time.monotonic() + timeout
        while probe(self.socket, timeout=0.5) is None:
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.kill()
                raise AssertionError(f"serve did not come up:\n{self.output()}")
            time.sleep(0.05)
        return self

    def output(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""

    def wait_ready(self, timeout: float = 20.0) -> DaemonProcess:
        """Until serve logged "ready": every source has started (or failed). The socket
        answers before that (it is the first source), so a test that reads the other
        sources' state waits for this first."""
        deadline = time.monotonic() + timeout
        while "ready: engine on" not in self.output():
            if (self.proc is not None and self.proc.poll() is not None) or (
                time.monotonic() > deadline
            ):
                raise AssertionError(f"serve never got ready:\n{self.output()}")
            time.sleep(0.05)
        return self

    def signal(self, sig: int, timeout: float = 20.0) -> int:
        assert self.proc is not None
        self.proc.send_signal(sig)
        return self.proc.wait(timeout)

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)


@pytest.fixture
def daemons(tmp_path: Path) -> Iterator[Callable[[Path | None], DaemonProcess]]:
    """Make DaemonProcess objects; every one is killed at teardown whatever the test did.
    (A fixture: `from sourcekit import daemons` makes it one in a test module.)"""
    made: list[DaemonProcess] = []

    def make(home: Path | None = None) -> DaemonProcess:
        d = DaemonProcess(home or tmp_path / "home")
        d.home.mkdir(parents=True, exist_ok=True)
        made.append(d)
        return d

    yield make
    for d in made:
        d.kill()


def run_cli(
    *args: str, env: dict[str, str] | None = None, input: str | None = None, timeout: float = 30.0
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*SLOTH, *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, **(env or {})},
        input=input,
    )


async def request(path: Path, *lines: bytes | dict[str, Any]) -> list[dict[str, Any]]:
    """Async twin of ask(): send lines, half-close, read all replies."""
    reader, writer = await asyncio.open_unix_connection(str(path))
    try:
        for line in lines:
            writer.write(line if isinstance(line, bytes) else json.dumps(line).encode() + b"\n")
        await writer.drain()
        writer.write_eof()
        data = await asyncio.wait_for(reader.read(), 10)
    finally:  # also when the peer went away mid-request (a handover): no unclosed transport
        writer.close()
    return [json.loads(x) for x in data.splitlines()]


def write_config(home: Path, text: str) -> None:
    (home / "config.toml").write_text(text)


HAVE = {tool: shutil.which(tool) is not None for tool in ("socat", "nc")}
SIGNALS = {"SIGTERM": signal.SIGTERM, "SIGINT": signal.SIGINT}


def log_record(message: str, *args: object, exc: bool = False) -> logging.LogRecord:
    """A WARNING record as a module of ours would log it; `exc`: with a ValueError whose
    text holds a newline and an escape (for the log formatters' tests)."""
    exc_info = None
    if exc:
        try:
            raise ValueError("bad\nvalue \x1b[31m")
        except ValueError:
            exc_info = sys.exc_info()
    return logging.LogRecord(
        "sloth_tui.test", logging.WARNING, __file__, 1, message, args, exc_info
    )


async def connect_as_it_stops(
    address: str | tuple[str, int], stop: Callable[[], Any]
) -> tuple[socket.socket, list[dict[str, Any]]]:
    """Connect to a listener in the very loop turn in which `stop()` (a coroutine
    function) starts: one turn sees a wake-up for the stopping task first, then the
    connect, so asyncio has accepted the connection but not yet built its transport when
    the stop runs. Returns the client socket (non-blocking; the caller closes it) and
    what reached the loop's exception handler meanwhile, in debug mode (the only mode in
    which asyncio reports a failed build)."""
    loop = asyncio.get_running_loop()
    errors: list[dict[str, Any]] = []
    debug, handler = loop.get_debug(), loop.get_exception_handler()
    loop.set_debug(True)
    loop.set_exception_handler(lambda _loop, context: errors.append(context))
    wake_r, wake_w = socket.socketpair()
    woken = loop.create_future()
    loop.add_reader(wake_r.fileno(), lambda: woken.done() or woken.set_result(None))

    async def stop_when_woken() -> None:
        await woken
        await stop()

    stopper = asyncio.create_task(stop_when_woken())
    await asyncio.sleep(0)  # the stopper waits on `woken`
    family = socket.AF_UNIX if isinstance(address, str) else socket.AF_INET
    client = socket.socket(family)
    try:
        # No await between the two: epoll reports the wake-up first, then the listener.
        wake_w.send(b"x")
        client.connect(address)
        await stopper
    except BaseException:
        client.close()
        raise
    finally:
        loop.remove_reader(wake_r.fileno())
        wake_r.close()
        wake_w.close()
        loop.set_debug(debug)
        loop.set_exception_handler(handler)
    client.setblocking(False)
    return client, errors
