"""`sloth-tui --attach nats://HOST:4222`: the dashboard over a whole fleet.

The dashboard runs an embedded engine that joins the fleet as an observer (it takes in
every engine's events and runs, publishes what is fired from it, runs no hooks) on a
store of its own: a cache home, `<user cache dir>/sloth-tui/fleet-<hash of the URL>`,
kept for the next time (it then catches up from where it was, not from the start). Its
config.toml there is written at each start: its name in the fleet,
`dash-<host>-<user>`, and the credentials and prefix of the user's own [nats] table.
"""

from __future__ import annotations

import getpass
import hashlib
import re
import socket
from pathlib import Path
from typing import Any

import click

from sloth_tui.commands.common import fail, settings_from
from sloth_tui.config import Settings, load_settings, user_dir
from sloth_tui.model.errors import SlothError

SCHEMES = ("nats://", "tls://")
# What the observer takes from the user's own [nats] table: how to reach and sign in.
CARRIED = ("token_file", "creds_file", "tls_ca", "tls_cert", "tls_key", "prefix")


def is_fleet_url(attach: str | None) -> bool:
    """`--attach nats://...` (or tls://, several joined by commas) names a fleet."""
    return attach is not None and attach.strip().lower().startswith(SCHEMES)


def _token(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_-]+", "-", text).strip("-_")


def observer_name(host: str | None = None, user: str | None = None) -> str:
    """`dash-<host>-<user>`, made a valid engine name (fleet/settings.NAME)."""
    if host is None:
        host = socket.gethostname().split(".")[0]
    if user is None:
        try:
            user = getpass.getuser()
        except Exception:  # no user name in the environment or the password database
            user = ""
    parts = [p for p in ("dash", _token(host)[:24], _token(user)[:24]) if p]
    return "-".join(parts)[:63]


def cache_home(servers: tuple[str, ...]) -> Path:
    """The observer's own store for these servers, reused from one start to the next."""
    import platformdirs

    digest = hashlib.sha256(",".join(servers).encode()).hexdigest()[:12]
    return user_dir(platformdirs.user_cache_dir) / f"fleet-{digest}"


def observer_settings(url: str, user: Settings) -> Settings:
    """The cache home's settings, its config.toml written from `user`'s [nats]."""
    import tomli_w

    from sloth_tui.fleet.settings import parse_servers

    try:
        servers = parse_servers(url)
    except ValueError as exc:
        raise SlothError(f"--attach: {exc}") from None
    home = cache_home(servers)
    home.mkdir(parents=True, exist_ok=True, mode=0o700)
    own = user.table("nats")
    table: dict[str, Any] = {"name": observer_name()}
    if isinstance(own, dict):
        table.update({k: own[k] for k in CARRIED if k in own})
    (home / "config.toml").write_text(tomli_w.dumps({"nats": table}))
    return load_settings(home)


def run_fleet_view(ctx: click.Context, url: str, theme: str | None) -> None:
    """The dashboard on an observer of the fleet at `url`; one line on an error."""
    from sloth_tui.commands.dashboard import need_a_terminal
    from sloth_tui.tui.launch import launch

    user = settings_from(ctx)
    try:
        settings = observer_settings(url, user)  # a bad URL first: it says more
        need_a_terminal()
        code = launch(
            settings, theme=theme or user.theme, themes_dir=user.themes_dir, fleet=url.strip()
        )
    except SlothError as exc:  # a bad URL, a held cache home (another dashboard): one line
        fail(str(exc))
    except OSError as exc:  # the cache dir cannot be made or written
        fail(f"--attach: the fleet view's store: {exc}")
    if code:
        raise SystemExit(code)
