"""An OptionList whose page keys cannot crash it.

Textual 8.2's OptionList pages through line indexes it lays out only once it has a size:
PageUp/PageDown between options arriving and the first layout (the event detail shows its
child list the moment children load) raised KeyError in OptionList._move_page. Until the
list has a size there is no page to move by, so the keys do nothing, as on an empty list.
"""

from __future__ import annotations

from textual.widgets import OptionList


class SafeOptionList(OptionList):
    def action_page_up(self) -> None:
        if self.scrollable_content_region:
            super().action_page_up()

    def action_page_down(self) -> None:
        if self.scrollable_content_region:
            super().action_page_down()
