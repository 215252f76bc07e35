"""The blocking HTTP client behind the hooks' http.get/post/put/delete.

Runs on the hook's worker thread (the socket waits release the GIL). Every
failure is an HttpFailure with a short readable reason, never another
exception; 4xx/5xx answers are responses, not failures. Only http and https,
also across redirects, so a hook cannot read file:// or ftp:// through it.

The whole request has one deadline. A socket timeout bounds each wait only, so
a server that sends a byte a second would hold a read forever; instead a
watchdog timer shuts the request's sockets down when the deadline passes, which
ends any blocked connect, TLS handshake, header or body read at once.
"""

from __future__ import annotations

import contextlib
import http.client
import ipaddress
import socket
import ssl
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass, field
from typing import Any

from sloth_tui.lua.convert import loads

USER_AGENT = "sloth-tui-hook/0.1"
_READ_CHUNK = 64 * 1024
_SCHEMES = ("http", "https")


class HttpFailure(Exception):
    """The request did not produce a response: refused, timed out, bad URL..."""


@dataclass(slots=True)
class HttpResponse:
    status: int
    body: str
    headers: dict[str, str] = field(default_factory=dict)
    truncated: bool = False
    json: Any = None


class _SchemeCheckingRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, req, fp, code, msg, headers, newurl):  # type: ignore[no-untyped-def]
        if urllib.parse.urlsplit(newurl).scheme not in _SCHEMES:
            raise HttpFailure(f"redirect to a non-http URL refused: {newurl}")
        return super().redirect_request(req, fp, code, msg, headers, newurl)


class _Watchdog:
    """Shuts down every socket of one request (redirects included) at its deadline."""

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
    with contextlib.suppress(OSError):  # already closed, or not connected yet
        sock.shutdown(socket.SHUT_RDWR)  # wakes a blocked recv/send/connect with EOF or an error


def _opener(watch: _Watchdog, direct: bool) -> urllib.request.OpenerDirector:
    """An opener whose connections hand their raw sockets to `watch`.
    Loopback never goes through a proxy from the environment; other hosts do."""

    def create(*args: Any, **kwargs: Any) -> socket.socket:
        return watch.adopt(socket.create_connection(*args, **kwargs))

    class Plain(http.client.HTTPConnection):
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            self._create_connection = create

    class Tls(http.client.HTTPSConnection):
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            self._create_connection = create

    class PlainHandler(urllib.request.HTTPHandler):
        def http_open(self, req: urllib.request.Request) -> http.client.HTTPResponse:
            return self.do_open(Plain, req)

    class TlsHandler(urllib.request.HTTPSHandler):
        def https_open(self, req: urllib.request.Request) -> http.client.HTTPResponse:
            return self.do_open(Tls, req)  # the default context: certificates verified

    handlers: list[Any] = [_SchemeCheckingRedirect, PlainHandler, TlsHandler]
    if direct:
        handlers.insert(0, urllib.request.ProxyHandler({}))
    return urllib.request.build_opener(*handlers)


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _reason(exc: BaseException) -> str:
    if isinstance(exc, urllib.error.URLError) and isinstance(exc.reason, BaseException):
        exc = exc.reason
    if isinstance(exc, TimeoutError | socket.timeout):
        return "timed out"
    if isinstance(exc, ConnectionRefusedError):
        return "connection refused"
    if isinstance(exc, ConnectionResetError):
        return "connection reset by peer"
    if isinstance(exc, socket.gaierror):
        return "cannot resolve host"
    if isinstance(exc, ssl.SSLError):
        return f"TLS error: {exc.reason or exc}"
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror.lower()
    if isinstance(exc, urllib.error.URLError):
        return str(exc.reason)
    return str(exc) or type(exc).__name__


def _maybe_json(body: str, content_type: str) -> Any:
    head = body.lstrip()[:1]
    if "json" not in content_type and head not in ("{", "["):
        return None
    try:
        return loads(body)
    except (ValueError, RecursionError):
        return None


def request(
    method: str,
    url: str,
    body: bytes | None,
    headers: dict[str, str],
    *,
    timeout: float,
    deadline: float,
    cap: int,
) -> HttpResponse:
    """One request, over by `timeout` seconds from now or at `deadline` (monotonic),
    whichever comes first: connecting, sending and reading all included."""
    parts = urllib.parse.urlsplit(url)
    if parts.scheme not in _SCHEMES:
        raise HttpFailure(f"unsupported URL scheme {parts.scheme!r} (http and https only)")
    if not parts.hostname:
        raise HttpFailure("URL has no host")
    all_headers = {"User-Agent": USER_AGENT, **headers}
    end = min(deadline, time.monotonic() + max(timeout, 0.001))
    watch = _Watchdog(end - time.monotonic())
    opener = _opener(watch, _is_loopback(parts.hostname))
    try:
        req = urllib.request.Request(url, data=body, headers=all_headers, method=method)
        try:
            resp = opener.open(req, timeout=max(end - time.monotonic(), 0.001))
        except urllib.error.HTTPError as exc:
            resp = exc  # 4xx/5xx: still an answer with a body
        with resp:
            chunks: list[bytes] = []
            size = 0
            while size <= cap:
                # read1: what has arrived, so the loop sees the deadline between reads.
                chunk = resp.read1(min(_READ_CHUNK, cap + 1 - size))
                if not chunk or watch.expired:
                    break
                chunks.append(chunk)
                size += len(chunk)
            status = resp.getcode() or 0
            raw_headers = resp.headers.items() if resp.headers is not None else []
    except HttpFailure:
        raise
    except (OSError, http.client.HTTPException, ValueError) as exc:
        if watch.expired:
            raise HttpFailure("timed out") from None
        raise HttpFailure(_reason(exc)) from None
    finally:
        watch.cancel()
    if watch.expired:  # a shut-down socket reads as an early end: not a whole body
        raise HttpFailure("timed out")
    data = b"".join(chunks)
    truncated = len(data) > cap
    text = data[:cap].decode("utf-8", errors="replace")
    merged: dict[str, str] = {}
    for name, value in raw_headers:
        key = name.lower()
        merged[key] = f"{merged[key]}, {value}" if key in merged else value
    parsed = None if truncated else _maybe_json(text, merged.get("content-type", ""))
    return HttpResponse(status=status, body=text, headers=merged, truncated=truncated, json=parsed)
