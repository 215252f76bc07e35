"""`[nats]` in config.toml and `serve --nats URL`: how an engine joins a fleet.

Off unless one of them gives a URL (the flag overrides `url`).

    [nats]
    url = "nats://127.0.0.1:4222"        # several: "nats://a:4222,nats://b:4222"
    name = "web-1"                        # this engine's name in the fleet (default: host name)
    token_file = "~/.config/sloth-tui/nats.token"   # or creds_file (a .creds for NKEY/JWT)
    creds_file = "..."
    tls_ca = "/etc/ssl/nats-ca.pem"       # tls_cert and tls_key for mutual TLS
    heartbeat = 2.0                       # seconds between heartbeats
    prefix = "sloth"                      # subjects sloth.events.>, buckets sloth_hooks ...
"""

from __future__ import annotations

import re
import socket
from dataclasses import dataclass
from urllib.parse import urlsplit

from sloth_tui.config import ConfigError, Settings
from sloth_tui.user_path import user_path

KEYS = (
    "url",
    "name",
    "token_file",
    "creds_file",
    "tls_ca",
    "tls_cert",
    "tls_key",
    "heartbeat",
    "prefix",
)
# An engine's name is a subject token and a KV key part: letters, digits, - and _.
NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,62}")
PREFIX = re.compile(r"[a-z][a-z0-9_]{0,30}")
SCHEMES = ("nats", "tls")
PORT_RANGE = "the port is a number from 1 to 65535"


@dataclass(frozen=True, slots=True)
class FleetSettings:
    servers: tuple[str, ...]  # nats://host:port, as given (credentials in them are kept)
    name: str  # this engine's name in the fleet
    token: str | None = None
    creds_file: str | None = None
    tls_ca: str | None = None
    tls_cert: str | None = None
    tls_key: str | None = None
    heartbeat: float = 2.0
    prefix: str = "sloth"
    observer: bool = False  # a dashboard's view: takes the fleet in, runs no hooks

    @property
    def shown_url(self) -> str:
        """The servers with any user:password taken out, for screens and logs."""
        shown = []
        for url in self.servers:
            parts = urlsplit(url)
            host = parts.hostname or ""
            if ":" in host:
                host = f"[{host}]"
            port = f":{parts.port}" if parts.port else ""
            shown.append(f"{parts.scheme}://{host}{port}")
        return ",".join(shown)


def default_name() -> str:
    """The host name made into a valid engine name."""
    raw = socket.gethostname().split(".")[0] or "engine"
    name = re.sub(r"[^A-Za-z0-9_-]", "-", raw).strip("-_") or "engine"
    return name[:63]


def parse_servers(text: object) -> tuple[str, ...]:
    """`nats://host:4222`, `tls://host:4222`, several joined by commas. ValueError says why
    in one line (naming the server at fault when there are several)."""
    if not isinstance(text, str) or not text.strip():
        raise ValueError("expected a URL such as nats://127.0.0.1:4222")
    given = text.split(",")
    out = []
    for part in given:
        url = part.strip()
        try:
            out.append(_server_url(url))
        except ValueError as exc:
            raise ValueError(f"{url!r}: {exc}" if len(given) > 1 else str(exc)) from None
    return tuple(out)


def _server_url(url: str) -> str:
    """One server's URL, with :4222 when it names no port."""
    if not url:
        raise ValueError("an empty server between commas")
    if " " in url or not url.isprintable():  # control, format and separator characters
        raise ValueError("a URL has no spaces or control characters")
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise ValueError(_url_problem(str(exc))) from None
    if parts.scheme not in SCHEMES:
        raise ValueError("the scheme is nats:// or tls://, as in nats://127.0.0.1:4222")
    if not parts.hostname:
        raise ValueError("no host")
    if parts.path not in ("", "/") or parts.query or parts.fragment:
        raise ValueError("a server URL has no path or query")
    if port == 0:
        raise ValueError(PORT_RANGE)
    if port is None:
        url = url.rstrip("/") + ":4222" if "@" not in url else url
    return url.rstrip("/")


def _url_problem(message: str) -> str:
    """urllib's complaint as an operator can act on it."""
    if "IPv6" in message:  # urllib reads any bracket in the host part as IPv6
        return "brackets are for an IPv6 address only, as in nats://[::1]:4222"
    if message.startswith("Port"):  # not an integer, or out of range
        return PORT_RANGE
    return message


def fleet_settings(
    settings: Settings, flag: str | None, *, name: str | None = None, observer: bool = False
) -> FleetSettings | None:
    """The fleet's settings, or None when neither `--nats` nor [nats] url is given.

    Raises ConfigError (one line naming config.toml [nats], or the flag) on a bad value."""
    where = f"{settings.config_file} [nats]"
    raw = settings.table("nats")
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        raise ConfigError(f'{where}: must be a table, e.g. [nats] url = "nats://127.0.0.1:4222"')
    unknown = sorted(set(raw) - set(KEYS))
    if unknown:
        raise ConfigError(f"{where}: unknown setting {unknown[0]!r} (known: {', '.join(KEYS)})")
    if flag is not None:
        text, said = flag, f"--nats {flag!r}"
    elif "url" in raw:
        text, said = raw["url"], f"{where}: url = {raw['url']!r}"
    else:
        return None
    try:
        servers = parse_servers(text)
    except ValueError as exc:
        raise ConfigError(f"{said}: {exc}") from None
    chosen = name if name is not None else raw.get("name")
    if chosen is None:
        chosen = default_name()
    if not isinstance(chosen, str) or not NAME.fullmatch(chosen):
        said = f"--name {name!r}" if name is not None else f"{where}: name = {chosen!r}"
        raise ConfigError(f"{said}: an engine's name is 1-63 letters, digits, - or _")
    heartbeat = raw.get("heartbeat", 2.0)
    if isinstance(heartbeat, bool) or not isinstance(heartbeat, int | float):
        raise ConfigError(f"{where}: heartbeat = {heartbeat!r}: a number of seconds")
    if not 0.2 <= float(heartbeat) <= 60:
        raise ConfigError(f"{where}: heartbeat = {heartbeat!r}: from 0.2 to 60 seconds")
    prefix = raw.get("prefix", "sloth")
    if not isinstance(prefix, str) or not PREFIX.fullmatch(prefix):
        raise ConfigError(f"{where}: prefix = {prefix!r}: lower-case letters, digits and _")
    files = {}
    for key in ("creds_file", "tls_ca", "tls_cert", "tls_key"):
        value = raw.get(key)
        if value is None:
            continue
        if not isinstance(value, str) or not value:
            raise ConfigError(f"{where}: {key} = {value!r}: a file path")
        path = user_path(value)
        if not path.is_file():
            raise ConfigError(f"{where}: {key} = {value!r}: no such file")
        files[key] = str(path)
    token = None
    if raw.get("token_file") is not None:
        from sloth_tui.remote.server import read_token

        try:
            token = read_token(str(raw["token_file"]))
        except Exception as exc:  # read_token's own one-line SlothError, or a type error
            raise ConfigError(f"{where}: token_file: {exc}") from None
    return FleetSettings(
        servers=servers,
        name=chosen,
        token=token,
        creds_file=files.get("creds_file"),
        tls_ca=files.get("tls_ca"),
        tls_cert=files.get("tls_cert"),
        tls_key=files.get("tls_key"),
        heartbeat=float(heartbeat),
        prefix=prefix,
        observer=observer,
    )
