"""The http probe: one GET with the stdlib's http.client, on a thread of its own.

The same approach as the hooks' client (lua/http_client.py, which sources may not
import): a socket timeout bounds each wait only, so a server sending a byte a second
would hold a read for ever; a watchdog timer shuts the request's sockets down at the
deadline instead, which ends a blocked connect, TLS handshake or read at once.

Unlike the hooks' client: redirects are not followed unless the check says so (a 301
in front of a health endpoint is news), no proxy from the environment is used (a check
says whether *this* host reaches the target), and the body is only read when the check
matches on it, at most BODY_CAP bytes. The match is a plain substring: a regular
expression over a MiB of a stranger's text can backtrack for minutes in C, out of reach
of any timeout.
"""

from __future__ import annotations

import asyncio
import contextlib
import http.client
import socket
import ssl
import threading
import time
import urllib.parse
from dataclasses import dataclass
from functools import partial
from typing import Any

from sloth_tui import __version__
from sloth_tui.sources.check_base import ProbeResult, Timer, elapsed_ms, failed, in_thread
from sloth_tui.sources.check_base import os_reason as _os_reason
from sloth_tui.sources.check_config import CheckSettings

BODY_CAP = 1024 * 1024
MAX_REDIRECTS = 5
USER_AGENT = f"sloth-tui-check/{__version__}"
_REDIRECTS = (301, 302, 303, 307, 308)
_CHUNK = 64 * 1024


class HttpProbeError(Exception):
    """No answer to compare: refused, timed out, a TLS error, a bad redirect..."""


@dataclass(frozen=True, slots=True)
class HttpAnswer:
    status: int
    reason: str
    body: bytes  # empty unless asked for; at most BODY_CAP bytes
    truncated: bool  # the body went on past BODY_CAP
    url: str  # the URL that answered (another one after redirects)
    location: str = ""  # a redirect's target, made absolute


class _Watchdog:
    """Shuts down every socket of one probe (redirects included) at its deadline."""

    def __init__(self, seconds: float) -> None:
        self._lock = threading.Lock()
        self._sockets: list[socket.socket] = []
        self.expired = False
        self._timer = threading.Timer(max(seconds, 0.0), self._expire)
        self._timer.daemon = True
        self._timer.start()

    def adopt(self, sock: socket.socket) -> socket.socket:
        with self._lock:
            self._sockets.append(sock)
            if self.expired:
                _shut(sock)
        return sock

    def _expire(self) -> None:
        with self._lock:
            self.expired = True
            for sock in self._sockets:
                _shut(sock)

    def cancel(self) -> None:
        self._timer.cancel()


def _shut(sock: socket.socket) -> None:
    with contextlib.suppress(OSError):  # closed already, or never connected
        sock.shutdown(socket.SHUT_RDWR)


def _connection(parts: urllib.parse.SplitResult, watch: _Watchdog, timeout: float) -> Any:
    """An HTTP(S)Connection whose raw socket the watchdog holds."""

    def create(*args: Any, **kwargs: Any) -> socket.socket:
        return watch.adopt(socket.create_connection(*args, **kwargs))

    host = parts.hostname or ""
    # The port always given: left to http.client, "::1" would read as host "::", port 1.
    port = parts.port or (443 if parts.scheme == "https" else 80)
    conn: http.client.HTTPConnection
    if parts.scheme == "https":
        conn = http.client.HTTPSConnection(
            host, port, timeout=timeout, context=ssl.create_default_context()
        )
    else:
        conn = http.client.HTTPConnection(host, port, timeout=timeout)
    conn._create_connection = create  # type: ignore[attr-defined]  # as http_client.py does
    return conn


def _read_body(resp: http.client.HTTPResponse, watch: _Watchdog) -> tuple[bytes, bool]:
    chunks: list[bytes] = []
    size = 0
    while size <= BODY_CAP:
        chunk = resp.read1(min(_CHUNK, BODY_CAP + 1 - size))  # what has arrived
        if not chunk or watch.expired:
            break
        chunks.append(chunk)
        size += len(chunk)
    data = b"".join(chunks)
    return data[:BODY_CAP], len(data) > BODY_CAP


def fetch(url: str, *, timeout: float, want_body: bool, follow_redirects: bool) -> HttpAnswer:
    """GET `url` (blocking), all within `timeout` seconds; HttpProbeError when no answer."""
    deadline = time.monotonic() + timeout
    watch = _Watchdog(timeout)
    try:
        for _hop in range(MAX_REDIRECTS + 1):
            answer = _get_once(url, watch, deadline, want_body)
            if not (follow_redirects and answer.location):
                return answer
            url = answer.location
        raise HttpProbeError(f"more than {MAX_REDIRECTS} redirects")
    except HttpProbeError:
        raise
    except (OSError, http.client.HTTPException, ValueError) as exc:
        if watch.expired or isinstance(exc, TimeoutError):  # whichever came first
            raise HttpProbeError(f"timed out after {timeout:g} s") from None
        raise HttpProbeError(_reason(exc)) from None
    finally:
        watch.cancel()


def _get_once(url: str, watch: _Watchdog, deadline: float, want_body: bool) -> HttpAnswer:
    """One request; a redirect's body is never read."""
    parts = urllib.parse.urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise HttpProbeError(f"redirect to {url[:200]!r} refused: http(s) URLs only")
    remaining = deadline - time.monotonic()
    if remaining <= 0:
        raise TimeoutError
    conn = _connection(parts, watch, remaining)
    try:
        path = urllib.parse.urlunsplit(("", "", parts.path or "/", parts.query, ""))
        conn.request(
            "GET",
            path,
            headers={"User-Agent": USER_AGENT, "Accept": "*/*", "Connection": "close"},
        )
        resp = conn.getresponse()
        reason = resp.reason or ""
        location = resp.getheader("Location") if resp.status in _REDIRECTS else None
        if location is not None:
            target = urllib.parse.urljoin(url, location)
            return HttpAnswer(resp.status, reason, b"", False, url, location=target)
        body, truncated = _read_body(resp, watch) if want_body else (b"", False)
        if watch.expired:  # a shut socket reads as an early end: not the whole body
            raise TimeoutError
        return HttpAnswer(resp.status, reason, body, truncated, url)
    finally:
        conn.close()


def _reason(exc: BaseException) -> str:
    if isinstance(exc, ssl.SSLError):
        return f"TLS error: {exc.reason or exc}"
    if isinstance(exc, http.client.HTTPException):
        return f"bad HTTP answer: {type(exc).__name__} {exc}".strip()
    return _os_reason(exc)


async def http_probe(cfg: CheckSettings, timer: Timer) -> ProbeResult:
    """GET the URL: the status must be `expect_status`, the body must hold `body_contains`."""
    started = timer()
    url = cfg.url
    work = partial(
        fetch,
        url,
        timeout=cfg.timeout,
        want_body=bool(cfg.body_contains),
        follow_redirects=cfg.follow_redirects,
    )
    try:
        answer = await asyncio.wait_for(in_thread(work, f"check-http:{cfg.name}"), cfg.timeout)
    except TimeoutError:
        return failed(started, timer, f"GET {url}: timed out after {cfg.timeout:g} s")
    except HttpProbeError as exc:
        return failed(started, timer, f"GET {url}: {exc}")
    status_line = f"{answer.status} {answer.reason}".strip()
    if answer.status != cfg.expect_status:
        moved = f" to {answer.location[:200]}" if answer.location else ""
        return failed(
            started,
            timer,
            f"GET {url}: {status_line[:200]}{moved} (expected {cfg.expect_status})",
        )
    needle = cfg.body_contains.encode("utf-8")
    if needle and needle not in answer.body:
        where = "its first MiB" if answer.truncated else "the body"
        return failed(
            started, timer, f"GET {url}: {where} does not contain {cfg.body_contains[:100]!r}"
        )
    return ProbeResult(True, elapsed_ms(started, timer), detail=status_line[:200])
