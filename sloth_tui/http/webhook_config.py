"""`[[webhooks]]` in config.toml, parsed into WebhookSettings (issue 18).

Each entry: `name` (the URL's /webhooks/NAME), `preset` (a shipped mapping in presets/,
which the entry's keys override), `source` (default "webhook:NAME"), `each`, `event`,
`data`, `cases` (see webhook_mapping.py), and auth: `secret_file` (GitHub's HMAC-SHA256
signature of the body) and/or `token_file` (a bearer token). A webhook without either
is allowed only while the listener is on loopback: anyone who can reach it could
otherwise make events.

Merging with a preset: `data` field by field (the entry's win), the entry's `cases`
before the preset's (the first that holds wins, so an entry can take over a case), and
every other key replaced.
"""

from __future__ import annotations

import ipaddress
import re
import tomllib
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

from sloth_tui.catalog import check_type_name, unknown_type_warning
from sloth_tui.config import ConfigError
from sloth_tui.http.webhook_mapping import (
    Case,
    Mapping,
    SpecError,
    parse_data,
    parse_path,
    parse_when,
)
from sloth_tui.model.errors import EventRefused
from sloth_tui.remote.server import ServerError, read_token
from sloth_tui.user_path import user_path

PRESETS = ("alertmanager", "github")
_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$")
_KEYS = frozenset(
    {"name", "preset", "source", "each", "event", "data", "cases", "secret_file", "token_file"}
)
_CASE_KEYS = frozenset({"when", "event", "data", "ignore"})
MAX_SOURCE_CHARS = 128


@dataclass(frozen=True, slots=True)
class WebhookSettings:
    name: str
    source: str
    mapping: Mapping
    secret: str | None = None  # HMAC-SHA256 key for X-Hub-Signature-256
    token: str | None = None  # Authorization: Bearer / X-Sloth-Token
    preset: str | None = None


def is_loopback(host: str) -> bool:
    """Whether the listener's address is reachable only from this machine."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def load_preset(name: str) -> dict[str, Any]:
    """A shipped preset's table (sloth_tui/http/presets/NAME.toml)."""
    text = resources.files("sloth_tui.http").joinpath("presets", f"{name}.toml").read_text("utf-8")
    return tomllib.loads(text)


def parse_webhooks(
    raw: Any, where: str, *, config_dir: Path, listener_host: str
) -> tuple[WebhookSettings, ...]:
    """The [[webhooks]] entries of config file `where` (raw None: none); ConfigError (one
    line naming the file, the entry and the key) on a bad one."""
    if raw is None:
        return ()
    if not isinstance(raw, list):
        raise ConfigError(
            f'{where} [webhooks]: write each webhook as [[webhooks]] with name = "..."'
        )
    hooks: list[WebhookSettings] = []
    seen: set[str] = set()
    for index, entry in enumerate(raw, start=1):
        hook = _parse_entry(entry, f"{where} [[webhooks]] entry {index}", config_dir, listener_host)
        if hook.name in seen:
            raise ConfigError(
                f"{where} [[webhooks]] entry {index} ({hook.name}): another webhook has this name"
            )
        seen.add(hook.name)
        hooks.append(hook)
    return tuple(hooks)


def _parse_entry(entry: Any, where: str, config_dir: Path, host: str) -> WebhookSettings:
    if not isinstance(entry, dict):
        raise ConfigError(f"{where}: must be a table")
    name = entry.get("name")
    if not isinstance(name, str) or not _NAME_RE.fullmatch(name):
        raise ConfigError(
            f"{where}: name must be 1-64 letters, digits, _ or - (it is the URL's /webhooks/NAME)"
        )
    where = f"{where} ({name})"
    unknown = set(entry) - _KEYS
    if unknown:
        raise ConfigError(
            f"{where}: unknown key {sorted(unknown)[0]!r} (known: {', '.join(sorted(_KEYS))})"
        )
    preset = entry.get("preset")
    if preset is not None and preset not in PRESETS:
        raise ConfigError(f"{where}: preset must be one of {', '.join(PRESETS)}")
    merged = _merged(load_preset(preset), entry) if preset else dict(entry)
    source = merged.get("source", f"webhook:{name}")
    if (
        not isinstance(source, str)
        or not source
        or len(source) > MAX_SOURCE_CHARS
        or any(c < " " or c == "\x7f" for c in source)
    ):
        raise ConfigError(
            f"{where}: source must be one line of text, {MAX_SOURCE_CHARS} characters at most"
        )
    try:
        mapping = _mapping(merged)
    except SpecError as exc:
        raise ConfigError(f"{where}: {exc}") from None
    secret = _read(merged.get("secret_file"), "secret_file", where, config_dir)
    token = _read(merged.get("token_file"), "token_file", where, config_dir)
    if secret is None and token is None and not is_loopback(host):
        raise ConfigError(
            f"{where}: the listener is on {host}, not loopback: give the webhook a secret_file "
            "or a token_file"
        )
    return WebhookSettings(name, source, mapping, secret, token, preset)


def _merged(preset: dict[str, Any], entry: dict[str, Any]) -> dict[str, Any]:
    merged = {**preset, **entry}
    if isinstance(preset.get("data"), dict) and isinstance(entry.get("data"), dict):
        merged["data"] = {**preset["data"], **entry["data"]}
    if isinstance(preset.get("cases"), list) and isinstance(entry.get("cases"), list):
        merged["cases"] = [*entry["cases"], *preset["cases"]]
    return merged


def _mapping(table: dict[str, Any]) -> Mapping:
    each = None
    if "each" in table:
        each = parse_path(table["each"], allow_item=False)
        if each.root != "payload":
            raise SpecError("each: must be a path into the payload (payload.alerts)")
    allow_item = each is not None
    cases: list[Case] = []
    raw_cases = table.get("cases", [])
    if not isinstance(raw_cases, list):
        raise SpecError("cases: write each case as [[webhooks.cases]]")
    for number, raw in enumerate(raw_cases, start=1):
        cases.append(_case(raw, f"cases[{number}]", allow_item))
    if "event" in table:
        cases.append(
            _case({"event": table["event"], "data": table.get("data", {})}, "", allow_item)
        )
    elif "data" in table:
        raise SpecError('data: needs event = "TYPE" (the type of the events it makes)')
    if not cases:
        raise SpecError('give event = "TYPE" (or a preset, or cases)')
    return Mapping(each, tuple(cases))


def _case(raw: Any, where: str, allow_item: bool) -> Case:
    at = f"{where}." if where else ""
    if not isinstance(raw, dict):
        raise SpecError(f"{where}: must be a table")
    unknown = set(raw) - _CASE_KEYS
    if unknown:
        raise SpecError(f"{at}{sorted(unknown)[0]!r}: unknown key (when, event, data, ignore)")
    when = parse_when(raw["when"], f"{at}when", allow_item=allow_item) if "when" in raw else ()
    if raw.get("ignore") is True:
        if "event" in raw or "data" in raw:
            raise SpecError(f"{at}ignore: a case that ignores takes no event or data")
        return Case(when, None, ())
    if "ignore" in raw and raw["ignore"] is not False:
        raise SpecError(f"{at}ignore: must be true or false")
    event = raw.get("event")
    try:
        event = check_type_name(event)
    except EventRefused as exc:
        raise SpecError(f"{at}event: {exc}") from None
    warning = unknown_type_warning(event)
    if warning:
        raise SpecError(f"{at}event: {warning}")
    data = parse_data(raw.get("data", {}), f"{at}data", allow_item=allow_item)
    return Case(when, event, data)


def _read(value: Any, key: str, where: str, config_dir: Path) -> str | None:
    """A secret or token file (relative to the config dir), at least 16 characters."""
    if value is None:
        return None
    if not isinstance(value, str) or not value:
        raise ConfigError(f"{where}: {key} must be a path")
    path = user_path(value)
    if not path.is_absolute():
        path = config_dir / path
    try:
        return read_token(path)
    except ServerError as exc:
        raise ConfigError(f"{where}: {key}: {exc}") from None
