"""A hook's policies: when it runs, how often, how many at once, and when it gives up.

Stored with the hook (hooks.policy, JSON; NULL for none) and set by `hook add`/`hook
update` flags, by the dashboard editor's settings panel and by the socket's
update_hook. Checked here once, by `HookPolicy.from_dict` and the `parse_*` helpers, so
every door refuses the same values with the same one-line message (PolicyError).

- when: a condition in the filter language (`service=payments !src:demo`). Terms that
  depend on the moment or the run (since, until, status, hook, id) are refused: a
  condition is about the event alone.
- retry: at most `attempts` retries after the first run, `delay` seconds before the
  first and each next delay times `backoff`. Runs that end in error or timeout are
  retried; `failed` ones too when `on_failed`.
- mode: parallel (default), queued (one at a time, in order), single (a run while one is
  active is skipped) or restart (a new run cancels the active one). Per value of `key`
  (a data path, `data.service`) when a key is set, else per hook.
- throttle: at most `count` runs per `window` seconds (per key value with a key).
- dedupe: one run per key value per `window` seconds (per hook without a key).
- auto_disable: after this many failures in a row the hook is disabled, with the reason.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from typing import Any

from sloth_tui.model.errors import HookError
from sloth_tui.model.filters import MAX_AGE, Filter, FilterError, Term, parse_age, parse_filter

MODES: tuple[str, ...] = ("parallel", "queued", "single", "restart")
# Why a run happened: what every execution records (executions.trigger).
TRIGGERS: tuple[str, ...] = ("event", "rerun", "retry", "recovery", "test")

# Caps: past them a value is a typo, or a way to fill the store.
MAX_ATTEMPTS = 10
MAX_DELAY = 3600.0  # seconds before one retry
MAX_BACKOFF = 10.0
MAX_WINDOW = 7 * 86400.0  # seconds of a throttle or dedupe window
MAX_COUNT = 1_000_000  # throttle runs per window; auto_disable failures
MAX_WHEN = 1000  # characters of a condition
MAX_KEY = 200  # characters of a key path
# Filter terms a condition may not use: they depend on the moment or on the run.
REFUSED_TERMS = {
    "since": "since: is about the moment, not the event",
    "until": "until: is about the moment, not the event",
    "status": "status: is the run's outcome, not known before it",
    "hook": "hook: is about runs, not the event",
    "id": "id: names one event; a condition is for many",
}
MISSING_KEY = "(missing)"  # the key value of an event without the key's path


class PolicyError(HookError):
    """A policy value refused: the message names the setting and says what is allowed."""


@dataclass(frozen=True, slots=True)
class Retry:
    attempts: int  # retries after the first run, 1..MAX_ATTEMPTS
    delay: float = 1.0  # seconds before the first retry
    backoff: float = 2.0  # each next delay is the previous one times this
    on_failed: bool = False  # retry runs that returned failure too (not only error/timeout)

    def delay_before(self, attempt: int) -> float:
        """Seconds to wait before run number `attempt` (2 = the first retry)."""
        return min(MAX_DELAY, self.delay * self.backoff ** max(0, attempt - 2))

    def retries(self, status: str) -> bool:
        """Whether a run that ended with `status` is one to retry."""
        return status in ("error", "timeout") or (self.on_failed and status == "failed")


@dataclass(frozen=True, slots=True)
class Throttle:
    count: int  # runs at most ...
    window: float  # ... per this many seconds


@dataclass(frozen=True, slots=True)
class HookPolicy:
    when: str = ""  # "" = every event the patterns match
    mode: str = "parallel"
    key: str = ""  # "data.service": mode, throttle and dedupe per value; "" = per hook
    retry: Retry | None = None
    throttle: Throttle | None = None
    dedupe: float | None = None  # window in seconds
    auto_disable: int | None = None  # failures in a row
    # The parsed condition (None for ""): parsed once, on creation.
    condition: Filter | None = field(default=None, compare=False, repr=False)

    def __post_init__(self) -> None:
        check_mode(self.mode)
        check_key(self.key)
        if self.condition is None and self.when:
            object.__setattr__(self, "condition", parse_when(self.when))

    @property
    def is_default(self) -> bool:
        """No policy at all: the hook runs as hooks always did (the fast path)."""
        return self == NO_POLICY

    @property
    def gated(self) -> bool:
        """Something decides, per run, whether it runs now: mode, throttle or dedupe."""
        return self.mode != "parallel" or self.throttle is not None or self.dedupe is not None

    def failing_term(self, event: Any) -> Term | None:
        """The first term of the condition this event fails; None when it holds."""
        if self.condition is None:
            return None
        for term in self.condition.terms:
            if not term.matches(event):
                return term
        return None

    def key_value(self, event: Any) -> str:
        """The value of `key` on this event as text ("" without a key; MISSING_KEY
        when the event has no such path): what mode, throttle and dedupe count per."""
        if not self.key:
            return ""
        current: Any = event.data
        for part in self.key.split(".")[1:]:
            if not isinstance(current, dict) or part not in current:
                return MISSING_KEY
            current = current[part]
        if isinstance(current, str):
            return current
        return json.dumps(current, sort_keys=True, separators=(",", ":"), default=str)

    def to_dict(self) -> dict[str, Any]:
        """The settings that differ from the defaults (JSON; {} for none)."""
        out: dict[str, Any] = {}
        if self.when:
            out["when"] = self.when
        if self.mode != "parallel":
            out["mode"] = self.mode
        if self.key:
            out["key"] = self.key
        if self.retry is not None:
            r = self.retry
            out["retry"] = {
                "attempts": r.attempts,
                "delay": r.delay,
                "backoff": r.backoff,
                "on_failed": r.on_failed,
            }
        if self.throttle is not None:
            out["throttle"] = {"count": self.throttle.count, "window": self.throttle.window}
        if self.dedupe is not None:
            out["dedupe"] = self.dedupe
        if self.auto_disable is not None:
            out["auto_disable"] = self.auto_disable
        return out

    @classmethod
    def from_dict(cls, d: Any) -> HookPolicy:
        """Checked: PolicyError (one line) for an unknown setting or a bad value."""
        if d is None:
            return NO_POLICY
        if not isinstance(d, dict):
            raise PolicyError(f"a hook's policy is a table of settings, not {_kind(d)}")
        unknown = sorted(set(d) - {"when", "mode", "key", "retry", "throttle", "dedupe",
                                   "auto_disable"})  # fmt: skip
        if unknown:
            raise PolicyError(
                f"unknown policy setting {_shown(str(unknown[0]))} (use when, mode, key, "
                "retry, throttle, dedupe or auto_disable)"
            )
        when = d.get("when") or ""
        if not isinstance(when, str):
            raise PolicyError(f"when: a condition is text, not {_kind(when)}")
        mode = d.get("mode") or "parallel"
        if not isinstance(mode, str):
            raise PolicyError(f"mode: one of {', '.join(MODES)}, not {_kind(mode)}")
        key = d.get("key") or ""
        if not isinstance(key, str):
            raise PolicyError(f"key: a data path like data.service, not {_kind(key)}")
        retry = d.get("retry")
        if retry is not None:
            if not isinstance(retry, dict):
                raise PolicyError(f"retry: a table (attempts, delay, backoff), not {_kind(retry)}")
            retry = make_retry(
                retry.get("attempts"),
                retry.get("delay", 1.0),
                retry.get("backoff", 2.0),
                retry.get("on_failed", False),
            )
        throttle = d.get("throttle")
        if throttle is not None:
            if not isinstance(throttle, dict):
                raise PolicyError(f"throttle: a table (count, window), not {_kind(throttle)}")
            throttle = make_throttle(throttle.get("count"), throttle.get("window"))
        dedupe = d.get("dedupe")
        if dedupe is not None:
            dedupe = check_window("dedupe", dedupe)
        auto = d.get("auto_disable")
        if auto is not None:
            auto = check_count("auto_disable", auto)
        return cls(when, mode, key, retry, throttle, dedupe, auto)

    def describe(self) -> list[str]:
        """One short line per setting, for `hook show`, the Hooks screen and explain."""
        lines = []
        per = f" per {self.key}" if self.key else ""
        if self.when:
            lines.append(f"when {self.when}")
        if self.mode != "parallel":
            lines.append(f"mode {self.mode}{per}")
        if self.retry is not None:
            r = self.retry
            also = ", failed too" if r.on_failed else ""
            lines.append(
                f"retry {r.attempts}x after {format_seconds(r.delay)}, x{r.backoff:g}{also}"
            )
        if self.throttle is not None:
            t = self.throttle
            lines.append(f"throttle {t.count}/{format_seconds(t.window)}{per}")
        if self.dedupe is not None:
            lines.append(f"dedupe {format_seconds(self.dedupe)}{per}")
        if self.auto_disable is not None:
            lines.append(f"auto-disable after {self.auto_disable} failures in a row")
        return lines


# -- checks, shared by from_dict and the command line ------------------------------------


def parse_when(text: str) -> Filter | None:
    """A condition, parsed: None for ""; PolicyError naming the bad term."""
    if not text.strip():
        return None
    if len(text) > MAX_WHEN:
        raise PolicyError(f"when: a condition is at most {MAX_WHEN} characters")
    try:
        flt = parse_filter(text)
    except FilterError as exc:
        raise PolicyError(f"when: {exc}") from None
    for term in flt.terms:
        if term.kind in REFUSED_TERMS:
            raise PolicyError(f"when: {REFUSED_TERMS[term.kind]}")
    return flt


def check_mode(mode: str) -> str:
    if mode not in MODES:
        raise PolicyError(f"mode: {_shown(mode)} is not a mode (one of: {', '.join(MODES)})")
    return mode


def check_key(key: str) -> str:
    """A data path: `data.` then one or more names (`data.service`, `data.task.name`)."""
    if not key:
        return key
    if len(key) > MAX_KEY:
        raise PolicyError(f"key: a data path is at most {MAX_KEY} characters")
    parts = key.split(".")
    if parts[0] != "data" or len(parts) < 2 or not all(parts[1:]):
        raise PolicyError(f"key: {_shown(key)} is not a data path (like data.service)")
    if any(c.isspace() or not c.isprintable() for c in key):
        raise PolicyError(f"key: {_shown(key)} has spaces or control characters")
    return key


def _number(name: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise PolicyError(f"{name}: a number, not {_kind(value)}")
    if not math.isfinite(value):
        raise PolicyError(f"{name}: a finite number, not {value}")
    return float(value)


def check_count(name: str, value: Any) -> int:
    number = _number(name, value)
    if number != int(number) or not 1 <= number <= MAX_COUNT:
        raise PolicyError(f"{name}: a whole number from 1 to {MAX_COUNT}, not {value:g}")
    return int(number)


def check_window(name: str, value: Any) -> float:
    """Seconds, or an age like `10m`: more than 0, at most MAX_WINDOW."""
    seconds = parse_seconds(name, value)
    if not 0 < seconds <= MAX_WINDOW:
        raise PolicyError(f"{name}: a window from 1ms to 7d, not {format_seconds(seconds)}")
    return seconds


def parse_seconds(name: str, value: Any) -> float:
    """A number of seconds, or text: `30`, `1.5`, `10m`, `1h30m`."""
    if isinstance(value, str):
        text = value.strip()
        try:
            return _number(name, float(text))
        except ValueError:
            pass
        if text.endswith("ms"):  # what format_seconds writes below a second
            try:
                return _number(name, float(text[:-2]) / 1000)
            except ValueError:
                pass
        age = parse_age(text)
        if age is None or age > MAX_AGE:
            raise PolicyError(f"{name}: {_shown(text)} is not a duration (30, 1.5s, 10m, 2h)")
        return age
    return _number(name, value)


def make_retry(
    attempts: Any, delay: Any = 1.0, backoff: Any = 2.0, on_failed: Any = False
) -> Retry:
    if attempts is None:
        raise PolicyError("retry: attempts is missing (retries after the first run, 1 to 10)")
    n = _number("retry attempts", attempts)
    if n != int(n) or not 1 <= n <= MAX_ATTEMPTS:
        raise PolicyError(f"retry attempts: a whole number from 1 to {MAX_ATTEMPTS}, not {n:g}")
    seconds = parse_seconds("retry delay", delay)
    if not 0 <= seconds <= MAX_DELAY:
        raise PolicyError(f"retry delay: from 0 to 1h, not {format_seconds(seconds)}")
    factor = _number("retry backoff", backoff)
    if not 1 <= factor <= MAX_BACKOFF:
        raise PolicyError(f"retry backoff: a factor from 1 to {MAX_BACKOFF:g}, not {factor:g}")
    if not isinstance(on_failed, bool):
        raise PolicyError(f"retry on_failed: true or false, not {_kind(on_failed)}")
    return Retry(int(n), seconds, factor, on_failed)


def make_throttle(count: Any, window: Any) -> Throttle:
    if count is None or window is None:
        raise PolicyError("throttle: needs count and window (5/1m: 5 runs per minute)")
    return Throttle(check_count("throttle count", count), check_window("throttle window", window))


def parse_throttle(text: str) -> Throttle | None:
    """`5/1m` (5 runs per minute); `off` or "" for none."""
    text = text.strip()
    if text in ("", "off", "none"):
        return None
    count, slash, window = text.partition("/")
    if not slash:
        raise PolicyError(f"throttle: {_shown(text)} is not COUNT/WINDOW (5/1m)")
    try:
        n: Any = int(count)
    except ValueError:
        raise PolicyError(f"throttle: {_shown(count)} is not a whole number") from None
    return make_throttle(n, window)


def format_seconds(seconds: float) -> str:
    """30s, 1m, 1m30s, 2h, 1.5s, 250ms: the short form the flags take."""
    if 0 < seconds < 1:
        return f"{seconds * 1000:g}ms"
    if seconds != int(seconds) or seconds < 60:
        return f"{seconds:g}s"
    whole = int(seconds)
    out = ""
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60), ("s", 1)):
        if whole >= size:
            out += f"{whole // size}{unit}"
            whole %= size
    return out


NO_POLICY = HookPolicy()


def _kind(value: Any) -> str:
    return {dict: "a table", list: "a list", str: "text", bool: "true/false"}.get(
        type(value), type(value).__name__
    )


def _shown(text: str, limit: int = 40) -> str:
    """Outside text in a message: quoted, escaped, cut."""
    shown = repr(text[:limit])
    return shown + ("…" if len(text) > limit else "")
