"""The dashboard's screens, declared once.

The app's MODES, the keys that switch screens, the top bar's tabs, the palette's "Open"
commands, the help screen and the README's key table are all derived from `SCREENS` (and
`PLACES` for the screens opened on top of them). A new screen is one line here.

This is the one module that imports the screen classes: `tui/app.py` takes them from here,
and the screens never import the app at import time (they reach it through
`screens/base.py` and `tui/reach.py`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from textual.binding import Binding
from textual.screen import Screen
from textual.widget import Widget

from sloth_tui.tui.screens.base import LiveScreen
from sloth_tui.tui.screens.catalog import CatalogScreen
from sloth_tui.tui.screens.detail import DetailScreen
from sloth_tui.tui.screens.events import EventsScreen
from sloth_tui.tui.screens.execution_detail import ExecutionDetailScreen
from sloth_tui.tui.screens.executions import ExecutionsScreen
from sloth_tui.tui.screens.fire import FireScreen
from sloth_tui.tui.screens.fleet import FleetScreen
from sloth_tui.tui.screens.help import HelpScreen
from sloth_tui.tui.screens.hook_editor import HookEditorScreen
from sloth_tui.tui.screens.hooks import HooksScreen
from sloth_tui.tui.screens.replay import ReplayScreen
from sloth_tui.tui.screens.sources import SourcesScreen
from sloth_tui.tui.screens.stats import StatsScreen
from sloth_tui.tui.screens.trace import TraceScreen
from sloth_tui.tui.widgets.event_table import EventTable
from sloth_tui.tui.widgets.filter_bar import FilterBar

# The app opens these itself (help, detail, fire) or asks them (an unsaved hook editor):
# re-exported so app.py imports no screen module.
__all__ = [
    "PLACES",
    "SCREENS",
    "DetailScreen",
    "EventsScreen",
    "FireScreen",
    "HelpScreen",
    "HookEditorScreen",
    "Place",
    "ScreenSpec",
    "mode_binding",
    "mode_binding_id",
]


@dataclass(frozen=True, slots=True)
class Place:
    """A screen opened on top of a mode (a detail, an editor, a dialog): a help section."""

    title: str
    screen: type[Screen[Any]]
    widgets: tuple[type[Widget], ...] = ()  # whose own keys work there too (help lists them)


@dataclass(frozen=True, slots=True)
class ScreenSpec:
    """One mode of the app: the key that shows it, its tab, its class, its help sections."""

    key: str  # the default key (a [keymap] entry `screen.<mode>` rebinds it)
    mode: str  # the App.MODES name, and the binding id's tail
    title: str  # the help's heading and the palette's "Open <title>"
    screen: type[LiveScreen]
    blurb: str  # what the key does, in the help and the README
    tab: str = ""  # the top bar's label when it must be shorter than the title
    widgets: tuple[type[Widget], ...] = ()
    opens: tuple[Place, ...] = ()  # screens opened from this one, listed after it in the help

    @property
    def tab_label(self) -> str:
        return self.tab or self.title


SCREENS: tuple[ScreenSpec, ...] = (
    ScreenSpec("1", "events", "Events", EventsScreen, "the Events screen",
               widgets=(EventTable, FilterBar),
               opens=(Place("Event detail", DetailScreen), Place("Trace", TraceScreen))),
    ScreenSpec("2", "hooks", "Hooks", HooksScreen, "the Hooks screen",
               opens=(Place("Hook editor", HookEditorScreen), Place("Replay", ReplayScreen))),
    ScreenSpec("3", "executions", "Executions", ExecutionsScreen,
               "the Executions screen (hook runs)", tab="Execs",
               opens=(Place("Execution detail", ExecutionDetailScreen),)),
    ScreenSpec("4", "stats", "Stats", StatsScreen, "the Stats screen"),
    ScreenSpec("5", "catalog", "Catalog", CatalogScreen, "the Catalog screen"),
    ScreenSpec("6", "sources", "Sources", SourcesScreen, "the Sources screen (producers)"),
    ScreenSpec("7", "fleet", "Fleet", FleetScreen, "the Fleet screen (engines on NATS)"),
)  # fmt: skip

# Reached from every mode, listed after the modes in the help.
PLACES: tuple[Place, ...] = (Place("Fire dialog", FireScreen),)


def mode_binding_id(mode: str) -> str:
    return f"screen.{mode}"


def mode_binding(spec: ScreenSpec) -> Binding:
    """The app's key for one mode: `1` shows Events, and so on."""
    return Binding(
        spec.key,
        f"show({spec.mode!r})",
        spec.title,
        show=False,
        id=mode_binding_id(spec.mode),
        tooltip=spec.blurb,
    )
