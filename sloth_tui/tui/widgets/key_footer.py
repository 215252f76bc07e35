"""The key line at the bottom of every screen: Textual's Footer, rebuilt only on change.

Textual's Footer recomposes (one FooterKey widget per key, each styled on mount) every
time the screen's bindings may have changed: each focus move, each refresh of the
bindings. Opening an event's detail moved focus and refreshed bindings four times, so
it built the same ten keys four times over, about half of the 230 ms the open took
(`bench --scale`, tui_detail_open_ms). This footer keeps what it last built and skips a
rebuild that would show the same keys.

It also keeps the help key in sight. Textual lays the keys out left to right and cuts
what does not fit, so on a narrow terminal (60 columns) `? Help`, one of the last keys,
was the first to go: the one key that lists all the others. Here it sits at the right
end, beside the palette key, where the cut never reaches.
"""

from __future__ import annotations

from collections.abc import Hashable

from textual.app import ComposeResult
from textual.containers import HorizontalGroup
from textual.widget import Widget
from textual.widgets import Footer
from textual.widgets._footer import FooterKey

PINNED_ACTIONS = frozenset({"help"})  # keys kept in sight at any width


class KeyFooter(Footer):
    """A Footer whose recompose is a no-op while the keys it would show are unchanged,
    with the help key pinned to the right beside the palette key."""

    DEFAULT_CSS = """
    KeyFooter {
        #pinned-keys {
            dock: right;
            width: auto;
            border-left: vkey $foreground 20%;
        }
        #pinned-keys FooterKey.-command-palette {
            dock: none;
            border-left: none;
        }
    }
    """

    _built: Hashable | None = None  # the keys of the last compose that built any

    def shown_keys(self) -> Hashable:
        """Everything Footer.compose reads, as one comparable value."""
        app = self.app
        keys = tuple(
            (
                binding.key,
                app.get_key_display(binding),
                binding.description,
                binding.action,
                binding.group,
                enabled,
                tooltip,
            )
            for (_node, binding, enabled, tooltip) in self.screen.active_bindings.values()
            if binding.show
        )
        return keys, self.show_command_palette, self.compact

    def compose(self) -> ComposeResult:
        built = list(super().compose())
        # Footer composes nothing until the screen's bindings are ready: not a result to
        # keep, or the first real rebuild would look like no change.
        self._built = self.shown_keys() if built else None
        for widget in built:
            # A FooterKey starts compact and is then bound to the footer's setting: two
            # class changes, each restyling the key on mount (about 1.5 ms a key, ten keys
            # a screen). Starting it at the footer's setting shows the same. The palette
            # key is not bound (it stays compact): left as it is.
            if isinstance(widget, FooterKey) and not widget.has_class("-command-palette"):
                widget.set_reactive(FooterKey.compact, self.compact)
                widget.set_class(self.compact, "-compact", update=False)
        yield from pin_right(built)

    async def recompose(self) -> None:
        if self.is_attached and self._built is not None and self.shown_keys() == self._built:
            return
        await super().recompose()


def pin_right(keys: list[Widget]) -> list[Widget]:
    """The keys in their order, those of PINNED_ACTIONS and the palette key moved into
    one group docked on the right (a second right-docked widget would overlap the first)."""
    pinned: list[Widget] = []
    rest: list[Widget] = []
    for key in keys:
        pin = isinstance(key, FooterKey) and (
            key.action in PINNED_ACTIONS or key.has_class("-command-palette")
        )
        (pinned if pin else rest).append(key)
    return [*rest, HorizontalGroup(*pinned, id="pinned-keys")] if pinned else rest
