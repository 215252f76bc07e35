"""A loopback HTTP server that holds a hook in the middle of its run: GET sets `entered`
(and counts the request), then the reply waits for `gate` (at most 20 s)."""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass
class Gate:
    url: str
    entered: threading.Event = field(default_factory=threading.Event)
    gate: threading.Event = field(default_factory=threading.Event)
    requests: int = 0


@contextlib.contextmanager
def gate_server() -> Iterator[Gate]:
    holder = Gate(url="")

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: Any) -> None:
            pass

        def do_GET(self) -> None:
            holder.requests += 1
            holder.entered.set()
            holder.gate.wait(20)
            self.send_response(200)
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"ok")

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    httpd.daemon_threads = True
    holder.url = f"http://127.0.0.1:{httpd.server_address[1]}/gate"
    thread = threading.Thread(target=httpd.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield holder
    finally:
        holder.gate.set()
        httpd.shutdown()
        httpd.server_close()
        thread.join(5)
