"""The command palette (ctrl+p): fire a type, open a screen, switch theme, pause, filter."""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import TYPE_CHECKING

from textual.command import DiscoveryHit, Hit, Hits, Provider

from sloth_tui import catalog
from sloth_tui.tui.widgets.top_bar import SCREENS

if TYPE_CHECKING:
    from sloth_tui.tui.app import SlothApp


class SlothCommands(Provider):
    def _commands(self) -> list[tuple[str, Callable[[], object], str]]:
        app: SlothApp = self.app  # type: ignore[assignment]
        cmds: list[tuple[str, Callable[[], object], str]] = []
        for key, mode, label in SCREENS:
            cmds.append((f"Open {label}", partial(app.action_show, mode), f"key {key}"))
        cmds.append(("Pause / resume the event stream", app.action_toggle_pause, "key p"))
        cmds.append(("Clear the event filter", partial(app.apply_filter, ""), "escape"))
        for name in sorted(app.available_themes):
            if name.startswith("sloth") or name in app.user_themes:
                cmds.append((f"Theme: {name}", partial(app.set_theme, name), "switch theme"))
        cmds.append(("Fire an event…", app.action_fire, "key F"))
        for spec in catalog.types():
            cmds.append((f"Fire {spec.type}", partial(app.open_fire, spec.type), spec.description))
        cmds.append(("Help: keys", app.action_help, "key ?"))
        return cmds

    async def discover(self) -> Hits:
        for name, callback, help_text in self._commands():
            if not name.startswith("Fire ") or name == "Fire an event…":
                yield DiscoveryHit(name, callback, help=help_text)

    async def search(self, query: str) -> Hits:
        matcher = self.matcher(query)
        for name, callback, help_text in self._commands():
            score = matcher.match(name)
            if score > 0:
                yield Hit(score, matcher.highlight(name), callback, help=help_text)
