"""One schedule: its checked settings, and when it fires (cron by cronsim, zones by zoneinfo).

A schedule comes from a `[[schedules]]` entry of config.toml or from the CLI's own file
(`sloth-tui schedule add`, sources/schedule_store.py); both go through `parse_entry`,
so a bad cron expression, an unknown timezone or an unknown key is the same one-line
ConfigError wherever it was written. Times are epoch seconds (floats) everywhere but
in event data, where they are ISO 8601 text as the catalog shows them.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, tzinfo
from typing import Any
from zoneinfo import ZoneInfo

from cronsim import CronSim, CronSimError

from sloth_tui import catalog
from sloth_tui.config import ConfigError
from sloth_tui.model.errors import EventRefused

NAME_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")
NAME_HINT = "letters, digits, '-', '_' or '.', starting with a letter or digit, at most 64"
KEYS = ("name", "cron", "timezone", "enabled", "event", "data", "workflow_name")
MAX_CRON = 200  # longer is a paste gone wrong, not a schedule
MAX_TEXT = 200  # workflow_name, timezone


@dataclass(frozen=True, slots=True)
class ScheduleSpec:
    name: str
    cron: str
    timezone: str = "UTC"
    enabled: bool = True
    event: str | None = None  # an extra event of this type on each fire
    data: dict[str, Any] = field(default_factory=dict)  # ... with this data
    workflow_name: str = ""
    origin: str = "config"  # "config" (config.toml) or "cli" (the CLI's file)
    changed: float = 0.0  # CLI entries: when last added/changed/enabled (epoch s); 0: unknown

    @property
    def schedule_id(self) -> str:
        """Stable across restarts and the same for a name wherever it is defined."""
        return "sched-" + hashlib.sha256(self.name.encode()).hexdigest()[:6]

    @property
    def zone(self) -> tzinfo:
        return zone_of(self.timezone)

    def to_entry(self) -> dict[str, Any]:
        """As the CLI's file keeps it (and as `schedule list --json` shows it)."""
        entry: dict[str, Any] = {
            "name": self.name,
            "cron": self.cron,
            "timezone": self.timezone,
            "enabled": self.enabled,
            "workflow_name": self.workflow_name,
        }
        if self.event is not None:
            entry["event"] = self.event
            entry["data"] = self.data
        return entry


def zone_of(name: str) -> tzinfo:
    # datetime.UTC rather than ZoneInfo("UTC"): cronsim skips its DST handling for it.
    return UTC if name == "UTC" else ZoneInfo(name)


def _where(where: str, index: int, raw: Any) -> str:
    name = raw.get("name") if isinstance(raw, dict) else None
    label = f"entry {index}" + (f" ({name[:70]!r})" if isinstance(name, str) else "")
    return f"{where} [[schedules]] {label}"


def check_name(name: Any) -> str:
    if not isinstance(name, str) or not NAME_RE.fullmatch(name):
        shown = repr(name[:70]) if isinstance(name, str) else type(name).__name__
        raise ConfigError(f"invalid schedule name {shown}: {NAME_HINT} characters")
    return name


def check_cron(expr: Any) -> str:
    """The expression if cronsim takes it and it fires at least once; ConfigError if not."""
    if not isinstance(expr, str) or not expr.strip():
        raise ConfigError('cron must be a cron expression such as "0 2 * * *"')
    if len(expr) > MAX_CRON:
        raise ConfigError(f"cron expression is too long ({len(expr)} characters)")
    shown = repr(expr[:70])
    try:
        it = CronSim(expr, datetime.now(UTC))
    except CronSimError as exc:
        raise ConfigError(f"invalid cron expression {shown}: {exc}") from None
    except (
        Exception
    ) as exc:  # cronsim's own checks are the contract; anything else is a bad input too
        raise ConfigError(f"invalid cron expression {shown}: {type(exc).__name__}") from None
    if _next(it) is None:
        raise ConfigError(f"cron expression {shown} never fires")
    return expr


def check_timezone(name: Any) -> str:
    if not isinstance(name, str) or not name or len(name) > MAX_TEXT:
        raise ConfigError('timezone must be an IANA name such as "Europe/Berlin" or "UTC"')
    try:
        zone_of(name)
    except Exception:  # ZoneInfoNotFoundError, ValueError for "../x", OSError for odd paths
        raise ConfigError(
            f'unknown timezone {name[:70]!r}: use an IANA name such as "Europe/Berlin" or "UTC"'
        ) from None
    return name


def check_event(event: Any, data: Any) -> tuple[str | None, dict[str, Any]]:
    if event is None:
        if data not in (None, {}):
            raise ConfigError('data needs an event type (event = "custom")')
        return None, {}
    try:
        event = catalog.check_type_name(event)
    except EventRefused as exc:
        raise ConfigError(f"event: {exc}") from None
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError("data must be a table (a JSON object)")
    try:  # TOML dates and times are not JSON: refuse them here, not at the first fire
        json.dumps(data, allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"data must be JSON values only: {exc}") from None
    return event, data


def parse_entry(
    raw: Any, where: str, index: int, *, origin: str = "config", extra: tuple[str, ...] = ()
) -> ScheduleSpec:
    """One entry as TOML or the CLI's JSON gave it; ConfigError naming file, table, entry."""
    at = _where(where, index, raw)
    if not isinstance(raw, dict):
        raise ConfigError(f"{at}: must be a table with at least a name and a cron")
    unknown = sorted(set(raw) - set(KEYS) - set(extra))
    if unknown:
        raise ConfigError(f"{at}: unknown key {unknown[0][:70]!r} (known: {', '.join(KEYS)})")
    for key in ("name", "cron"):
        if key not in raw:
            raise ConfigError(f"{at}: needs a {key}")
    enabled = raw.get("enabled", True)
    workflow = raw.get("workflow_name", "")
    changed = raw.get("changed", 0.0)
    try:
        if not isinstance(enabled, bool):
            raise ConfigError("enabled must be true or false")
        if not isinstance(workflow, str) or len(workflow) > MAX_TEXT:
            raise ConfigError(f"workflow_name must be text of at most {MAX_TEXT} characters")
        if isinstance(changed, bool) or not isinstance(changed, int | float):
            raise ConfigError("changed must be a time in epoch seconds")
        event, data = check_event(raw.get("event"), raw.get("data"))
        return ScheduleSpec(
            name=check_name(raw["name"]),
            cron=check_cron(raw["cron"]),
            timezone=check_timezone(raw.get("timezone", "UTC")),
            enabled=enabled,
            event=event,
            data=data,
            workflow_name=workflow,
            origin=origin,
            changed=float(changed),
        )
    except ConfigError as exc:
        raise ConfigError(f"{at}: {exc}") from None


def parse_table(raw: Any, where: str, *, origin: str = "config") -> tuple[ScheduleSpec, ...]:
    """A whole `[[schedules]]` array (None: none); names must be unique."""
    if raw is None:
        return ()
    if not isinstance(raw, list):
        raise ConfigError(f"{where}: schedules must be [[schedules]] entries (an array of tables)")
    specs = tuple(parse_entry(item, where, i + 1, origin=origin) for i, item in enumerate(raw))
    seen: set[str] = set()
    for i, spec in enumerate(specs):
        if spec.name in seen:
            raise ConfigError(f"{where} [[schedules]] entry {i + 1}: duplicate name {spec.name!r}")
        seen.add(spec.name)
    return specs


# -- when a schedule fires ---------------------------------------------------------------


def _next(it: CronSim) -> datetime | None:
    try:
        return next(it)
    except (StopIteration, OverflowError):  # no match within cronsim's 50 years, or year 9999
        return None


def fires_after(spec: ScheduleSpec, after: float) -> Iterator[float]:
    """The fire times strictly after `after`, in order (epoch seconds)."""
    zone = spec.zone
    try:
        start = datetime.fromtimestamp(after, zone)
    except (OverflowError, OSError, ValueError):
        return
    it = CronSim(spec.cron, start)
    while (dt := _next(it)) is not None:
        yield dt.timestamp()


def next_fire(spec: ScheduleSpec, after: float) -> float | None:
    return next(fires_after(spec, after), None)


def last_fire_at_or_before(spec: ScheduleSpec, when: float) -> float | None:
    """The latest fire time at or before `when` (cronsim iterating backwards)."""
    zone = spec.zone
    # +1 s then strictly before: cronsim's reverse iteration starts one tick back.
    start = datetime.fromtimestamp(int(when) + 1, zone)
    dt = _next(CronSim(spec.cron, start, reverse=True))
    return dt.timestamp() if dt is not None else None


@dataclass(frozen=True, slots=True)
class Due:
    """The fires in a window: how many (up to `cap`), the first and the last."""

    count: int
    first: float
    last: float
    exact: bool  # False when there were more than `cap` (count is then the cap)


def fires_between(spec: ScheduleSpec, after: float, until: float, cap: int = 1000) -> Due | None:
    """The fires in (after, until]; None when there is none. Counting stops at `cap` (a
    per-second schedule down for a week is 600 000 fires): the last is then found by
    iterating backwards from `until` instead."""
    first: float | None = None
    last = 0.0
    count = 0
    for t in fires_after(spec, after):
        if t > until:
            break
        if first is None:
            first = t
        last = t
        count += 1
        if count >= cap:
            back = last_fire_at_or_before(spec, until)
            exact = back is None or back <= last
            return Due(count, first, max(last, back or last), exact)
    if first is None:
        return None
    return Due(count, first, last, True)


def iso_utc(ts: float) -> str:
    """2026-11-26T02:00:00Z, as the catalog writes times."""
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def iso_local(ts: float, zone: tzinfo) -> str:
    return datetime.fromtimestamp(ts, zone).isoformat(timespec="seconds")
