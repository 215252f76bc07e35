"""Option lists whose page keys and clicks cannot crash them (Textual 8.2 races).

- Page keys: OptionList pages through line indexes it lays out only once it has a size.
  PageUp/PageDown between options arriving and the first layout (the event detail shows
  its child list the moment children load) raised KeyError in OptionList._move_page.
  Until the list has a size there is no page to move by: the keys do nothing.
- Clicks: a click names the option by its index in the frame drawn before it. When the
  list was rebuilt in between (the palette refilters on every key), the index can be past
  the end: IndexError in OptionList's click handler. Such a click lands on nothing.
"""

from __future__ import annotations

from textual import events
from textual.command import CommandList
from textual.widgets import OptionList


class _Guards(OptionList):
    # OptionList's page actions carry no annotations (Textual 8.2): hence the ignores.
    def action_page_up(self) -> None:
        if self.scrollable_content_region:
            super().action_page_up()  # type: ignore[no-untyped-call]

    def action_page_down(self) -> None:
        if self.scrollable_content_region:
            super().action_page_down()  # type: ignore[no-untyped-call]

    def on_click(self, event: events.Click) -> None:
        # Textual calls one handler per class along the MRO: OptionList's runs after this
        # one unless the default is prevented, so this only stops the stale click.
        option = event.style.meta.get("option")
        if isinstance(option, int) and not 0 <= option < self.option_count:
            event.prevent_default()  # drawn before the list was rebuilt: points at nothing


class SafeOptionList(_Guards):
    pass


class SafeCommandList(CommandList, _Guards, can_focus=False):
    """The palette's list (sloth_tui/tui/palette.py puts it in place of Textual's).

    CommandList first: Textual's CSS and queries follow the first base only."""
