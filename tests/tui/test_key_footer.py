"""The key line (tui/widgets/key_footer.py): rebuilt when its keys change, and only then."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from textual.app import ComposeResult
from textual.widgets import Footer
from textual.widgets._footer import FooterKey
from tui_helpers import screen_text, wait_for

from sloth_tui.config import load_settings
from sloth_tui.engine.engine import Engine
from sloth_tui.tui.app import SlothApp
from sloth_tui.tui.screens.detail import DetailScreen
from sloth_tui.tui.screens.events import EventsScreen
from sloth_tui.tui.widgets.key_footer import KeyFooter


def footer_keys(app: SlothApp) -> list[str]:
    return [key.key for key in app.screen.query(FooterKey)]


@pytest.fixture
def keys_built(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[int]]:
    """The number of keys each Footer.compose built, in order (a compose before the
    screen's bindings are ready builds none, and costs nothing)."""
    built: list[int] = []
    compose = Footer.compose

    def counting(self: Footer) -> ComposeResult:
        children = list(compose(self))
        if keys := sum(isinstance(c, FooterKey) for c in children):
            built.append(keys)
        yield from children

    monkeypatch.setattr(Footer, "compose", counting)
    yield built


async def test_the_key_line_follows_the_focus(
    engine: Engine, make_app: Callable[..., SlothApp]
) -> None:
    await engine.dispatch("deploy.started", {"service": "api"}, source="test")
    app = make_app(engine)
    async with app.run_test(size=(200, 40)) as pilot:
        await wait_for(pilot, lambda: isinstance(app.screen, EventsScreen))
        await wait_for(pilot, lambda: "enter" in footer_keys(app))
        assert isinstance(app.screen.query_one(Footer), KeyFooter)
        table_keys = footer_keys(app)
        assert {"enter", "slash", "question_mark", "q"} <= set(table_keys)
        # The filter bar's keys while it has the focus, the table's again after it.
        await pilot.press("slash")
        await wait_for(pilot, lambda: "enter" not in footer_keys(app))
        assert "slash" in footer_keys(app)
        await pilot.press("escape")
        await wait_for(pilot, lambda: footer_keys(app) == table_keys)


async def test_opening_a_detail_builds_its_keys_once(
    engine: Engine, make_app: Callable[..., SlothApp], keys_built: list[int]
) -> None:
    await engine.dispatch("deploy.started", {"service": "api"}, source="test")
    app = make_app(engine)
    async with app.run_test(size=(200, 40)) as pilot:
        await wait_for(pilot, lambda: isinstance(app.screen, EventsScreen))
        screen = app.screen
        assert isinstance(screen, EventsScreen)
        await wait_for(pilot, lambda: screen.table.painted_max_id > 0)
        screen.table.focus()
        await wait_for(pilot, lambda: "enter" in footer_keys(app))
        keys_built.clear()
        await pilot.press("enter")
        await wait_for(
            pilot, lambda: isinstance(app.screen, DetailScreen) and app.screen.event is not None
        )
        await wait_for(pilot, lambda: "R" in footer_keys(app))
        await pilot.pause()
        # Its focus moves twice and its bindings refresh on the way (Textual's Footer built
        # the same keys four times over): one build, of the keys it shows.
        shown = footer_keys(app)
        assert keys_built == [len(shown)]
        # Back on the events: their key line is still there, not rebuilt.
        await pilot.press("escape")
        await wait_for(pilot, lambda: isinstance(app.screen, EventsScreen))
        await wait_for(pilot, lambda: "enter" in footer_keys(app))
        assert keys_built == [len(shown)]


async def test_a_keymap_key_shows_in_the_key_line_as_typed(
    tmp_path: Path, make_app: Callable[..., SlothApp]
) -> None:
    """A [keymap] key that is markup to Rich (`[`) shows on the key line as typed, and works."""
    (tmp_path / "home").mkdir()
    (tmp_path / "home" / "config.toml").write_text('[keymap]\n"app.fire" = "left_square_bracket"\n')
    engine = await Engine.open(load_settings(tmp_path / "home"), lifecycle=True)
    try:
        app = make_app(engine)
        async with app.run_test(size=(200, 40)) as pilot:
            await wait_for(pilot, lambda: "left_square_bracket" in footer_keys(app))
            await wait_for(pilot, lambda: "[ Fire" in screen_text(app).splitlines()[-1])
            await pilot.press("left_square_bracket")
            await wait_for(pilot, lambda: type(app.screen).__name__ == "FireScreen")
    finally:
        await engine.close(reason="test finished")


async def test_keys_start_in_the_footers_style(
    engine: Engine, make_app: Callable[..., SlothApp], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A FooterKey started compact and was then bound to the footer's setting (not
    compact): each key's class went on and off again, a restyle each time. Built by
    KeyFooter, the keys start as they end: never compact, and the line reads the same
    (the snapshots). The palette key is not bound, and stays compact as in Textual."""
    compact_keys: list[str] = []
    watch = FooterKey._watch_compact

    def recording(self: FooterKey, compact: bool) -> None:
        if compact and not self.has_class("-command-palette"):
            compact_keys.append(self.key)
        watch(self, compact)

    monkeypatch.setattr(FooterKey, "_watch_compact", recording)
    app = make_app(engine)
    async with app.run_test(size=(200, 40)) as pilot:
        await wait_for(pilot, lambda: "enter" in footer_keys(app))
        # The keys are mounted before they are drawn (CI once read an empty line here).
        await wait_for(pilot, lambda: "Detail" in screen_text(app).splitlines()[-1])
        line = screen_text(app).splitlines()[-1]
        assert " ⏎ Detail " in line, line  # not compact: a space around each key
        keys = [k for k in app.screen.query(FooterKey) if not k.has_class("-command-palette")]
        assert keys and not any(k.compact or k.has_class("-compact") for k in keys)
        assert compact_keys == []


@pytest.mark.parametrize("key", ["1", "2", "3", "4", "5", "6", "7"])
async def test_the_help_key_stays_in_sight_on_a_narrow_terminal(
    engine: Engine, make_app: Callable[..., SlothApp], key: str
) -> None:
    """At 60 columns the keys no longer fit, and the line is cut on the right: `? Help`,
    near the end, was cut first on every screen. It is pinned beside the palette key."""
    app = make_app(engine)
    async with app.run_test(size=(60, 20)) as pilot:
        await wait_for(pilot, lambda: isinstance(app.screen, EventsScreen))
        await pilot.press(key)
        await wait_for(pilot, lambda: "q" in footer_keys(app))
        await wait_for(pilot, lambda: "^p palette" in screen_text(app).splitlines()[-1])
        line = screen_text(app).splitlines()[-1]
        assert line.rstrip().endswith("? Help ^p palette"), line
        # Still the help key: it opens the help.
        await pilot.press("question_mark")
        await wait_for(pilot, lambda: type(app.screen).__name__ == "HelpScreen")


async def test_a_pinned_help_key_from_the_keymap_shows_as_typed(
    tmp_path: Path, make_app: Callable[..., SlothApp]
) -> None:
    """The help key moved to `[` (markup to Rich) in [keymap]: pinned on a narrow line, it
    reads `[ Help`, as typed, and opens the help."""
    (tmp_path / "home").mkdir()
    (tmp_path / "home" / "config.toml").write_text('[keymap]\n"app.help" = "left_square_bracket"\n')
    engine = await Engine.open(load_settings(tmp_path / "home"), lifecycle=True)
    try:
        app = make_app(engine)
        async with app.run_test(size=(60, 20)) as pilot:
            await wait_for(pilot, lambda: "left_square_bracket" in footer_keys(app))
            await wait_for(pilot, lambda: "^p palette" in screen_text(app).splitlines()[-1])
            line = screen_text(app).splitlines()[-1]
            assert line.rstrip().endswith("▏ [ Help ^p palette"), line
            await pilot.press("left_square_bracket")
            await wait_for(pilot, lambda: type(app.screen).__name__ == "HelpScreen")
    finally:
        await engine.close(reason="test finished")
