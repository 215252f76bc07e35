"""sd_notify: a real `serve` under a NOTIFY_SOCKET the test binds (a real AF_UNIX
datagram socket, as systemd's) sends READY=1, WATCHDOG=1 again and again with a short
WATCHDOG_USEC, and STOPPING=1 at SIGTERM."""

from __future__ import annotations

import asyncio
import configparser
import os
import re
import signal
import socket
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from sourcekit import DaemonProcess

from sloth_tui.sources.sd_notify import Notifier, status_line

Daemons = Callable[..., DaemonProcess]


@pytest.fixture
def notify_socket(tmp_path: Path) -> Iterator[tuple[socket.socket, str]]:
    """A bound datagram socket and its NOTIFY_SOCKET value (a short path: sun_path is
    108 bytes, and pytest's tmp_path can be long)."""
    path = Path("/tmp") / f"sloth-notify-{uuid.uuid4().hex[:12]}.sock"
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(str(path))
    try:
        yield sock, str(path)
    finally:
        sock.close()
        path.unlink(missing_ok=True)


def receive_until(
    sock: socket.socket, want: Callable[[list[str]], bool], timeout: float = 20.0
) -> list[str]:
    """Datagrams (decoded) until `want(messages)` holds, bounded by a deadline."""
    messages: list[str] = []
    deadline = time.monotonic() + timeout
    while not want(messages):
        left = deadline - time.monotonic()
        if left <= 0:
            raise AssertionError(f"timed out; received {messages!r}")
        sock.settimeout(left)
        try:
            messages.append(sock.recv(4096).decode())
        except TimeoutError:
            continue
    return messages


def _count(messages: list[str], line: str) -> int:
    return sum(line in m.split("\n") for m in messages)


def test_serve_says_ready_pings_the_watchdog_and_says_stopping(
    daemons: Daemons, notify_socket: tuple[socket.socket, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    sock, address = notify_socket
    monkeypatch.setenv("NOTIFY_SOCKET", address)
    monkeypatch.setenv("WATCHDOG_USEC", "200000")  # 0.2 s: a ping every 0.1 s
    daemon = daemons().start("--no-monitor")
    got = receive_until(sock, lambda m: _count(m, "WATCHDOG=1") >= 5)
    ready = [m for m in got if "READY=1" in m.split("\n")]
    assert len(ready) == 1
    assert any(line.startswith("STATUS=ready: 0 hooks") for line in ready[0].split("\n"))
    # READY came first: systemd must not see a watchdog ping from a service not yet up.
    assert got.index(ready[0]) < next(i for i, m in enumerate(got) if m == "WATCHDOG=1")
    assert daemon.signal(signal.SIGTERM) == 0
    rest = receive_until(sock, lambda m: _count(m, "STOPPING=1") >= 1)
    stopping = next(m for m in rest if "STOPPING=1" in m.split("\n"))
    assert "STATUS=stopping: received SIGTERM" in stopping.split("\n")
    assert _count(got + rest, "READY=1") == 1


def test_no_watchdog_without_watchdog_usec(
    daemons: Daemons, notify_socket: tuple[socket.socket, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    sock, address = notify_socket
    monkeypatch.setenv("NOTIFY_SOCKET", address)
    monkeypatch.delenv("WATCHDOG_USEC", raising=False)
    daemon = daemons().start("--no-monitor")
    got = receive_until(sock, lambda m: _count(m, "READY=1") >= 1)
    assert daemon.signal(signal.SIGTERM) == 0
    got += receive_until(sock, lambda m: _count(m, "STOPPING=1") >= 1)
    assert _count(got, "WATCHDOG=1") == 0


def test_abstract_namespace_address_and_environment_taken() -> None:
    name = f"sloth-notify-{uuid.uuid4().hex}"
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        sock.bind("\0" + name)
        env = {"NOTIFY_SOCKET": "@" + name, "WATCHDOG_USEC": "3000000", "WATCHDOG_PID": "42"}
        notifier = Notifier.from_environ(env, pid=42)
        assert env == {}  # unset, so what serve starts cannot notify as serve
        assert notifier.watchdog_interval == 1.5
        assert notifier.ready("up\nSTOPPING=1")  # a newline cannot forge an assignment
        sock.settimeout(10)
        assert sock.recv(4096).decode() == "READY=1\nSTATUS=up STOPPING=1"
        notifier.close()


@pytest.mark.parametrize(
    ("env", "interval"),
    [
        ({"WATCHDOG_USEC": "1000000"}, 0.5),
        ({"WATCHDOG_USEC": "1000000", "WATCHDOG_PID": "7"}, 0.5),
        ({"WATCHDOG_USEC": "1000000", "WATCHDOG_PID": "8"}, None),  # meant for another
        ({"WATCHDOG_USEC": "0"}, None),
        ({"WATCHDOG_USEC": "-5"}, None),
        ({"WATCHDOG_USEC": "soon"}, None),
        ({}, None),
    ],
)
def test_watchdog_interval(env: dict[str, str], interval: float | None) -> None:
    notifier = Notifier.from_environ({"NOTIFY_SOCKET": "/nonexistent/x", **env}, pid=7)
    assert notifier.watchdog_interval == interval


def test_without_notify_socket_nothing_is_sent_and_the_watchdog_returns() -> None:
    notifier = Notifier.from_environ({"WATCHDOG_USEC": "1000"})
    assert not notifier.enabled
    assert not notifier.ready("x")
    asyncio.run(asyncio.wait_for(notifier.watchdog(), 5))  # returns at once


def test_a_dead_socket_is_not_an_error(caplog: pytest.LogCaptureFixture) -> None:
    notifier = Notifier.from_environ({"NOTIFY_SOCKET": f"/tmp/absent-{os.getpid()}.sock"})
    assert not notifier.ready("x")
    assert not notifier.send("WATCHDOG=1")
    assert len([r for r in caplog.records if "cannot notify" in r.getMessage()]) == 1
    notifier.close()


def test_status_line_is_one_line_and_bounded() -> None:
    line = status_line("a\nb\x1b" + "z" * 2000)
    assert "\n" not in line and "\x1b" not in line
    assert len(line) <= len("STATUS=") + 512


def test_the_readme_unit_is_type_notify_with_a_watchdog() -> None:
    readme = Path(__file__).resolve().parents[2] / "README.md"
    block = re.search(r"```ini\n(.*?)```", readme.read_text(), re.S)
    assert block is not None
    unit = configparser.ConfigParser(strict=True, interpolation=None)
    unit.optionxform = str  # type: ignore[assignment,method-assign]
    unit.read_string(block.group(1))
    service = unit["Service"]
    assert (service["Type"], service["NotifyAccess"]) == ("notify", "main")
    assert int(service["WatchdogSec"]) > 0
