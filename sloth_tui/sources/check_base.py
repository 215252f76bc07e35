"""What every probe shares: its result, its thread, and how it words an error.

Blocking work (name resolution, the http client) runs on a daemon thread of its own
rather than the loop's default executor: a resolver that hangs past the timeout keeps
only its own thread busy, never the pool the monitor and the engine also use, and the
probe still answers at its timeout.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

T = TypeVar("T")
Timer = Callable[[], float]


@dataclass(frozen=True, slots=True)
class ProbeResult:
    ok: bool
    response_ms: float  # how long the probe took, failed or not
    error: str = ""  # why it failed: one line
    detail: str = ""  # what it saw: an http status, the addresses a name resolves to


async def in_thread(fn: Callable[[], T], name: str) -> T:
    """fn() on a daemon thread of its own; its result or exception, awaited."""
    loop = asyncio.get_running_loop()
    future: asyncio.Future[T] = loop.create_future()

    def settle(value: T | None, exc: BaseException | None) -> None:
        if future.done():  # the probe gave up at its timeout
            return
        if exc is not None:
            future.set_exception(exc)
        else:
            future.set_result(value)  # type: ignore[arg-type]

    def work() -> None:
        try:
            value: T | None = fn()
            exc: BaseException | None = None
        except BaseException as caught:
            value, exc = None, caught
        with contextlib.suppress(RuntimeError):  # the loop closed meanwhile
            loop.call_soon_threadsafe(settle, value, exc)

    threading.Thread(target=work, name=name, daemon=True).start()
    return await future


def os_reason(exc: BaseException) -> str:
    """A socket error as a short phrase."""
    if isinstance(exc, TimeoutError):
        return "timed out"
    if isinstance(exc, ConnectionRefusedError):
        return "connection refused"
    if isinstance(exc, ConnectionResetError):
        return "connection reset by peer"
    if isinstance(exc, socket.gaierror):
        return f"cannot resolve host: {exc.strerror or exc}".lower()
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror.lower()
    return str(exc) or type(exc).__name__


def elapsed_ms(started: float, timer: Timer) -> float:
    return round(max(timer() - started, 0.0) * 1000, 1)


def failed(started: float, timer: Timer, error: str) -> ProbeResult:
    """A failed result; the error made one line of at most 500 characters."""
    return ProbeResult(False, elapsed_ms(started, timer), error=" ".join(error.split())[:500])
