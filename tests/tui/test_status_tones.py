"""Status colours come from the theme: each shipped theme tells the statuses apart and
from its background, and what the dashboard draws follows a theme switch."""

from __future__ import annotations

from itertools import combinations
from pathlib import Path

import pytest
from rich.style import Style
from rich.text import Text
from textual.color import Color
from textual.theme import Theme
from tui_helpers import wait_for

from sloth_tui.engine.engine import Engine
from sloth_tui.model.records import EXEC_STATUSES
from sloth_tui.tui.screens.executions import ExecutionsScreen
from sloth_tui.tui.themes import load_themes
from sloth_tui.tui.tones import theme_tones

SHIPPED = load_themes().themes
EVENT_STATUSES = ("pending", "processing", "completed", "failed")
LEVELS = ("debug", "info", "warn", "error")
MIN_CONTRAST = 3.0  # WCAG's floor for large text and UI parts: a status word must read


def luminance(c: Color) -> float:
    def channel(v: int) -> float:
        s = v / 255
        return s / 12.92 if s <= 0.03928 else ((s + 0.055) / 1.055) ** 2.4

    return 0.2126 * channel(c.r) + 0.7152 * channel(c.g) + 0.0722 * channel(c.b)


def ratio(a: Color, b: Color) -> float:
    hi, lo = sorted((luminance(a), luminance(b)), reverse=True)
    return (hi + 0.05) / (lo + 0.05)


def test_the_shipped_themes_are_all_here() -> None:
    assert {t.name for t in SHIPPED} >= {"sloth-dark", "sloth-light", "sloth-contrast"}


@pytest.mark.parametrize("theme", SHIPPED, ids=lambda t: t.name)
def test_each_theme_tells_the_statuses_apart(theme: Theme) -> None:
    tones = theme_tones(theme)
    background = Color.parse(theme.background or "#000000")
    colours = {}
    for role in ("ok", "bad", "warn", "note"):
        style: Style = getattr(tones, role)
        assert style.color is not None, f"{theme.name}: no colour for {role}"
        colour = Color.parse(style.color.get_truecolor().hex)
        assert ratio(colour, background) >= MIN_CONTRAST, (theme.name, role, colour.hex)
        colours[role] = colour.hex
    assert len(set(colours.values())) == len(colours), (theme.name, colours)
    for statuses, style_of in (
        (EXEC_STATUSES, tones.run),
        (EVENT_STATUSES, tones.event),
        (LEVELS, tones.level),
    ):
        for a, b in combinations(statuses, 2):
            assert style_of(a) != style_of(b), (theme.name, a, b)


FAILS = 'function on_event() error("down") end\n'


def status_cell(screen: ExecutionsScreen) -> Text:
    cells = screen.table.get_row_at(0)
    [cell] = [c for c in cells if isinstance(c, Text) and c.plain.startswith("error")]
    return cell


def colour_of(text: Text) -> str:
    style = text.style
    assert isinstance(style, Style) and style.color is not None, style
    return style.color.get_truecolor().hex.lower()


async def test_a_failed_run_takes_the_error_colour_of_the_theme_shown(
    engine: Engine, make_app, tmp_path: Path
) -> None:
    path = tmp_path / "flaky.lua"
    path.write_text(FAILS)
    await engine.add_hook("flaky", ["task.*"], path)
    await engine.dispatch("task.failed", {}, source="demo")
    await engine.wait_idle()
    app = make_app(engine)
    async with app.run_test(size=(120, 36)) as pilot:
        await pilot.press("3")
        screen = app.screen
        assert isinstance(screen, ExecutionsScreen)
        await wait_for(pilot, lambda: screen.table.row_count == 1)

        def error_colour() -> str:
            return Color.parse(app.theme_variables["error"]).hex.lower()

        assert colour_of(status_cell(screen)) == error_colour()
        dark = error_colour()
        app.theme = "sloth-light"
        await wait_for(pilot, lambda: error_colour() != dark)
        await wait_for(pilot, lambda: colour_of(status_cell(screen)) == error_colour())
