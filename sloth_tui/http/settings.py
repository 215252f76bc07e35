"""`[http]` in config.toml and `serve --http HOST:PORT`: where and how the listener listens.

Off unless one of them is given. Binds to loopback unless the config says otherwise,
and a listener on any other address requires a token (owned by the HTTP helper: H1).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class HttpSettings:
    host: str = "127.0.0.1"
    port: int = 8080
    token: str | None = None  # read from token_file; required off loopback
    max_body_bytes: int = 1024 * 1024  # a bigger body is refused with 413
    request_timeout: float = 10.0  # seconds to read a request and answer it
    max_connections: int = 256  # open connections beyond which new ones are refused
