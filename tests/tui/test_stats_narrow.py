"""Issue 12 item 7: the Stats screen at 60x20. Its hooks panel is a third of the width:
columns drop by priority (p95, then p50), and a hook name that still does not fit ends
in `…`, never cut silently. The Events filter bar's placeholder too."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from hypothesis import given
from hypothesis import strategies as st
from rich.cells import cell_len
from tui_helpers import screen_text, wait_for

from sloth_tui.engine.engine import Engine
from sloth_tui.tui.app import SlothApp
from sloth_tui.tui.screens.stats import StatsScreen
from sloth_tui.tui.widgets.filter_bar import PLACEHOLDER, fit_placeholder

HOOK = "notify-slack-production"


async def test_stats_hook_panel_is_readable_at_60x20(
    engine: Engine, make_app: Callable[..., SlothApp], tmp_path: Path
) -> None:
    path = tmp_path / "h.lua"
    path.write_text("function on_event() return true end\n")
    await engine.add_hook(HOOK, ["deploy.*"], path)
    for i in range(3):
        await engine.dispatch("deploy.started", {"n": i}, source="demo")
    await engine.wait_idle()
    app = make_app(engine)
    async with app.run_test(size=(60, 20)) as pilot:
        await pilot.press("4")
        screen = app.screen
        assert isinstance(screen, StatsScreen)
        await wait_for(pilot, lambda: HOOK in screen.hook_stats)
        screen.draw()

        def hook_row() -> str:
            return next((ln for ln in screen_text(app).splitlines() if "notify-" in ln), "")

        # the success rate whole, on the hook's line (drawn on the next refresh)
        await wait_for(pilot, lambda: "100%" in hook_row())
        text = screen_text(app)
        row = hook_row()
        # the name: whole, or visibly cut
        assert HOOK in row or "notify-…" in row, text


async def test_filter_placeholder_is_cut_with_an_ellipsis_when_narrow(
    engine: Engine, make_app: Callable[..., SlothApp]
) -> None:
    for width in (60, 200):
        app = make_app(engine)
        async with app.run_test(size=(width, 20)) as pilot:
            await wait_for(pilot, lambda a=app: "/ filter:" in screen_text(a))
            line = next(ln for ln in screen_text(app).splitlines() if "/ filter:" in ln)
            if width == 60:
                assert "src:demo …" in line or "… " in line, line  # cut, visibly so
            else:
                assert PLACEHOLDER in line, line  # room for it all: all of it


@given(st.text(max_size=120), st.integers(min_value=1, max_value=200))
def test_fit_placeholder_fits_and_says_when_it_cut(text: str, width: int) -> None:
    out = fit_placeholder(text, width)
    if out != text:
        assert out.endswith("…")
        assert text.startswith(out[:-1])
        assert cell_len(out) <= max(1, width - 1)
    else:
        assert cell_len(text) <= width - 1
