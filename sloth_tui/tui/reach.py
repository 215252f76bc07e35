"""How a screen or widget reaches the dashboard app, typed, without importing it.

`tui/app.py` imports every screen (through `screen_specs.py`) and the screens import the
widgets, so neither may import the app at import time. The app inherits `DashboardHost`
instead, and `engine_of(self)` / `host_of(self)` find it from any node through Textual's
`node.app`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, NamedTuple, Protocol

if TYPE_CHECKING:
    from textual.screen import Screen

    from sloth_tui.engine.api import EngineAPI


class Tab(NamedTuple):
    """One screen tab of the top bar: the key that shows it (as the keymap has it)."""

    key: str
    mode: str
    label: str


class DashboardHost:
    """What the dashboard app provides to its screens and widgets."""

    engine_labels: tuple[str, ...] = ()  # which engine this is, longest first (the top bar)

    @property
    def engine(self) -> EngineAPI:
        raise NotImplementedError

    def screen_tabs(self) -> Sequence[Tab]:
        """The top bar's tabs, in order."""
        raise NotImplementedError

    def pulse_text(self) -> str:
        """The live figures at the top right: rate, newest id, drops."""
        raise NotImplementedError

    def mode_of(self, screen: Screen[Any]) -> str:
        """The mode `screen` is the base of; "" for a detail, an editor or a dialog."""
        raise NotImplementedError


class InApp(Protocol):
    """A Textual node, or a mixin of one (screens/base.py's LiveMixin)."""

    @property
    def app(self) -> Any: ...


class NoDashboard(LookupError):
    """The node runs in an app that is not the dashboard (a test harness, say)."""


def host_of(node: InApp) -> DashboardHost:
    """The dashboard app `node` runs in."""
    app = node.app
    if not isinstance(app, DashboardHost):
        raise NoDashboard(f"{type(node).__name__} runs in {type(app).__name__}, not the dashboard")
    return app


def engine_of(node: InApp) -> EngineAPI:
    """The engine of the dashboard `node` runs in (local or attached: the same API)."""
    return host_of(node).engine
