"""One probe of one check: an http GET, a tcp connect or a dns lookup, as a ProbeResult.

A probe never raises (but for cancellation): every way a target can fail is a result
with a short readable error, and an unexpected exception is one too, so one check's
trouble never reaches another check or the engine. Each probe ends by its timeout.

`timer` (time.monotonic by default) measures response times; tests pass a clock they
move by hand, so a "slow" answer takes no real time.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket

from sloth_tui.sources.check_base import (
    ProbeResult,
    Timer,
    elapsed_ms,
    failed,
    in_thread,
    os_reason,
)
from sloth_tui.sources.check_config import CheckSettings
from sloth_tui.sources.check_http import http_probe


async def _resolve(host: str, port: int, timeout: float) -> list[tuple[int, str]]:
    """(family, address) of each address `host` resolves to, in the resolver's order."""
    infos = await asyncio.wait_for(
        in_thread(
            lambda: socket.getaddrinfo(host, port, type=socket.SOCK_STREAM), f"check-dns:{host}"
        ),
        timeout,
    )
    seen: list[tuple[int, str]] = []
    for family, _type, _proto, _name, sockaddr in infos:
        item = (int(family), str(sockaddr[0]))
        if item not in seen:
            seen.append(item)
    return seen


async def dns_probe(cfg: CheckSettings, timer: Timer) -> ProbeResult:
    """`host` resolves to at least one address, within the timeout."""
    started = timer()
    try:
        found = await _resolve(cfg.host, 0, cfg.timeout)
    except TimeoutError:
        return failed(started, timer, f"resolving {cfg.host}: timed out after {cfg.timeout:g} s")
    except (OSError, UnicodeError) as exc:
        return failed(started, timer, f"cannot resolve {cfg.host}: {_gai_reason(exc)}")
    if not found:
        return failed(started, timer, f"{cfg.host} resolves to no address")
    return ProbeResult(True, elapsed_ms(started, timer), detail=", ".join(a for _f, a in found))


def _gai_reason(exc: BaseException) -> str:
    if isinstance(exc, socket.gaierror) and exc.strerror:
        return exc.strerror.lower()
    return os_reason(exc)


async def tcp_probe(cfg: CheckSettings, timer: Timer) -> ProbeResult:
    """A TCP connection to host:port opens within the timeout (then is closed at once)."""
    loop = asyncio.get_running_loop()
    started = timer()
    deadline = loop.time() + cfg.timeout
    target = cfg.target
    try:
        addresses = await _resolve(cfg.host, cfg.port, cfg.timeout)
    except TimeoutError:
        return failed(started, timer, f"{target}: resolving timed out after {cfg.timeout:g} s")
    except (OSError, UnicodeError) as exc:
        return failed(started, timer, f"{target}: cannot resolve host: {_gai_reason(exc)}")
    last = "resolves to no address"
    for _family, address in addresses:  # each address in turn, all within the one timeout
        remaining = deadline - loop.time()
        if remaining <= 0:
            last = f"timed out after {cfg.timeout:g} s"
            break
        try:
            _reader, writer = await asyncio.wait_for(
                asyncio.open_connection(address, cfg.port), remaining
            )
        except TimeoutError:
            last = f"timed out after {cfg.timeout:g} s"
            continue
        except OSError as exc:
            last = os_reason(exc)
            continue
        elapsed = elapsed_ms(started, timer)
        writer.close()
        with contextlib.suppress(OSError):
            await writer.wait_closed()
        return ProbeResult(True, elapsed, detail=f"connected to {address}")
    return failed(started, timer, f"{target}: {last}")


async def probe(cfg: CheckSettings, timer: Timer) -> ProbeResult:
    """One probe of `cfg`, whatever its kind. Never raises (cancellation apart)."""
    started = timer()
    try:
        if cfg.kind == "http":
            return await http_probe(cfg, timer)
        if cfg.kind == "tcp":
            return await tcp_probe(cfg, timer)
        return await dns_probe(cfg, timer)
    except asyncio.CancelledError:
        raise
    except Exception as exc:  # a bug in a probe must stay this check's failure
        return failed(started, timer, f"probe error: {type(exc).__name__}: {exc}")
