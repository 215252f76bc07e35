"""Issue 16 on the Catalog screen: each type is marked produced here or not, a line counts
"N of 16 categories have a producer here", and a type's detail names its producers; all
from the dashboard's own config.toml (sources/producers.py). A real app and engine."""

from __future__ import annotations

import io
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest
from rich.console import Console
from textual.widgets import Static, Tree
from textual.widgets.tree import TreeNode
from tui_helpers import screen_text, wait_for

from sloth_tui import catalog
from sloth_tui.config import Settings, load_settings
from sloth_tui.engine.engine import Engine
from sloth_tui.sources.producers import EXAMPLE_CONFIG, install_producers
from sloth_tui.tui.app import SlothApp
from sloth_tui.tui.screens.catalog import EXTENSION_MARK, PRODUCED, UNPRODUCED, CatalogScreen


def leaves(tree: Tree[str]) -> dict[str, TreeNode[str]]:
    return {str(t.data): t for c in tree.root.children for t in c.children}


def plain(widget: Static) -> str:
    console = Console(width=200, file=io.StringIO(), color_system=None)
    console.print(widget.content)
    return console.file.getvalue()  # type: ignore[attr-defined,no-any-return]


@pytest.fixture
def configured(tmp_path: Path) -> Callable[[str], Settings]:
    def make(text: str) -> Settings:
        home = tmp_path / "configured"
        home.mkdir()
        (home / "config.toml").write_text(text, encoding="utf-8")
        return load_settings(home)

    return make


@pytest.fixture
async def open_engine() -> AsyncIterator[Callable[[Settings], object]]:
    opened: list[Engine] = []

    async def open_(settings: Settings) -> Engine:
        eng = await Engine.open(settings)
        opened.append(eng)
        return eng

    yield open_  # type: ignore[misc]
    for eng in opened:
        await eng.close()


async def open_catalog(app: SlothApp, pilot: object) -> CatalogScreen:
    await pilot.press("5")  # type: ignore[attr-defined]
    screen = app.screen
    assert isinstance(screen, CatalogScreen)
    return screen


async def test_a_default_install_marks_what_the_engine_and_cli_produce(
    engine: Engine, make_app: Callable[..., SlothApp]
) -> None:
    app = make_app(engine)
    async with app.run_test(size=(120, 40)) as pilot:
        screen = await open_catalog(app, pilot)
        expected = len(install_producers(engine.settings).produced_categories())
        line = f"{expected} of 16 categories have a producer here"
        await wait_for(pilot, lambda: line in screen_text(app))
        assert line in plain(screen.query_one("#catalog-producers", Static))

        tree: Tree[str] = screen.query_one(Tree)
        by_type = leaves(tree)
        assert set(by_type) == set(catalog.type_names(extensions=True))
        assert str(by_type["system.startup"].label).startswith(PRODUCED + " ")
        assert str(by_type["backup.completed"].label).startswith(PRODUCED + " ")
        assert str(by_type["file.created"].label).startswith(UNPRODUCED + " ")
        assert str(by_type["task.started"].label).startswith(UNPRODUCED + " ")
        # The extension mark stays at the end of the label.
        assert str(by_type["stack.locked"].label).endswith(EXTENSION_MARK)

        info = screen.query_one("#catalog-info", Static)
        tree.move_cursor(by_type["system.startup"])
        await wait_for(pilot, lambda: "Produced here by: engine" in plain(info))
        tree.move_cursor(by_type["file.created"])
        await wait_for(pilot, lambda: "Nothing in this install produces it" in plain(info))
        cats = {str(c.data): c for c in tree.root.children}
        tree.move_cursor(cats["backup"])
        await wait_for(pilot, lambda: "6 of 6 types produced here by cli:backup" in plain(info))


async def test_every_kind_of_source_marks_fourteen_categories(
    configured: Callable[[str], Settings],
    open_engine: Callable[[Settings], object],
    make_app: Callable[..., SlothApp],
) -> None:
    settings = configured(EXAMPLE_CONFIG)
    engine = await open_engine(settings)  # type: ignore[misc]
    app = make_app(engine)
    async with app.run_test(size=(120, 40)) as pilot:
        screen = await open_catalog(app, pilot)
        await wait_for(pilot, lambda: screen.producers is not None)
        assert screen.producers is not None
        covered = len(screen.producers.produced_categories())
        assert covered >= 14
        assert f"{covered} of 16 categories have a producer here" in screen_text(app)

        tree: Tree[str] = screen.query_one(Tree)
        by_type = leaves(tree)
        for name in ("file.created", "task.started", "process.started", "security.login_failed"):
            assert str(by_type[name].label).startswith(PRODUCED + " "), name
        cats = {str(c.data): c for c in tree.root.children}
        assert str(cats["file"].label).startswith("file 7 " + PRODUCED + "7")
        info = screen.query_one("#catalog-info", Static)
        tree.move_cursor(by_type["file.modified"])
        await wait_for(pilot, lambda: "Produced here by: watcher:etc" in plain(info))


async def test_a_bad_config_leaves_the_marks_out_not_the_screen(
    configured: Callable[[str], Settings],
    open_engine: Callable[[Settings], object],
    make_app: Callable[..., SlothApp],
) -> None:
    settings = configured('[[checks]]\nname = "x"\nkind = "ftp"\n')
    engine = await open_engine(settings)  # type: ignore[misc]
    app = make_app(engine)
    async with app.run_test(size=(120, 40)) as pilot:
        screen = await open_catalog(app, pilot)
        await wait_for(pilot, lambda: "producers unknown" in screen_text(app))
        assert "ftp" in plain(screen.query_one("#catalog-producers", Static))
        by_type = leaves(screen.query_one(Tree))
        assert str(by_type["system.startup"].label) == "system.startup"
        info = screen.query_one("#catalog-info", Static)
        screen.query_one(Tree).move_cursor(by_type["system.startup"])
        await wait_for(pilot, lambda: "Producers unknown here" in plain(info))


HOSTILE_NAME = "[bold red]x[/]\x1b[2J\x07\u202e"


async def test_hostile_names_from_config_reach_the_screen_as_text(
    configured: Callable[[str], Settings],
    open_engine: Callable[[Settings], object],
    make_app: Callable[..., SlothApp],
    tmp_path: Path,
) -> None:
    """A file watcher's name (a producer's name here) and a config error quote
    config.toml: markup stays text, control characters never reach the terminal."""
    watched = tmp_path / "watched"
    watched.mkdir()
    name = HOSTILE_NAME.replace("\x1b", "\\u001b").replace("\x07", "\\u0007")
    settings = configured(f'[[watchers]]\nname = "{name}"\npath = "{watched}"\n')
    engine = await open_engine(settings)  # type: ignore[misc]
    app = make_app(engine)
    async with app.run_test(size=(140, 40)) as pilot:
        screen = await open_catalog(app, pilot)
        await wait_for(
            pilot, lambda: "categor" in screen_text(app) or "unknown" in screen_text(app)
        )
        tree: Tree[str] = screen.query_one(Tree)
        tree.move_cursor(leaves(tree)["file.created"])
        info = screen.query_one("#catalog-info", Static)
        await wait_for(pilot, lambda: "file.created" in plain(info))
        text = (
            screen_text(app) + plain(info) + plain(screen.query_one("#catalog-producers", Static))
        )
        assert "\x1b" not in text and "\x07" not in text
        assert "[bold red]x[/]" in text  # shown as typed, not applied
