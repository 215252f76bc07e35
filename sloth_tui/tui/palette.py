"""The command palette (ctrl+p): Textual's, with the races below closed.

Found by the monkey test (tests/tui/test_monkey.py) on Textual 8.2; each crashed the app:

- both clicks of a double click on an option, queued before the first is handled, select
  it twice: the second dismiss() popped the screen *below* the palette (ScreenStackError
  once that was the last one);
- PageUp/PageDown while the option list is being rebuilt (just opened, or a letter typed a
  moment before) read line indexes that are not laid out yet: KeyError in
  OptionList._move_page;
- ctrl+p while a dismissed palette is still being removed pushed a second one with the
  same fixed id: DuplicateIds '--command-palette';
- a palette closed (or the app quit) right after it opened: its first search ran on a
  palette whose widgets were gone (NoMatches 'CommandList' in a worker);
- a letter typed, then escape: a search under way refreshed its list after the palette's
  widgets were gone, and the watchers of that refresh looked for them (NoMatches again);
- its option list's own races (page keys, clicks on a list rebuilt since it was drawn):
  its list is a SafeCommandList (tui/widgets/safe_option_list.py).
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from functools import partial
from typing import Any

from textual import work
from textual.app import ComposeResult
from textual.await_complete import AwaitComplete
from textual.command import CommandList, CommandPalette

from sloth_tui.tui.screens.base import StaleMapGuard
from sloth_tui.tui.widgets.safe_option_list import SafeCommandList


class SlothPalette(StaleMapGuard, CommandPalette):
    def __init__(self, **kwargs: Any) -> None:
        # No fixed id: a new palette must not collide with one still being removed.
        super().__init__(**kwargs)
        self._dismissed = False

    def compose(self) -> ComposeResult:
        # Textual's layout, with the list swapped for the guarded one in the same place.
        for widget in super().compose():
            yield SafeCommandList() if type(widget) is CommandList else widget

    def dismiss(self, result: None = None) -> AwaitComplete:
        if self._dismissed:  # a second selection of the same gesture: nothing to close
            return AwaitComplete()
        self._dismissed = True
        return super().dismiss(result)

    def _action_command_list(self, action: str) -> None:
        # While the list is rebuilt a page key has nothing to page through yet; it does
        # what it does on an empty list: nothing.
        with contextlib.suppress(KeyError):
            super()._action_command_list(action)

    @property
    def _list_gone(self) -> bool:
        """The palette is being removed: its widgets went first, its search and the
        watchers that search sets off may still run. They have nothing to update."""
        return not self.query(CommandList)

    def _watch__list_visible(self) -> None:
        if not self._list_gone:
            super()._watch__list_visible()

    async def _watch__show_busy(self) -> None:
        if not self._list_gone:
            await super()._watch__show_busy()

    @work(exclusive=True, group=CommandPalette._GATHER_COMMANDS_GROUP)
    async def _gather_commands(self, search_value: str) -> None:
        if self._list_gone:
            return
        # Textual's search, undecorated: its first step finds the list with no await
        # between this check and it.
        await CommandPalette._gather_commands.__wrapped__(self, search_value)  # type: ignore[attr-defined]


def saved_filter_commands(app: Any) -> list[tuple[str, Callable[[], object], str]]:
    """`Filter: NAME` for each filter saved under [filters] in config.toml: (name,
    callback, help) as tui/commands.py lists its commands. Applying re-parses the text,
    so an age (`since:1h`) counts from the moment it is chosen."""
    try:
        saved = app.engine.settings.filters
    except (AssertionError, AttributeError):  # no engine yet
        return []
    return [(f"Filter: {name}", partial(app.apply_filter, text), text) for name, text in saved]
