"""A loopback HTTP server for hooks' http.* calls, in a thread: it records each request,
answers `/status/N` with status N and anything else with 200, both with a JSON echo
({"method", "body"}); a request to `/gate` sets `entered` and then waits for `gate` (at
most 20 s) before its reply, which holds a hook in the middle of its run."""

from __future__ import annotations

import contextlib
import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

Request = tuple[str, str, dict[str, str], bytes]  # method, path, headers, body


@dataclass
class Gate:
    root: str  # http://127.0.0.1:PORT
    received: list[Request] = field(default_factory=list)
    entered: threading.Event = field(default_factory=threading.Event)
    gate: threading.Event = field(default_factory=threading.Event)

    @property
    def url(self) -> str:
        """The held path."""
        return f"{self.root}/gate"

    @property
    def requests(self) -> int:
        """Requests the held path has seen."""
        return sum(path == "/gate" for _method, path, _headers, _body in self.received)


@contextlib.contextmanager
def gate_server() -> Iterator[Gate]:
    holder = Gate(root="")

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: Any) -> None:
            pass

        def _serve(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            holder.received.append((self.command, self.path, dict(self.headers), body))
            if self.path == "/gate":
                holder.entered.set()
                holder.gate.wait(20)
            status = int(self.path.rsplit("/", 1)[1]) if self.path.startswith("/status/") else 200
            reply = json.dumps({"method": self.command, "body": body.decode()}).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(reply)))
            self.end_headers()
            self.wfile.write(reply)

        do_GET = do_POST = do_PUT = do_DELETE = _serve

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    httpd.daemon_threads = True
    holder.root = f"http://127.0.0.1:{httpd.server_address[1]}"
    thread = threading.Thread(target=httpd.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield holder
    finally:
        holder.gate.set()
        httpd.shutdown()
        httpd.server_close()
        thread.join(5)
