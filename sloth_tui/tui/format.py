"""Text shaping shared by the screens: one-line summaries, times, durations, numbers."""

from __future__ import annotations

import json
import time
from typing import Any

from sloth_tui import catalog

SUMMARY_FIELDS = 6
VALUE_WIDTH = 40


def _scalar(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return "null"
    if isinstance(value, float):
        return f"{value:g}"
    text = str(value).replace("\n", " ")
    return text if len(text) <= VALUE_WIDTH else text[: VALUE_WIDTH - 1] + "…"


def _flatten(data: dict[str, Any], prefix: str = "") -> list[tuple[str, Any]]:
    out: list[tuple[str, Any]] = []
    for key, value in data.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict) and value and len(out) < SUMMARY_FIELDS:
            out.extend(_flatten(value, name + "."))
        else:
            out.append((name, value))
    return out


def summary(type_name: str, data: dict[str, Any]) -> str:
    """`key=value` pairs of the event's fields, catalog order first, for one table line."""
    spec = catalog.get(type_name)
    pairs = _flatten(data)
    if spec:  # the catalog's order puts the identifying field first (service, agent.name, ...)
        order = {f.name: i for i, f in enumerate(spec.fields)}
        pairs.sort(key=lambda kv: order.get(kv[0], len(order)))
    parts: list[str] = []
    for name, value in pairs[:SUMMARY_FIELDS]:
        if isinstance(value, list):
            parts.append(f"{name}=[{len(value)}]")
        elif isinstance(value, dict):
            parts.append(f"{name}={{{len(value)}}}")
        else:
            parts.append(f"{name}={_scalar(value)}")
    return " ".join(parts)


def clock_time(ts: float, *, millis: bool = True) -> str:
    """Local wall-clock time of day, as the table shows it."""
    base = time.strftime("%H:%M:%S", time.localtime(ts))
    return f"{base}.{int(ts % 1 * 1000):03d}" if millis else base


def full_time(ts: float | None) -> str:
    if not ts:
        return "-"
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(ts)) + f".{int(ts % 1 * 1000):03d}"


def ago(ts: float | None, now: float) -> str:
    if not ts:
        return "never"
    delta = max(0.0, now - ts)
    if delta < 60:
        return f"{delta:.0f}s ago"
    if delta < 3600:
        return f"{delta / 60:.0f}m ago"
    if delta < 86400:
        return f"{delta / 3600:.1f}h ago"
    return f"{delta / 86400:.1f}d ago"


def duration_ms(ms: float | None) -> str:
    if ms is None:
        return "-"
    if ms < 1:
        return f"{ms * 1000:.0f}µs"
    if ms < 1000:
        return f"{ms:.1f}ms"
    return f"{ms / 1000:.2f}s"


def count(n: float) -> str:
    """Compact counts for narrow columns: 999, 1.2k, 3.4M."""
    if n < 1000:
        return f"{n:.0f}" if float(n).is_integer() else f"{n:.1f}"
    if n < 1_000_000:
        return f"{n / 1000:.1f}k"
    return f"{n / 1_000_000:.1f}M"


def size(n: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if n < 1024 or unit == "TiB":
            return f"{n:.0f}{unit}" if unit == "B" or n >= 10 else f"{n:.1f}{unit}"
        n /= 1024
    return f"{n:.1f}TiB"


def pretty_json(value: Any) -> str:
    return json.dumps(value, indent=2, ensure_ascii=False, default=str)
