"""Races in Textual that the monkey test (or an operator) found, each driven directly: the
command palette's (sloth_tui/tui/palette.py), a click into a widget removed since the last
frame (StaleMapGuard in sloth_tui/tui/screens/base.py), and keys typed after `q`
(SlothApp.on_event)."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from textual import events
from textual.command import CommandList, CommandPalette, Hit, Hits, Provider
from textual.widgets.option_list import Option
from tui_helpers import wait_for

from sloth_tui.config import Settings
from sloth_tui.tui.screens.events import EventsScreen
from sloth_tui.tui.screens.fire import FireScreen

SIZE = (100, 30)


async def open_palette(pilot: Any) -> CommandPalette:
    await pilot.press("ctrl+p")
    await wait_for(pilot, lambda: isinstance(pilot.app.screen, CommandPalette))
    return pilot.app.screen  # type: ignore[no-any-return]


async def test_a_selection_made_twice_closes_the_palette_once(
    settings: Settings, make_app: Any
) -> None:
    """Both clicks of a double click, queued before the first is handled, select twice."""
    app = make_app(settings)
    ran: list[str] = []
    async with app.run_test(size=SIZE) as pilot:
        palette = await open_palette(pilot)
        palette._selected_command = Hit(1.0, "x", lambda: ran.append("x"), "x")
        palette._list_visible = False
        palette._select_or_command()
        palette._select_or_command()  # the second click of the double click
        await wait_for(pilot, lambda: isinstance(app.screen, EventsScreen) and ran)
        assert len(app.screen_stack) == 1


async def test_page_keys_while_the_list_is_rebuilt(settings: Settings, make_app: Any) -> None:
    app = make_app(settings)
    async with app.run_test(size=SIZE) as pilot:
        palette = await open_palette(pilot)
        commands = palette.query_one(CommandList)
        palette._list_visible = False  # as before the first hits arrive: no size to lay out
        await pilot.pause()
        assert not commands.scrollable_content_region
        commands.add_options([Option(f"option {i}") for i in range(40)])
        commands.highlighted = 30  # its lines are not laid out yet
        palette._action_command_list("page_up")
        palette._action_command_list("page_down")
        await pilot.pause()
        assert app.is_running and app._exception is None


async def test_ctrl_p_while_a_palette_is_being_removed(settings: Settings, make_app: Any) -> None:
    app = make_app(settings)
    async with app.run_test(size=SIZE) as pilot:
        first = await open_palette(pilot)
        first.dismiss()
        app.action_command_palette()  # before the first one is gone from the DOM
        await wait_for(pilot, lambda: isinstance(app.screen, CommandPalette))
        assert app.screen is not first
        await pilot.press("escape")
        await wait_for(pilot, lambda: isinstance(app.screen, EventsScreen))


async def test_a_click_on_a_widget_removed_since_the_last_frame(
    settings: Settings, make_app: Any
) -> None:
    """The fire dialog rebuilds its fields when the type changes; a click landing before
    the next frame began a text selection in a detached widget (AttributeError)."""
    app = make_app(settings)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("F")
        await wait_for(pilot, lambda: isinstance(app.screen, FireScreen))
        screen = app.screen
        await screen._set_type("deploy.failed")
        await pilot.pause()
        row = screen.query(".field-row").first()
        field = row.query_one("Input")
        await wait_for(pilot, lambda: field.region.width > 0)
        x, y = field.region.x + 1, field.region.y
        await row.remove()  # the screen's map still places it until the next frame
        at = (screen, x, y, 0, 0, 1, False, False, False, x, y)
        screen._forward_event(events.MouseDown(*at))
        screen._forward_event(events.MouseUp(*at))
        await pilot.pause()
        assert app.is_running and app._exception is None


async def test_page_keys_on_a_list_not_laid_out_yet(settings: Settings, make_app: Any) -> None:
    """The event detail's child list appears with its options in one go: a page key before
    the first layout read line indexes not computed yet (KeyError)."""
    from textual.app import App, ComposeResult

    from sloth_tui.tui.widgets.safe_option_list import SafeOptionList

    class Lists(App[None]):
        def compose(self) -> ComposeResult:
            yield SafeOptionList(id="safe")

    app = Lists()
    async with app.run_test(size=SIZE) as pilot:
        options = app.query_one(SafeOptionList)
        options.display = False
        await pilot.pause()
        options.add_options([Option(f"child {i}") for i in range(30)])
        options.display = True
        options.highlighted = 0
        options.action_page_down()  # before the next layout
        options.action_page_up()
        await pilot.pause()
        assert app.is_running


async def test_every_palette_is_the_safe_one(settings: Settings, make_app: Any) -> None:
    """Textual's "Change theme" and search_commands pushed a plain CommandPalette, with
    the races above open again (the monkey hit the page-key one that way)."""
    from sloth_tui.tui.palette import SlothPalette

    app = make_app(settings)
    async with app.run_test(size=SIZE) as pilot:
        app.search_themes()
        await wait_for(pilot, lambda: isinstance(app.screen, CommandPalette))
        assert isinstance(app.screen, SlothPalette)
        await pilot.press("escape")
        await wait_for(pilot, lambda: isinstance(app.screen, EventsScreen))
        app.search_commands([("Say hi", lambda: None)])
        await wait_for(pilot, lambda: isinstance(app.screen, CommandPalette))
        assert isinstance(app.screen, SlothPalette)


async def test_a_click_on_an_option_the_list_no_longer_has(
    settings: Settings, make_app: Any
) -> None:
    """The palette refilters on every key; a click names the option by its index in the
    frame drawn before, which can be past the end of the rebuilt list (IndexError)."""
    from rich.style import Style

    from sloth_tui.tui.widgets.safe_option_list import SafeCommandList

    app = make_app(settings)
    async with app.run_test(size=SIZE) as pilot:
        palette = await open_palette(pilot)
        commands = palette.query_one(CommandList)
        assert isinstance(commands, SafeCommandList)
        stale = Style(meta={"option": commands.option_count + 5})
        click = events.Click(commands, 1, 1, 0, 0, 1, False, False, False, style=stale)
        commands.post_message(click)  # dispatched as a real one: every class's handler
        await pilot.pause()
        assert app.is_running and app._exception is None


async def test_a_search_that_lands_after_the_palette_lost_its_list(
    settings: Settings, make_app: Any
) -> None:
    """A letter typed, then escape: the palette's widgets go before its search worker
    ends, and the search's last refresh found no CommandList (NoMatches, in a worker,
    on CI). Here the list goes while a slow provider holds the search."""
    release = asyncio.Event()
    searching = asyncio.Event()

    class Slow(Provider):
        async def search(self, query: str) -> Hits:
            searching.set()
            await release.wait()
            yield Hit(1.0, f"slow {query}", lambda: None, "slow")

    app = make_app(settings)
    app.COMMANDS = app.COMMANDS | {Slow}
    async with app.run_test(size=SIZE) as pilot:
        palette = await open_palette(pilot)
        await pilot.press("s")
        await wait_for(pilot, searching.is_set)
        palette._list_visible = False  # so that the search's refresh toggles it back
        await palette.query_one(CommandList).remove()  # as the palette is torn down
        gathering = [w for w in app.workers if w.node is palette]
        assert gathering
        release.set()
        await app.workers.wait_for_complete(gathering)
        await pilot.pause()
        assert app.is_running and app._exception is None


@pytest.mark.parametrize("keys", ["qt", "qF", "q2", "q3", "q4", "q5", "q6", "qn", "q?"])
async def test_keys_typed_after_q_close_the_app_cleanly(
    settings: Settings, make_app: Any, keys: str
) -> None:
    """Typed ahead (or a burst over SSH): both keys are queued before `q` is handled, so
    the second still opened a screen as the app closed (its on_mount found none of its
    widgets: NoMatches), or met an empty screen stack (ScreenStackError); the dashboard
    died on its way out, with a crash log."""
    app = make_app(settings)
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: isinstance(app.screen, EventsScreen))
        for key in keys:
            app.post_message(events.Key(key, key))
        # Both are queued; the test's end must not tear the app down before `q` is
        # handled (run_test's shutdown skips exit(): test_a_key_after_textuals_own_...).
        for _ in range(1000):
            if app.return_code is not None:
                break
            await asyncio.sleep(0.01)
    assert app.return_code == 0 and app.crash_message is None, app.crash_message


async def test_a_key_after_textuals_own_shutdown_is_dropped(
    settings: Settings, make_app: Any
) -> None:
    """Textual tears down without exit() too (run_test's end; seen in CI as `qF`: the `F`
    met the emptied stack before `q` set `closing`). A key then is dropped, not a
    ScreenStackError."""
    app = make_app(settings)
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: isinstance(app.screen, EventsScreen))
    assert not app.closing and not app.screen_stack  # torn down, exit() never called
    await app.on_event(events.Key("F", "F"))
    await app.on_event(events.Key("q", "q"))
