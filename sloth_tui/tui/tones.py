"""Status colours from the theme: one place that says how a status, a log level or a
success rate looks.

Rich Text cannot name Textual's theme variables, so `tones_of(node)` reads the resolved
`$success`, `$error`, `$warning` and `$accent` of the app's current theme and gives rich
Styles. A widget that keeps a built Text repaints it on the app's `theme_changed_signal`
(`on_theme_change`); the event table has component classes instead (app.tcss).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Protocol

from rich.style import Style
from textual.color import Color, ColorParseError
from textual.dom import DOMNode
from textual.theme import Theme

MUTED = Style(dim=True)  # not a colour: dims whatever the theme's text colour is


def _color(variables: Mapping[str, str], name: str) -> str | None:
    try:
        return Color.parse(variables[name]).hex
    except (KeyError, ColorParseError):
        return None  # e.g. a bare App before its first stylesheet: the text colour stays


@dataclass(frozen=True, slots=True)
class Tones:
    ok: Style  # $success: a run that worked, a completed event
    bad: Style  # $error: failed
    warn: Style  # $warning: timeouts, warnings, pending events
    note: Style  # $accent: dry runs, events a hook dispatches, processing
    muted: Style = MUTED  # skipped runs, debug logs

    @classmethod
    def from_variables(cls, variables: Mapping[str, str]) -> Tones:
        return _tones(
            tuple(_color(variables, n) for n in ("success", "error", "warning", "accent"))
        )

    def run(self, status: str) -> Style:
        """An execution status (model.records.EXEC_STATUSES)."""
        return {
            "success": self.ok,
            "failed": self.bad,
            "error": self.bad + Style(bold=True),  # the hook broke, not just said no
            "timeout": self.warn + Style(bold=True),
            "skipped": self.muted,
        }.get(status, self.warn)

    def event(self, status: str) -> Style:
        """An event status: pending, processing, completed, failed."""
        return {
            "pending": self.warn,
            "processing": self.note,
            "completed": self.ok,
            "failed": self.bad + Style(bold=True),
        }.get(status, self.warn)

    def level(self, level: str) -> Style:
        """A hook's log level."""
        return {
            "debug": self.muted,
            "info": Style(),
            "warn": self.warn,
            "error": self.bad + Style(bold=True),
        }.get(level, Style())

    def rate(self, rate: float | None) -> Style:
        """A success rate: fine from 95 %, bad below 80 %."""
        if rate is None or rate >= 0.95:
            return self.ok
        return self.bad if rate < 0.8 else self.warn

    def http(self, status: object) -> Style:
        """An HTTP status a hook got back."""
        return self.ok if isinstance(status, int) and 200 <= status < 300 else self.bad


@lru_cache(maxsize=16)
def _tones(colors: tuple[str | None, ...]) -> Tones:
    ok, bad, warn, note = (Style(color=c) if c else Style() for c in colors)
    return Tones(ok=ok, bad=bad, warn=warn, note=note)


class _InApp(Protocol):
    @property
    def app(self) -> Any: ...


def tones_of(node: _InApp) -> Tones:
    """The tones of the theme `node`'s app shows now."""
    variables = getattr(node.app, "theme_variables", None) or {}
    return Tones.from_variables(variables)


def theme_tones(theme: Theme) -> Tones:
    """The tones a theme gives (its variables resolved as the app resolves them)."""
    return Tones.from_variables(theme.to_color_system().generate())


def on_theme_change(node: DOMNode, repaint: Callable[[], None]) -> None:
    """Call `repaint` after each theme switch while `node` is mounted (call in on_mount)."""

    def changed(_theme: Theme) -> None:
        repaint()  # Textual resolves the new variables before it signals the change

    node.app.theme_changed_signal.subscribe(node, changed)
