"""[[checks]] of config.toml: health and network checks, parsed into CheckSettings.

config.py keeps the table raw (`settings.table("checks")`); this module owns its shape.
Every bad entry is one ConfigError line naming the config file, the table, the entry's
number and name, and the setting: an unknown kind or key, a URL that is not http(s), a
port out of range, a negative interval, a duplicate name. Values from the file are shown
through repr() and clipped, so a control character or a huge string stays one short line.
"""

from __future__ import annotations

import ipaddress
import math
import re
import urllib.parse
from dataclasses import dataclass, fields
from typing import Any

from sloth_tui.config import ConfigError, Settings

KINDS = ("http", "tcp", "dns")
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
_LABEL = re.compile(r"^[A-Za-z0-9_](?:[A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?$")
_UNSAFE = re.compile(r"[\x00-\x20\x7f-\x9f]")  # controls and spaces: never in a URL
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")
URL_MAX = 2048
TEXT_MAX = 4096

_COMMON = ("name", "kind", "service", "interval", "timeout", "failures", "slow_ms", "enabled")
_BY_KIND: dict[str, tuple[str, ...]] = {
    "http": ("url", "expect_status", "body_contains", "follow_redirects"),
    "tcp": ("host", "port"),
    "dns": ("host",),
}
_REQUIRED: dict[str, tuple[str, ...]] = {
    "http": ("url",),
    "tcp": ("host", "port"),
    "dns": ("host",),
}
# (low, high) of each number; NaN and infinities fail the comparison too.
RANGES: dict[str, tuple[float, float]] = {
    "interval": (0.1, 7 * 86_400),
    "timeout": (0.01, 300),
    "failures": (1, 1000),
    "slow_ms": (0, 300_000),
    "expect_status": (100, 599),
    "port": (1, 65_535),
}
_INTEGERS = ("failures", "expect_status", "port")


@dataclass(frozen=True, slots=True)
class CheckSettings:
    """One [[checks]] entry, checked."""

    name: str
    kind: str  # "http", "tcp" or "dns"
    service: str  # the `service` field of health.* events; the check's name by default
    interval: float = 30.0  # seconds from the end of one probe to the start of the next
    timeout: float = 5.0  # seconds one probe may take, connecting and reading included
    failures: int = 1  # consecutive failed probes before the check counts as failed
    slow_ms: float = 2500.0  # a passing probe this slow (or slower) is degraded; 0: never
    enabled: bool = True
    url: str = ""  # http
    expect_status: int = 200  # http
    body_contains: str = ""  # http: the body (its first MiB) must contain this text
    follow_redirects: bool = False  # http: else a 3xx answer is the status compared
    host: str = ""  # tcp, dns
    port: int = 0  # tcp

    @property
    def target(self) -> str:
        """What the check probes, as one short text: the URL, host:port or the name."""
        if self.kind == "http":
            return self.url
        if self.kind == "tcp":
            host = f"[{self.host}]" if ":" in self.host else self.host
            return f"{host}:{self.port}"
        return self.host

    def as_dict(self) -> dict[str, Any]:
        """The settings that apply to this kind (for `check list --json`)."""
        keep = set(_COMMON) | set(_BY_KIND[self.kind])
        out = {f.name: getattr(self, f.name) for f in fields(self) if f.name in keep}
        out["target"] = self.target
        return out


def _show(value: Any) -> str:
    """A value from the file inside a one-line message: repr (escapes controls), clipped."""
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def check_host(host: str) -> str | None:
    """Why `host` is not a host name or IP address, or None when it is one."""
    if not host:
        return "is empty"
    if len(host) > 253:
        return "is longer than 253 characters"
    try:
        ipaddress.ip_address(host)
        return None
    except ValueError:
        pass
    try:
        ascii_name = host.encode("idna").decode("ascii")
    except UnicodeError:
        return "is not a valid host name"
    labels = ascii_name[:-1].split(".") if ascii_name.endswith(".") else ascii_name.split(".")
    if len(ascii_name) > 253 or not all(_LABEL.match(label) for label in labels):
        return "is not a valid host name (letters, digits, '-' and '.')"
    return None


def check_url(url: str) -> str | None:
    """Why `url` is not an http(s) URL a check can GET, or None when it is one."""
    if not url:
        return "is empty"
    if len(url) > URL_MAX:
        return f"is longer than {URL_MAX} characters"
    if _UNSAFE.search(url):
        return "holds spaces or control characters"
    if not url.isascii():
        return "must be ASCII (percent-encode other characters, punycode for host names)"
    try:
        parts = urllib.parse.urlsplit(url)
        port = parts.port  # ValueError when not a number or out of range
    except ValueError as exc:
        return f"is not a valid URL: {exc}"
    if parts.scheme not in ("http", "https"):
        return "must start with http:// or https://"
    if parts.username is not None or parts.password is not None:
        return "must not hold credentials (user:password@)"
    if not parts.hostname:
        return "has no host"
    if port == 0:
        return "has port 0"
    host_problem = check_host(parts.hostname)
    return f"host {host_problem}" if host_problem else None


class _Entry:
    """One raw entry being read, with the label its errors start with."""

    def __init__(self, raw: dict[str, Any], index: int, where: str) -> None:
        self.raw = raw
        self.label = f"{where} [[checks]] entry {index}"

    def fail(self, message: str) -> ConfigError:
        return ConfigError(f"{self.label}: {message}")

    def number(self, key: str, default: float) -> float:
        value = self.raw.get(key, default)
        low, high = RANGES[key]
        if isinstance(value, bool) or not isinstance(value, int | float):
            return self._bad_number(key, value, low, high)
        if key in _INTEGERS and not (isinstance(value, int) or float(value).is_integer()):
            raise self.fail(f"{key} = {_show(value)} must be a whole number")
        if not (math.isfinite(value) and low <= value <= high):
            return self._bad_number(key, value, low, high)
        return value

    def _bad_number(self, key: str, value: Any, low: float, high: float) -> float:
        raise self.fail(f"{key} = {_show(value)} must be a number from {low:g} to {high:g}")

    def text(self, key: str, default: str = "") -> str:
        value = self.raw.get(key, default)
        if not isinstance(value, str):
            raise self.fail(f"{key} = {_show(value)} must be a string")
        if len(value) > TEXT_MAX:
            raise self.fail(f"{key} is longer than {TEXT_MAX} characters")
        return value

    def flag(self, key: str, default: bool) -> bool:
        value = self.raw.get(key, default)
        if not isinstance(value, bool):
            raise self.fail(f"{key} = {_show(value)} must be true or false")
        return value


def _parse_entry(raw: Any, index: int, where: str) -> CheckSettings:
    if not isinstance(raw, dict):
        raise ConfigError(f"{where} [[checks]] entry {index}: must be a table with a name")
    entry = _Entry(raw, index, where)
    name = raw.get("name")
    if not isinstance(name, str) or not _NAME.match(name):
        shown = "is missing" if name is None else f"= {_show(name)} is not valid"
        raise entry.fail(
            f"name {shown}: use letters, digits, '-', '_' or '.', at most 64 characters"
        )
    entry.label += f" ({name})"
    kind = raw.get("kind")
    if kind not in KINDS:
        shown = "is missing" if kind is None else f"= {_show(kind)} is unknown"
        raise entry.fail(f"kind {shown} (known: {', '.join(KINDS)})")
    known = (*_COMMON, *_BY_KIND[kind])
    for key in raw:
        if key not in known:
            other = next((k for k, keys in _BY_KIND.items() if key in keys), None)
            why = f"is not a setting of a {kind} check" if other else "is an unknown setting"
            raise entry.fail(f"{_show(key)} {why} (known: {', '.join(known)})")
    for key in _REQUIRED[kind]:
        if key not in raw:
            raise entry.fail(f"a {kind} check needs {key}")
    service = entry.text("service", name)
    if not service.strip() or _CONTROL.search(service):
        raise entry.fail(f"service = {_show(service)} must be one line of text")
    timeout = entry.number("timeout", 5.0)
    slow_ms = entry.number("slow_ms", timeout * 500)  # default: half the timeout
    if slow_ms >= timeout * 1000:
        raise entry.fail(
            f"slow_ms = {slow_ms:g} must be below the timeout ({timeout:g} s = "
            f"{timeout * 1000:g} ms), or 0 to never count as degraded"
        )
    values: dict[str, Any] = {
        "interval": entry.number("interval", 30.0),
        "timeout": timeout,
        "failures": int(entry.number("failures", 1)),
        "slow_ms": slow_ms,
        "enabled": entry.flag("enabled", True),
    }
    if kind == "http":
        url = entry.text("url")
        if problem := check_url(url):
            raise entry.fail(f"url = {_show(url)} {problem}")
        values |= {
            "url": url,
            "expect_status": int(entry.number("expect_status", 200)),
            "body_contains": entry.text("body_contains"),
            "follow_redirects": entry.flag("follow_redirects", False),
        }
    else:
        host = entry.text("host")
        if problem := check_host(host):
            raise entry.fail(f"host = {_show(host)} {problem}")
        values["host"] = host
        if kind == "tcp":
            values["port"] = int(entry.number("port", 0))
    return CheckSettings(name=name, kind=kind, service=service, **values)


def parse_checks(raw: Any, where: str) -> tuple[CheckSettings, ...]:
    """The [[checks]] entries of config file `where`, checked (raw None: no checks)."""
    if raw is None:
        return ()
    if not isinstance(raw, list):
        raise ConfigError(f'{where} [checks]: write each check as [[checks]] with name = "..."')
    checks: list[CheckSettings] = []
    seen: set[str] = set()
    for index, item in enumerate(raw, start=1):
        check = _parse_entry(item, index, where)
        if check.name in seen:
            raise ConfigError(
                f"{where} [[checks]] entry {index} ({check.name}): another check has this name"
            )
        seen.add(check.name)
        checks.append(check)
    return tuple(checks)


def load_checks(settings: Settings) -> tuple[CheckSettings, ...]:
    """The checks config.toml names, checked; ConfigError (one line) on a bad entry."""
    return parse_checks(settings.table("checks"), str(settings.config_file))
