"""The blocking HTTP client behind the hooks' http.get/post/put/delete.

Runs on the hook's worker thread (the socket waits release the GIL). Every
failure is an HttpFailure with a short readable reason, never another
exception; 4xx/5xx answers are responses, not failures. Only http and https,
also across redirects, so a hook cannot read file:// or ftp:// through it.
"""

from __future__ import annotations

import http.client
import ipaddress
import socket
import ssl
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


# Loopback never goes through a proxy from the environment; other hosts do.
_DIRECT = urllib.request.build_opener(urllib.request.ProxyHandler({}), _SchemeCheckingRedirect)
_PROXIED = urllib.request.build_opener(_SchemeCheckingRedirect)


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
    """One request; `timeout` bounds each socket wait, `deadline` (monotonic) the whole read."""
    parts = urllib.parse.urlsplit(url)
    if parts.scheme not in _SCHEMES:
        raise HttpFailure(f"unsupported URL scheme {parts.scheme!r} (http and https only)")
    if not parts.hostname:
        raise HttpFailure("URL has no host")
    all_headers = {"User-Agent": USER_AGENT, **headers}
    opener = _DIRECT if _is_loopback(parts.hostname) else _PROXIED
    try:
        req = urllib.request.Request(url, data=body, headers=all_headers, method=method)
        try:
            resp = opener.open(req, timeout=max(timeout, 0.001))
        except urllib.error.HTTPError as exc:
            resp = exc  # 4xx/5xx: still an answer with a body
        with resp:
            chunks: list[bytes] = []
            size = 0
            while size <= cap:
                if time.monotonic() >= deadline:
                    raise HttpFailure("timed out while reading the response")
                chunk = resp.read(min(_READ_CHUNK, cap + 1 - size))
                if not chunk:
                    break
                chunks.append(chunk)
                size += len(chunk)
            status = resp.getcode() or 0
            raw_headers = resp.headers.items() if resp.headers is not None else []
    except HttpFailure:
        raise
    except (OSError, http.client.HTTPException, ValueError) as exc:
        raise HttpFailure(_reason(exc)) from None
    data = b"".join(chunks)
    truncated = len(data) > cap
    text = data[:cap].decode("utf-8", errors="replace")
    merged: dict[str, str] = {}
    for name, value in raw_headers:
        key = name.lower()
        merged[key] = f"{merged[key]}, {value}" if key in merged else value
    parsed = None if truncated else _maybe_json(text, merged.get("content-type", ""))
    return HttpResponse(status=status, body=text, headers=merged, truncated=truncated, json=parsed)
