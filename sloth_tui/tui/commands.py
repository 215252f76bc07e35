"""The command palette (ctrl+p): fire a type, open a screen, switch theme, pause, filter.

Command names hold theme names from the user's theme files, and help the filter texts of
config.toml: names are matched and highlighted as plain text (Textual's
`Matcher.highlight` parses its candidate as markup), and help, which the palette reads as
markup, is escaped after its control characters are made printable."""

from __future__ import annotations

from collections.abc import Callable
from functools import partial

from textual.command import DiscoveryHit, Hit, Hits, Provider
from textual.content import Content
from textual.fuzzy import Matcher
from textual.markup import escape

from sloth_tui import catalog
from sloth_tui.tui import format as fmt
from sloth_tui.tui.palette import saved_filter_commands
from sloth_tui.tui.screen_specs import mode_binding_id


def highlight(matcher: Matcher, candidate: str) -> Content:
    """`matcher.highlight`, without reading `candidate` as markup."""
    shown = fmt.printable(candidate)  # one character for one: the offsets still fit
    content = Content(shown)
    _score, offsets = matcher.fuzzy_search.match(matcher.query, candidate)
    for offset in offsets:
        if not shown[offset].isspace():
            content = content.stylize(matcher.match_style, offset, offset + 1)
    return content


def help_markup(text: str) -> str:
    """Help text as the palette's markup shows it: as typed, with no terminal control."""
    return escape(fmt.printable(text))


class SlothCommands(Provider):
    def _commands(self) -> list[tuple[str, Callable[[], object], str]]:
        from sloth_tui.tui.app import SlothApp  # late: app.py imports this module

        app = self.app
        if not isinstance(app, SlothApp):
            return []
        cmds: list[tuple[str, Callable[[], object], str]] = []
        for spec in app.SCREEN_SPECS:
            key = app.key_for(mode_binding_id(spec.mode))
            cmds.append((f"Open {spec.title}", partial(app.action_show, spec.mode), f"key {key}"))
        pause = f"key {app.key_for('events.pause')}"
        cmds.append(("Pause / resume the event stream", app.action_toggle_pause, pause))
        cmds.append(("Clear the event filter", partial(app.apply_filter, ""), "escape"))
        cmds += saved_filter_commands(app)  # [filters] in config.toml
        for name in sorted(app.available_themes):
            if name.startswith("sloth") or name in app.user_themes:
                cmds.append((f"Theme: {name}", partial(app.set_theme, name), "switch theme"))
        cmds.append(("Fire an event…", app.action_fire, f"key {app.key_for('app.fire')}"))
        for spec_type in catalog.types(extensions=True):
            cmds.append(
                (
                    f"Fire {spec_type.type}",
                    partial(app.open_fire, spec_type.type),
                    spec_type.description,
                )
            )
        cmds.append(("Help: keys", app.action_help, f"key {app.key_for('app.help')}"))
        return cmds

    async def discover(self) -> Hits:
        for name, callback, help_text in self._commands():
            if not name.startswith("Fire ") or name == "Fire an event…":
                yield DiscoveryHit(
                    Content(fmt.printable(name)), callback, text=name, help=help_markup(help_text)
                )

    async def search(self, query: str) -> Hits:
        matcher = self.matcher(query)
        for name, callback, help_text in self._commands():
            score = matcher.match(name)
            if score > 0:
                yield Hit(
                    score,
                    highlight(matcher, name),
                    callback,
                    text=name,
                    help=help_markup(help_text),
                )
