"""`[http]` in config.toml and `serve --http HOST:PORT`: where and how the listener listens.

Off unless one of them is given (the flag overrides `listen`). Binds to loopback unless
the config says otherwise, and a listener on any other address requires a token: an
event engine whose hooks run code must not take requests from a network unauthenticated.

    [http]
    listen = "127.0.0.1:8080"
    token_file = "~/.config/sloth-tui/http.token"   # required off loopback
    max_body_kb = 1024        # a bigger body is refused with 413
    request_timeout = 10      # seconds to receive a request (head and body) and answer it
    max_connections = 256     # open connections; more are answered 503 and closed
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass
from typing import Any

from sloth_tui.config import ConfigError, Settings
from sloth_tui.model.errors import SlothError
from sloth_tui.remote.server import read_token
from sloth_tui.user_path import user_path


@dataclass(frozen=True, slots=True)
class HttpSettings:
    host: str = "127.0.0.1"
    port: int = 8080
    token: str | None = None  # read from token_file; required off loopback
    max_body_bytes: int = 1024 * 1024  # a bigger body is refused with 413
    request_timeout: float = 10.0  # seconds to read a request and answer it
    max_connections: int = 256  # open connections beyond which new ones are refused

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"


# Each number's range: a 0-byte body limit refuses everything, a 0 s timeout cuts every
# client, and a million connections is past any file-descriptor limit worth having.
RANGES: dict[str, tuple[float, float]] = {
    "max_body_kb": (1, 1024 * 1024),  # 1 KiB .. 1 GiB
    "request_timeout": (0.1, 3600),
    "max_connections": (1, 100_000),
}
KEYS = ("listen", "token_file", *RANGES)
_HOSTNAME = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9.-]{0,251}[A-Za-z0-9])?")


@dataclass(frozen=True, slots=True)
class Listen:
    host: str
    port: int

    @property
    def loopback(self) -> bool:
        if self.host == "localhost":
            return True
        try:
            return ipaddress.ip_address(self.host).is_loopback
        except ValueError:
            return False  # a host name other than localhost: it may resolve anywhere


def parse_listen(text: object) -> Listen:
    """`127.0.0.1:8080`, `[::1]:8080`, `localhost:8080`, `0.0.0.0:8080`, `host.lan:80`.

    Raises ValueError with the reason (the caller says where the text came from)."""
    if not isinstance(text, str):
        raise ValueError("expected text HOST:PORT such as 127.0.0.1:8080")
    host, sep, port = text.rpartition(":")
    if not sep or not host:
        raise ValueError("expected HOST:PORT such as 127.0.0.1:8080")
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
        try:
            if ipaddress.ip_address(host).version != 6:
                raise ValueError
        except ValueError:
            raise ValueError("brackets hold an IPv6 address, e.g. [::1]:8080") from None
    elif ":" in host:
        raise ValueError("an IPv6 address goes in brackets, e.g. [::1]:8080")
    else:
        try:
            ipaddress.ip_address(host)
        except ValueError:
            if not _HOSTNAME.fullmatch(host):
                raise ValueError(f"{host!r} is not an IP address or a host name") from None
    if not (port.isascii() and port.isdigit()) or len(port) > 5 or not 0 <= int(port) <= 65535:
        raise ValueError("the port is a number from 0 to 65535")
    return Listen(host, int(port))


def http_settings(settings: Settings, flag: str | None) -> HttpSettings | None:
    """The listener's settings, or None when neither `--http` nor [http] listen is given.

    Raises ConfigError (one line naming config.toml and [http], or the flag) on a bad
    value, an unreadable token file, or an address off loopback without a token."""
    where = f"{settings.config_file} [http]"
    raw = settings.table("http")
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        raise ConfigError(f'{where}: must be a table, e.g. [http] listen = "127.0.0.1:8080"')
    unknown = sorted(set(raw) - set(KEYS))
    if unknown:
        raise ConfigError(f"{where}: unknown setting {unknown[0]!r} (known: {', '.join(KEYS)})")
    if flag is not None:
        text, said = flag, f"--http {flag!r}"
    elif "listen" in raw:
        text, said = raw["listen"], f"{where}: listen = {raw['listen']!r}"
    else:
        return None
    try:
        listen = parse_listen(text)
    except ValueError as exc:
        raise ConfigError(f"{said}: {exc}") from None
    numbers = {key: _number(where, key, raw[key]) for key in RANGES if key in raw}
    token = _token(settings, where, raw.get("token_file"))
    if token is None and not listen.loopback:
        raise ConfigError(
            f"{said}: listening off loopback needs a token: set token_file in {where} "
            "(a file holding at least 16 characters)"
        )
    defaults = HttpSettings()
    return HttpSettings(
        host=listen.host,
        port=listen.port,
        token=token,
        max_body_bytes=int(numbers.get("max_body_kb", defaults.max_body_bytes // 1024)) * 1024,
        request_timeout=float(numbers.get("request_timeout", defaults.request_timeout)),
        max_connections=int(numbers.get("max_connections", defaults.max_connections)),
    )


def _number(where: str, key: str, value: Any) -> float:
    low, high = RANGES[key]
    whole = key != "request_timeout"
    if isinstance(value, bool) or not isinstance(value, int if whole else int | float):
        kind = "a whole number" if whole else "a number of seconds"
        raise ConfigError(f"{where}: {key} = {value!r} is not {kind}")
    if not low <= value <= high:
        raise ConfigError(f"{where}: {key} = {value!r} is out of range ({low:g} to {high:g})")
    return float(value)


def _token(settings: Settings, where: str, value: Any) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or not value.strip() or "\x00" in value:
        raise ConfigError(f'{where}: token_file = {value!r} is not a path, e.g. "http.token"')
    path = user_path(value)
    if not path.is_absolute():  # beside config.toml, as an operator reading it would expect
        path = settings.config_dir / path
    try:
        return read_token(path)
    except SlothError as exc:
        raise ConfigError(f"{where}: token_file: {exc}") from None
