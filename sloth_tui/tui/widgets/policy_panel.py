"""Beside the code in the hook editor: the hook's policies (when, mode, key, retry,
throttle, dedupe, auto-disable), each field checked as it is typed.

Every field is read by model/policy.py's own checks (parse_when, check_mode, check_key,
make_retry, parse_throttle, check_window, check_count), so the panel refuses exactly
what `hook update` and the socket refuse, with the same one-line message. The message
shows under its field (the condition's as the filter bar shows a filter's), and
`read_policy` raises the first one, which blocks the editor's save.

Typed text is data: errors quote it through `format.plain`, never as markup.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.containers import Horizontal, VerticalScroll
from textual.message import Message
from textual.suggester import SuggestFromList
from textual.widgets import Checkbox, Input, Static

from sloth_tui.model.policy import (
    MODES,
    HookPolicy,
    PolicyError,
    Retry,
    check_count,
    check_key,
    check_mode,
    check_window,
    make_retry,
    parse_throttle,
    parse_when,
)
from sloth_tui.model.records import Hook
from sloth_tui.tui import format as fmt
from sloth_tui.tui.tones import tones_of

# What a field accepts from typing or a paste: no control character, bidi override or
# lone surrogate (an Input draws its value as it is, so one would reach the terminal); a
# paste holding one is refused whole. Length is left to the checks, which say the limit.
PRINTABLE_ONLY = "[^\x00-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069\ud800-\udfff]*"


@dataclass(frozen=True, slots=True)
class Field:
    id: str  # the Input's id: pp-<name>
    label: str
    placeholder: str  # says what the field takes (an empty field is off or the default)


FIELDS: tuple[Field, ...] = (
    Field("pp-when", "when", "a filter: service=payments !src:demo"),
    Field("pp-mode", "mode", "parallel, queued, single, restart"),
    Field("pp-key", "key", "data.service: limits per value"),
    Field("pp-attempts", "retry", "retries after error/timeout, 1-10 (off)"),
    Field("pp-delay", "  delay", "before the 1st retry: 1s"),
    Field("pp-backoff", "  backoff", "each next delay times 2"),
    Field("pp-throttle", "throttle", "COUNT/WINDOW runs: 5/1m (off)"),
    Field("pp-dedupe", "dedupe", "10m: 1 run per key value (off)"),
    Field("pp-auto", "auto-off", "after N failures in a row (off)"),
)


def _seconds_text(seconds: float) -> str:
    """A duration as the fields take it back: `30s`, `10m`, `1h30m`, or a plain number
    below a minute's whole units (format_seconds writes `250ms`, which no parser reads)."""
    if seconds != int(seconds) or seconds < 60:
        return f"{seconds:g}"
    whole, out = int(seconds), ""
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60), ("s", 1)):
        if whole >= size:
            out += f"{whole // size}{unit}"
            whole %= size
    return out


def _number(name: str, text: str, *, whole: bool) -> float:
    """Typed text as a number for the model's checks; PolicyError naming the setting."""
    try:
        return int(text) if whole and text.lstrip("+-").isdigit() else float(text)
    except ValueError:
        kind = "a whole number" if whole else "a number"
        raise PolicyError(f"{name}: {text[:40]!r} is not {kind}") from None


def policy_texts(policy: HookPolicy) -> dict[str, str]:
    """Field id -> the text that shows `policy` (and reads back to it)."""
    retry, throttle = policy.retry, policy.throttle
    return {
        "pp-when": policy.when,
        "pp-mode": "" if policy.mode == "parallel" else policy.mode,
        "pp-key": policy.key,
        "pp-attempts": str(retry.attempts) if retry else "",
        "pp-delay": _seconds_text(retry.delay) if retry and retry.delay != 1.0 else "",
        "pp-backoff": f"{retry.backoff:g}" if retry and retry.backoff != 2.0 else "",
        "pp-throttle": f"{throttle.count}/{_seconds_text(throttle.window)}" if throttle else "",
        "pp-dedupe": _seconds_text(policy.dedupe) if policy.dedupe is not None else "",
        "pp-auto": str(policy.auto_disable) if policy.auto_disable is not None else "",
    }


def _retry(attempts: str, delay: str, backoff: str, on_failed: bool) -> Retry | None:
    if _off(attempts):
        if delay or backoff or on_failed:
            return make_retry(None)  # "retry: attempts is missing (...)"
        return None
    return make_retry(
        _number("retry attempts", attempts, whole=True),
        delay or 1.0,
        _number("retry backoff", backoff, whole=False) if backoff else 2.0,
        on_failed,
    )


def _off(text: str) -> bool:
    return text.lower() in ("", "off", "none")


def _dedupe(text: str) -> float | None:
    return None if _off(text) else check_window("dedupe", text)


def _auto(text: str) -> int | None:
    return (
        None
        if _off(text)
        else check_count("auto_disable", _number("auto_disable", text, whole=True))
    )


def build_policy(texts: dict[str, str], on_failed: bool) -> HookPolicy:
    """The fields' texts as a HookPolicy; PolicyError (one line) for the first bad one,
    in the order the panel shows them."""
    t = {k: v.strip() for k, v in texts.items()}
    parse_when(t["pp-when"])
    mode = check_mode(t["pp-mode"] or "parallel")
    key = check_key(t["pp-key"])
    retry = _retry(t["pp-attempts"], t["pp-delay"], t["pp-backoff"], on_failed)
    throttle = parse_throttle(t["pp-throttle"])
    return HookPolicy(
        when=t["pp-when"],
        mode=mode,
        key=key,
        retry=retry,
        throttle=throttle,
        dedupe=_dedupe(t["pp-dedupe"]),
        auto_disable=_auto(t["pp-auto"]),
    )


# Each field's own check, so an error shows under the field that has it.
_CHECKS: dict[str, Callable[[dict[str, str], bool], Any]] = {
    "pp-when": lambda t, _f: parse_when(t["pp-when"]),
    "pp-mode": lambda t, _f: check_mode(t["pp-mode"] or "parallel"),
    "pp-key": lambda t, _f: check_key(t["pp-key"]),
    "pp-attempts": lambda t, f: _retry(t["pp-attempts"], t["pp-delay"], t["pp-backoff"], f),
    "pp-throttle": lambda t, _f: parse_throttle(t["pp-throttle"]),
    "pp-dedupe": lambda t, _f: _dedupe(t["pp-dedupe"]),
    "pp-auto": lambda t, _f: _auto(t["pp-auto"]),
}
# The retry row's fields are checked together: an error in any shows under attempts.
_CHECKED_BY = {
    "pp-delay": "pp-attempts",
    "pp-backoff": "pp-attempts",
    "pp-on-failed": "pp-attempts",
}


class PolicyPanel(VerticalScroll):
    """The settings of one hook. `read_policy()` is what ctrl+s saves with the code.
    Posts `Edited` after each change, so the editor can say the hook is modified."""

    class Edited(Message):
        pass

    def __init__(self, hook: Hook, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.hook = hook
        self.saved: HookPolicy = hook.policy  # what the engine has; dirty = the fields differ
        self.errors: dict[str, str] = {}  # field id -> its one-line error

    def compose(self) -> ComposeResult:
        yield Static("Settings", classes="wb-pane-title")
        yield Static(
            "ctrl+t shows the test-fire panel · ctrl+s saves these with the code · "
            "empty = off/default",
            id="pp-keys",
            markup=False,
        )
        yield Static("", id="pp-disabled")
        for f in FIELDS:
            with Horizontal(classes="pp-row"):
                yield Static(f.label, classes="pp-label", markup=False)
                suggester = SuggestFromList(MODES) if f.id == "pp-mode" else None
                yield Input(
                    placeholder=f.placeholder,
                    id=f.id,
                    compact=True,
                    restrict=PRINTABLE_ONLY,
                    suggester=suggester,
                )
            if f.id == "pp-backoff":
                yield Checkbox("retry failed runs too", id="pp-on-failed", compact=True)
            if f.id not in _CHECKED_BY:
                yield Static("", id=f"{f.id}-error", classes="pp-error", markup=False)

    def on_mount(self) -> None:
        self.show_hook(self.hook, fields=True)

    # -- the fields ------------------------------------------------------------------------

    def texts(self) -> dict[str, str]:
        return {f.id: self.query_one(f"#{f.id}", Input).value for f in FIELDS}

    @property
    def on_failed(self) -> bool:
        return self.query_one("#pp-on-failed", Checkbox).value

    def set_policy(self, policy: HookPolicy) -> None:
        """Fill the fields with `policy`, as the engine has it."""
        self.saved = policy
        for field_id, text in policy_texts(policy).items():
            box = self.query_one(f"#{field_id}", Input)
            with box.prevent(Input.Changed):
                box.value = text
        checkbox = self.query_one("#pp-on-failed", Checkbox)
        with checkbox.prevent(Checkbox.Changed):
            checkbox.value = policy.retry is not None and policy.retry.on_failed
        self.errors.clear()
        for field_id in _CHECKS:
            self._show(field_id, None)

    def show_hook(self, hook: Hook, *, fields: bool) -> None:
        """A new record of the hook: its disabled reason always; its settings into the
        fields only when asked (not over the operator's unsaved typing)."""
        self.hook = hook
        if fields:
            self.set_policy(hook.policy)
        reason = self.query_one("#pp-disabled", Static)
        if hook.disabled_reason:
            warn = tones_of(self).warn
            reason.update(fmt.plain(f"⚠ disabled: {hook.disabled_reason}", warn, lines=True))
        elif not hook.enabled:
            reason.update(fmt.plain("disabled (hook enable turns it back on)", "dim"))
        else:
            reason.update("")
        reason.display = bool(hook.disabled_reason) or not hook.enabled

    @property
    def dirty(self) -> bool:
        """The fields differ from the saved policy (an invalid field counts as a change)."""
        try:
            return self.read_policy() != self.saved
        except PolicyError:
            return True

    def read_policy(self) -> HookPolicy:
        """The policy the fields say; PolicyError with the first field's one-line message."""
        return build_policy(self.texts(), self.on_failed)

    @on(Input.Changed)
    def _changed(self, event: Input.Changed) -> None:
        event.stop()
        if event.input.id:
            self.check(_CHECKED_BY.get(event.input.id, event.input.id))
        self.post_message(self.Edited())

    @on(Checkbox.Changed, "#pp-on-failed")
    def _checked(self, event: Checkbox.Changed) -> None:
        event.stop()
        self.check("pp-attempts")
        self.post_message(self.Edited())

    def check(self, field_id: str) -> str | None:
        """Check one field as typed; show its error under it (None when it is fine)."""
        texts = {k: v.strip() for k, v in self.texts().items()}
        try:
            _CHECKS[field_id](texts, self.on_failed)
        except PolicyError as exc:
            self._show(field_id, str(exc))
            return str(exc)
        self._show(field_id, None)
        return None

    def check_all(self) -> str | None:
        """Check every field (errors under each); the first error, or None."""
        found = [e for e in (self.check(field_id) for field_id in _CHECKS) if e]
        return found[0] if found else None

    def _show(self, field_id: str, error: str | None) -> None:
        if error is None:
            self.errors.pop(field_id, None)
        else:
            self.errors[field_id] = error
        line = self.query_one(f"#{field_id}-error", Static)
        line.set_class(error is not None, "-error")
        line.update(Text("✗ ") + fmt.plain(error) if error else "")
