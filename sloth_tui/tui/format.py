"""Text shaping shared by the screens: one-line summaries, times, durations, numbers,
and the one rule for text from outside (event data, hook names, logs, errors, paths):
it is shown as text, never parsed as markup, and no control character in it reaches
the terminal (`plain`, `printable`, `notify`, `pretty_json`).
"""

from __future__ import annotations

import difflib
import json
import re
import time
from typing import TYPE_CHECKING, Any, Protocol

from sloth_tui import catalog
from sloth_tui.catalog import TYPO_RATIO, unknown_type_warning
from sloth_tui.tui.widgets.table_fit import plain, printable

if TYPE_CHECKING:
    from textual.notifications import SeverityLevel

__all__ = ["plain", "printable"]  # re-exported: screens import the rule from here

SUMMARY_FIELDS = 6
VALUE_WIDTH = 40
# Left raw by json.dumps(ensure_ascii=False): DEL, C1 controls, bidi overrides / isolates,
# lone surrogates. Written as \uXXXX escapes they stay valid, equal JSON.
_JSON_UNSAFE = re.compile("[\x7f-\x9f\u202a-\u202e\u2066-\u2069\ud800-\udfff]")


class _Notifier(Protocol):
    def notify(
        self,
        message: str,
        *,
        title: str = ...,
        severity: SeverityLevel = ...,
        timeout: float | None = ...,
        markup: bool = ...,
    ) -> None: ...


def notify(
    node: _Notifier,
    message: str,
    *,
    title: str = "",
    severity: SeverityLevel = "information",
    timeout: float | None = None,
) -> None:
    """A toast whose message and title are plain text (notify() reads markup by default)."""
    node.notify(
        printable(message, lines=True),
        title=printable(title),
        severity=severity,
        timeout=timeout,
        markup=False,
    )


def _scalar(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return "null"
    if isinstance(value, float):
        return f"{value:g}"
    return _clip(str(value))


def _clip(text: str) -> str:
    text = printable(text.replace("\n", " "))
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
    """`key=value` pairs of the event's fields, catalog order first, for one table line
    (printable: keys and values are the producer's)."""
    spec = catalog.get(type_name)
    pairs = _flatten(data)
    if spec:  # the catalog's order puts the identifying field first (service, agent.name, ...)
        order = {f.name: i for i, f in enumerate(spec.fields)}
        pairs.sort(key=lambda kv: order.get(kv[0], len(order)))
    parts: list[str] = []
    for key, value in pairs[:SUMMARY_FIELDS]:
        name = _clip(key)
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
    """Indented JSON, readable (no ASCII escapes) yet printable: every control character,
    bidi override and lone surrogate is a \\uXXXX escape, so the text is equal JSON."""
    text = json.dumps(value, indent=2, ensure_ascii=False, default=str)
    return _JSON_UNSAFE.sub(lambda m: f"\\u{ord(m.group()):04x}", text)


def typo_warning(type_name: str) -> str | None:
    """For a type the catalog lacks but spells nearly so, what the engine (and so the CLI)
    says: `unknown type deploy.faild: did you mean deploy.failed?`; None otherwise."""
    name = type_name.strip()
    if not name or name == "custom" or catalog.get(name) is not None:
        return None
    warning = unknown_type_warning(name)  # a catalog category: the engine's own words
    if warning is not None:
        return warning if "did you mean" in warning else None
    scored = [
        (difflib.SequenceMatcher(None, name, known).ratio(), known)
        for known in catalog.closest_types(name)
    ]
    best = max((score for score, _ in scored), default=0.0)
    if best < TYPO_RATIO:
        return None
    close = [known for score, known in scored if score >= best - 0.1]
    guess = close[0] if len(close) == 1 else f"{', '.join(close[:-1])} or {close[-1]}"
    return f"unknown type {printable(name)}: did you mean {guess}?"


def run_name(hook: str, event_id: int | None, dry_run: bool = False) -> str:
    """A hook run in a sentence: "the run of H on event 42". A test-fire's dry run on a
    sample has no stored event (its event_id is 0): say so, not "on event 0"."""
    if not event_id:  # only a test-fire runs without a stored event
        return f"the dry run of {hook} (on a sample, no stored event)"
    return f"the {'dry run' if dry_run else 'run'} of {hook} on event {event_id}"
