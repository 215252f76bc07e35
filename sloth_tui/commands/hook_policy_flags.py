"""`hook add`/`hook update` flags for a hook's policies (model/policy.py): when, mode,
key, retry, throttle, dedupe, auto-disable.

The flags change the hook's current policy: a flag left out keeps its setting, an
"off" value (`--when ""`, `--retry 0`, `--throttle off`, ...) clears it. Every value
goes through model/policy.py's checks, the ones the socket and the editor use, so a
refusal reads the same everywhere; here it becomes a usage error naming the flag.
Sloth Runner's `hook add` has none of these flags: they are sloth-tui's additions.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any, TypeVar

import click

from sloth_tui.model.policy import (
    MAX_ATTEMPTS,
    MODES,
    NO_POLICY,
    HookPolicy,
    PolicyError,
    Retry,
    check_count,
    check_key,
    check_window,
    make_retry,
    parse_throttle,
    parse_when,
)

F = TypeVar("F", bound=Callable[..., Any])

OFF = ("off", "none", "")  # --throttle/--dedupe values that clear the setting

# (flag, parameter name, click options): one table so add and update take the same flags.
_FLAGS: tuple[tuple[str, str, dict[str, Any]], ...] = (
    (
        "--when",
        "when",
        {
            "metavar": "CONDITION",
            "help": "Run only on events that pass this condition, in the filter bar's "
            "language: 'service=payments !src:demo' (every term must hold). \"\" clears it.",
        },
    ),
    (
        "--mode",
        "mode",
        {
            "type": click.Choice(MODES),
            "help": "What a run does while another run of the hook (of the same --key "
            "value) is under way: parallel runs it too (the default), queued waits its "
            "turn, single skips it (recorded as skipped), restart cancels the older run.",
        },
    ),
    (
        "--key",
        "key",
        {
            "metavar": "data.PATH",
            "help": "A data path such as data.service: --mode, --throttle and --dedupe then "
            'count per value of it rather than per hook. "" clears it.',
        },
    ),
    (
        "--retry",
        "retry",
        {
            "type": click.IntRange(0, MAX_ATTEMPTS),
            "metavar": "N",
            "help": f"Retry a run that ends in error or timeout up to N times (1 to "
            f"{MAX_ATTEMPTS}), each retry its own execution. 0 clears it.",
        },
    ),
    (
        "--retry-delay",
        "retry_delay",
        {
            "metavar": "DURATION",
            "help": "Wait before the first retry: seconds or 30s, 10m (from 0 to 1h; "
            "default 1s, or the hook's current delay).",
        },
    ),
    (
        "--retry-backoff",
        "retry_backoff",
        {
            "type": float,
            "metavar": "FACTOR",
            "help": "Each next retry waits this many times longer than the one before "
            "(1 to 10; default 2, or the hook's current factor).",
        },
    ),
    (
        "--retry-on-failed/--no-retry-on-failed",
        "retry_on_failed",
        {
            "default": None,
            "help": "Also retry runs that returned failure (not only error and timeout).",
        },
    ),
    (
        "--throttle",
        "throttle",
        {
            "metavar": "COUNT/WINDOW",
            "help": "At most COUNT runs per WINDOW (5/1m: five a minute; per --key value "
            "with a key); the rest are recorded as skipped. off clears it.",
        },
    ),
    (
        "--dedupe",
        "dedupe",
        {
            "metavar": "DURATION",
            "help": "One run per --key value (per hook without a key) per DURATION (10m); "
            "the rest are recorded as skipped. off clears it.",
        },
    ),
    (
        "--auto-disable",
        "auto_disable",
        {
            "type": click.IntRange(0, None),
            "metavar": "N",
            "help": "Disable the hook after N failed runs in a row, saying why (hook show; "
            "hook enable clears it). 0 clears it.",
        },
    ),
)


def policy_options(command: F) -> F:
    """Add every policy flag to a click command (parameters named as in PolicyFlags)."""
    for flag, name, options in reversed(_FLAGS):
        command = click.option(flag, name, **{"default": None, **options})(command)
    return command


@dataclass(frozen=True, slots=True)
class PolicyFlags:
    """The policy flags as given; None: the flag was left out."""

    when: str | None = None
    mode: str | None = None
    key: str | None = None
    retry: int | None = None
    retry_delay: str | None = None
    retry_backoff: float | None = None
    retry_on_failed: bool | None = None
    throttle: str | None = None
    dedupe: str | None = None
    auto_disable: int | None = None

    @classmethod
    def pop_from(cls, params: dict[str, Any]) -> PolicyFlags:
        """Take the policy flags out of a command's keyword arguments."""
        return cls(**{name: params.pop(name, None) for _flag, name, _opts in _FLAGS})

    @property
    def given(self) -> bool:
        return any(getattr(self, name) is not None for _flag, name, _opts in _FLAGS)

    def apply(self, base: HookPolicy = NO_POLICY) -> HookPolicy:
        """`base` changed by the flags; click.BadParameter naming the flag on a bad value."""
        changes: dict[str, Any] = {}
        with _blame("--when"):
            if self.when is not None:
                parse_when(self.when)
                changes["when"] = self.when.strip()
        if self.mode is not None:
            changes["mode"] = self.mode
        with _blame("--key"):
            if self.key is not None:
                changes["key"] = check_key(self.key.strip())
        changes["retry"] = self._retry(base.retry)
        with _blame("--throttle"):
            if self.throttle is not None:
                changes["throttle"] = parse_throttle(self.throttle)
        with _blame("--dedupe"):
            if self.dedupe is not None:
                text = self.dedupe.strip()
                changes["dedupe"] = None if text in OFF else check_window("dedupe", text)
        with _blame("--auto-disable"):
            if self.auto_disable is not None:
                changes["auto_disable"] = (
                    None
                    if self.auto_disable == 0
                    else check_count("auto_disable", self.auto_disable)
                )
        # A new condition is parsed anew (condition=None): replace() would keep the old one.
        return replace(base, condition=None, **changes)

    def _retry(self, current: Retry | None) -> Retry | None:
        detail = {
            "--retry-delay": self.retry_delay,
            "--retry-backoff": self.retry_backoff,
            "--retry-on-failed": self.retry_on_failed,
        }
        given = [flag for flag, value in detail.items() if value is not None]
        if self.retry == 0:
            if given:
                raise click.BadParameter(
                    f"--retry 0 clears the retry: {given[0]} has nothing to set",
                    param_hint="--retry",
                )
            return None
        if self.retry is None and current is None:
            if given:
                raise click.BadParameter(
                    "the hook has no retry: give --retry N too", param_hint=given[0]
                )
            return None
        if self.retry is None and not given:
            return current
        base = current or Retry(1)
        with _blame("--retry"):
            return make_retry(
                self.retry if self.retry is not None else base.attempts,
                self.retry_delay.strip() if self.retry_delay is not None else base.delay,
                self.retry_backoff if self.retry_backoff is not None else base.backoff,
                self.retry_on_failed if self.retry_on_failed is not None else base.on_failed,
            )


class _blame:
    """Turn a PolicyError into a usage error naming the flag (exit 2, one line)."""

    def __init__(self, flag: str) -> None:
        self.flag = flag

    def __enter__(self) -> None:
        return None

    def __exit__(self, kind: object, exc: BaseException | None, tb: object) -> None:
        if isinstance(exc, PolicyError):
            message = str(exc)
            flag = self.flag
            if flag == "--retry":  # one check covers the three flags: its message says which
                for part in ("delay", "backoff"):
                    if message.startswith(f"retry {part}"):
                        flag = f"--retry-{part}"
            raise click.BadParameter(message, param_hint=flag) from None
