"""Screens, stats, themes, the palette, small terminals, NO_COLOR, launch and the demo."""

from __future__ import annotations

import asyncio
import tomllib
from pathlib import Path

import pytest
from click.testing import CliRunner
from tui_helpers import screen_text, wait_for

from sloth_tui.cli import main
from sloth_tui.config import Settings
from sloth_tui.engine.engine import Engine
from sloth_tui.tui.commands import SlothCommands
from sloth_tui.tui.screens.catalog import CatalogScreen
from sloth_tui.tui.screens.executions import ExecutionsScreen
from sloth_tui.tui.screens.help import HelpScreen
from sloth_tui.tui.screens.hooks import HooksScreen
from sloth_tui.tui.screens.stats import StatsScreen
from sloth_tui.tui.themes import ThemeFileError, load_themes, parse_theme

ROOT = Path(__file__).resolve().parents[2]


async def test_keys_switch_screens_and_escape_backs_out(engine: Engine, make_app) -> None:
    app = make_app(engine)
    # 26 rows: the help's Anywhere column reaches ctrl+p (below the seven screen keys).
    async with app.run_test(size=(80, 26)) as pilot:
        for key, kind in (("2", HooksScreen), ("3", ExecutionsScreen), ("4", StatsScreen),
                          ("5", CatalogScreen)):  # fmt: skip
            await pilot.press(key)
            assert isinstance(app.screen, kind)
        await pilot.press("question_mark")
        assert isinstance(app.screen, HelpScreen)
        assert "ctrl+p" in screen_text(app)
        await pilot.press("escape")
        assert isinstance(app.screen, CatalogScreen)
        await pilot.press("escape")
        assert app.current_mode == "events"


async def test_stats_update_live(engine: Engine, make_app) -> None:
    app = make_app(engine)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("4")
        for _ in range(25):
            await engine.dispatch("security.login_failed", {"user": "root"}, source="demo")
        screen = app.screen
        await wait_for(pilot, lambda: app.live.categories["security"] == 25)
        await wait_for(pilot, lambda: "security.login_failed" in screen_text(app))
        text = screen_text(app)
        assert "security" in text and "25" in text and "queue" in text and "cpu 3%" in text
        # the sparkline shows complete seconds only: the current one joins it a second later
        await wait_for(pilot, lambda: sum(screen.query_one("#rate-spark").data) >= 25)


async def test_hooks_and_executions_list_what_the_engine_has(
    engine: Engine, make_app, tmp_path
) -> None:
    path = tmp_path / "h.lua"
    path.write_text("function on_event() return event.data.user ~= 'root' end\n")
    await engine.add_hook("guard", ["security.*"], path, description="refuses root")
    app = make_app(engine)
    async with app.run_test(size=(100, 24)) as pilot:
        await pilot.press("2")
        await wait_for(pilot, lambda: "guard" in screen_text(app))
        await engine.dispatch("security.login_failed", {"user": "root"}, source="demo")
        await engine.wait_idle()
        await pilot.press("3")
        await wait_for(pilot, lambda: "failed" in screen_text(app))
        await pilot.press("enter")
        await wait_for(pilot, lambda: getattr(app.screen, "event", None) is not None)
        assert app.screen.event.type == "security.login_failed"


async def test_theme_switch_changes_category_colours(engine: Engine, make_app) -> None:
    app = make_app(engine, theme="sloth-dark")
    async with app.run_test(size=(80, 24)) as pilot:
        assert app.theme == "sloth-dark"
        dark = app.category_colors["deploy"]
        assert app.set_theme("sloth-light")
        await wait_for(pilot, lambda: app.category_colors["deploy"] != dark)
        assert app.theme == "sloth-light"
        assert not app.set_theme("no-such-theme")
        assert app.theme == "sloth-light"
        hits = [h async for h in SlothCommands(app.screen).search("theme contrast")]
        assert hits
        hits[0].command()
        await wait_for(pilot, lambda: app.theme == "sloth-contrast")


async def test_palette_offers_fire_screens_and_pause(engine: Engine, make_app) -> None:
    app = make_app(engine)
    async with app.run_test(size=(80, 24)) as pilot:
        provider = SlothCommands(app.screen)
        names = [str(h.text) async for h in provider.search("fire deploy.failed")]
        assert any("deploy.failed" in n for n in names)
        [pause] = [h async for h in provider.search("pause") if "Pause" in str(h.text)]
        pause.command()
        assert not app.events_screen.feed.following
        [stats] = [h async for h in provider.search("open stats")][:1]
        stats.command()
        await wait_for(pilot, lambda: isinstance(app.screen, StatsScreen))


async def test_bad_user_theme_is_a_notification(settings: Settings, make_app) -> None:
    settings.themes_dir.mkdir(parents=True)
    (settings.themes_dir / "broken.toml").write_text('name = "broken"\nprimary = "not-a-colour"\n')
    (settings.themes_dir / "mine.toml").write_text('name = "mine"\nprimary = "#ff0000"\n')
    engine = await Engine.open(settings)
    try:
        app = make_app(engine, theme="mine")
        async with app.run_test(size=(80, 24)) as pilot:
            await wait_for(
                pilot, lambda: any("not a colour" in n.message for n in app._notifications)
            )
            assert app.theme == "mine"
    finally:
        await engine.close()


def test_theme_files_parse_and_ship() -> None:
    themes = load_themes(None)
    names = {t.name for t in themes.themes}
    assert {"sloth-dark", "sloth-light", "sloth-contrast"} <= names and not themes.errors
    for theme in themes.themes:
        assert all(f"cat-{c}" in theme.variables for c in ("deploy", "security", "custom"))
    with pytest.raises(ThemeFileError, match="unknown key"):
        parse_theme('name = "x"\nprimary = "#fff"\nbogus = 1\n')
    with pytest.raises(ThemeFileError, match="needs a name"):
        parse_theme('primary = "#fff"\n')
    with pytest.raises(ThemeFileError):
        parse_theme("name = [")


def test_pyproject_ships_every_package_and_the_themes() -> None:
    """The wheel lists packages explicitly (to map themes/ in): a new package must be added."""
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    listed = set(config["packages"])
    found = {"sloth_tui"} | {
        ".".join(p.relative_to(ROOT).parts)
        for p in (ROOT / "sloth_tui").rglob("*")
        if p.is_dir() and "__pycache__" not in p.parts and any(p.glob("*.py"))
    }
    assert found <= listed, f"add to [tool.setuptools] packages: {sorted(found - listed)}"
    assert config["package-dir"]["sloth_tui.themes"] == "themes"
    assert "*.toml" in config["package-data"]["sloth_tui.themes"]


async def test_small_terminals_render_every_screen(engine: Engine, make_app) -> None:
    await engine.dispatch("deploy.failed", {"service": "api"}, source="demo")
    app = make_app(engine)
    async with app.run_test(size=(80, 24)) as pilot:
        for size in ((80, 24), (60, 20), (40, 12)):
            await pilot.resize_terminal(*size)
            for key in ("1", "2", "3", "4", "5", "1", "F"):
                await pilot.press(key)
                await wait_for(pilot, lambda: bool(screen_text(app).strip()))
            await pilot.press("escape")


async def test_no_color_is_respected(engine: Engine, make_app, monkeypatch) -> None:
    monkeypatch.setenv("NO_COLOR", "1")
    app = make_app(engine)
    async with app.run_test(size=(80, 24)):
        assert app.no_color


def test_engine_lock_is_a_one_line_error(settings: Settings, monkeypatch) -> None:
    async def hold_and_launch() -> object:
        engine = await Engine.open(settings)
        try:
            monkeypatch.setenv("SLOTH_TUI_HOME", str(settings.home))
            return await asyncio.to_thread(CliRunner().invoke, main, [])
        finally:
            await engine.close()

    result = asyncio.run(hold_and_launch())
    assert result.exit_code == 1
    assert result.output.startswith("error: ") and "Traceback" not in result.output
    assert len(result.output.strip().splitlines()) == 1


async def test_mouse_tabs_rows_and_double_click(engine: Engine, make_app) -> None:
    for i in range(5):
        await engine.dispatch("task.started", {"task_name": f"t{i}"}, source="demo")
    app = make_app(engine)
    async with app.run_test(size=(100, 30)) as pilot:
        events = app.screen
        await wait_for(pilot, lambda: len(events.feed) == 6)
        # drawn: the clicks below land on the tabs and rows where the screen shows them
        await wait_for(pilot, lambda: screen_text(app).count("task.started") == 5)
        await pilot.click("#tabs", offset=(12, 0))  # " 2 Hooks "
        assert isinstance(app.screen, HooksScreen)
        await pilot.click("#tabs", offset=(2, 0))
        assert app.screen is events
        await pilot.click("EventTable", offset=(20, 2))  # the second row
        assert not events.feed.following and events.table.cursor_id == 2
        await pilot.click("EventTable", offset=(20, 2), times=2)
        await wait_for(pilot, lambda: getattr(app.screen, "event", None) is not None)
        assert app.screen.event.id == 2
