"""Fixtures for the Lua runtime: a fake HostAPI, hook files, a loopback HTTP server."""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from sloth_tui.lua.runtime import HookRuntime, Limits
from sloth_tui.model.errors import EventRefused
from sloth_tui.model.records import Event, Hook

DEPTH_LIMIT = 8


class FakeHost:
    """In-memory HostAPI: a state dict, a list of dispatched events, a depth limit of 8.

    `on_dispatch`, when set, is called with each stored event (the chain test runs
    the hook again from it, synchronously, like an engine with no queue would).
    """

    def __init__(self) -> None:
        self.state: dict[tuple[str, str], Any] = {}
        self.events: list[Event] = []
        self.refused: list[str] = []
        self.on_dispatch: Callable[[Event], None] | None = None
        self._next_id = 100
        self._lock = threading.Lock()

    def dispatch(self, type: str, data: dict[str, Any], *, parent: Event, source: str) -> int:
        depth = parent.depth + 1
        if depth > DEPTH_LIMIT:
            message = f"event chain too deep: depth {depth} > limit {DEPTH_LIMIT}"
            self.refused.append(message)
            raise EventRefused(message)
        with self._lock:
            self._next_id += 1
            event = Event(
                id=self._next_id,
                type=type,
                category=type.split(".")[0],
                data=data,
                source=source,
                parent_id=parent.id,
                depth=depth,
            )
            self.events.append(event)
        if self.on_dispatch is not None:
            self.on_dispatch(event)
        return event.id

    def state_get(self, hook: str, key: str) -> Any:
        return self.state.get((hook, key))

    def state_set(self, hook: str, key: str, value: Any) -> None:
        self.state[(hook, key)] = value

    def state_delete(self, hook: str, key: str) -> None:
        self.state.pop((hook, key), None)

    def state_incr(self, hook: str, key: str, by: float) -> float:
        with self._lock:
            current = self.state.get((hook, key))
            value = (current if isinstance(current, int | float) else 0) + by
            self.state[(hook, key)] = value
            return value


@pytest.fixture
def host() -> FakeHost:
    return FakeHost()


@pytest.fixture
def runtime(host: FakeHost) -> HookRuntime:
    return HookRuntime(host)


@pytest.fixture
def make_runtime(host: FakeHost) -> Callable[..., HookRuntime]:
    """A runtime with small limits: make_runtime(instructions=..., memory=...)."""

    def make(**limits: Any) -> HookRuntime:
        return HookRuntime(host, Limits(**limits))

    return make


@pytest.fixture
def make_hook(tmp_path: Path) -> Callable[..., Hook]:
    """Write `code` to a .lua file and return a Hook for it."""
    counter = iter(range(100_000))

    def make(code: str, *, name: str = "", timeout: float = 10.0, file: str = "") -> Hook:
        n = next(counter)
        path = tmp_path / (file or f"hook{n}.lua")
        path.write_text(code, encoding="utf-8")
        return Hook(name=name or f"hook{n}", events=["*"], file=str(path), timeout=timeout)

    return make


@pytest.fixture
def deploy_event() -> Event:
    data = {
        "deploy_id": "deploy-12345",
        "service": "api-server",
        "error": "health check failed",
        "rollback_needed": True,
    }
    return Event(id=1, type="deploy.failed", category="deploy", data=data, source="cli")


@pytest.fixture(autouse=True)
def _no_proxy(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in (
        "http_proxy",
        "https_proxy",
        "HTTP_PROXY",
        "HTTPS_PROXY",
        "all_proxy",
        "ALL_PROXY",
    ):
        monkeypatch.delenv(name, raising=False)


# -- a real HTTP server on 127.0.0.1 ---------------------------------------------------


@dataclass
class Received:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class Server:
    url: str
    received: list[Received] = field(default_factory=list)
    release: threading.Event = field(default_factory=threading.Event)


BIG_BODY = b"x" * (10 * 1024 * 1024)


def _handler(server: Server) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: Any) -> None:  # keep test output clean
            pass

        def _serve(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            server.received.append(
                Received(self.command, self.path, dict(self.headers.items()), body)
            )
            if self.path.startswith("/slow"):
                server.release.wait(5)  # until the test ends; the client gives up first
            if self.path.startswith("/status/"):
                self._reply(int(self.path.rsplit("/", 1)[1]), b'{"error": "nope"}')
            elif self.path == "/big":
                self._reply(200, BIG_BODY, "application/octet-stream")
            elif self.path == "/text":
                self._reply(200, b"plain words", "text/plain")
            else:
                echo = {"method": self.command, "path": self.path, "body": body.decode()}
                self._reply(200, json.dumps(echo).encode())

        def _reply(self, status: int, body: bytes, ctype: str = "application/json") -> None:
            try:
                self.send_response(status)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(body)))
                self.send_header("X-Test", "yes")
                self.end_headers()
                self.wfile.write(body)
            except OSError:
                pass  # the client hung up (capped or timed-out reads)

        do_GET = do_POST = do_PUT = do_DELETE = _serve

    return Handler


@pytest.fixture
def http_server() -> Iterator[Server]:
    holder = Server(url="")
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _handler(holder))
    httpd.daemon_threads = True
    holder.url = f"http://127.0.0.1:{httpd.server_address[1]}"
    thread = threading.Thread(target=httpd.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    yield holder
    holder.release.set()
    httpd.shutdown()
    httpd.server_close()


@pytest.fixture
def closed_port() -> int:
    """A loopback port nothing listens on."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]
