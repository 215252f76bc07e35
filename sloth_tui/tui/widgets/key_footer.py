"""The key line at the bottom of every screen: Textual's Footer, rebuilt only on change.

Textual's Footer recomposes (one FooterKey widget per key, each styled on mount) every
time the screen's bindings may have changed: each focus move, each refresh of the
bindings. Opening an event's detail moved focus and refreshed bindings four times, so
it built the same ten keys four times over, about half of the 230 ms the open took
(`bench --scale`, tui_detail_open_ms). This footer keeps what it last built and skips a
rebuild that would show the same keys.
"""

from __future__ import annotations

from collections.abc import Hashable

from textual.app import ComposeResult
from textual.widgets import Footer
from textual.widgets._footer import FooterKey


class KeyFooter(Footer):
    """A Footer whose recompose is a no-op while the keys it would show are unchanged."""

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
        yield from built

    async def recompose(self) -> None:
        if self.is_attached and self._built is not None and self.shown_keys() == self._built:
            return
        await super().recompose()
