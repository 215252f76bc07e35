"""Issue 14 item 5 on the Catalog screen: Sloth Runner's types beyond the seed are listed,
marked beside the type and named "sloth-runner extension" in its detail; the seed's are not."""

from __future__ import annotations

import io
from collections.abc import Callable

from rich.console import Console
from textual.widgets import Static, Tree
from textual.widgets.tree import TreeNode
from tui_helpers import wait_for

from sloth_tui import catalog
from sloth_tui.engine.engine import Engine
from sloth_tui.tui.app import SlothApp
from sloth_tui.tui.screens.catalog import EXTENSION_MARK, CatalogScreen


def leaves(tree: Tree[str]) -> dict[str, TreeNode[str]]:
    return {str(t.data): t for c in tree.root.children for t in c.children}


async def test_catalog_marks_sloth_runner_extensions(
    engine: Engine, make_app: Callable[..., SlothApp]
) -> None:
    app = make_app(engine)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.press("5")
        screen = app.screen
        assert isinstance(screen, CatalogScreen)
        tree: Tree[str] = screen.query_one(Tree)
        cats = {str(c.data): c for c in tree.root.children}
        assert list(cats) == [c.name for c in catalog.categories(extensions=True)]
        by_type = leaves(tree)
        assert set(by_type) == set(catalog.type_names(extensions=True))

        # The mark: beside every extension type and category, beside no seed one.
        for name, node in by_type.items():
            marked = str(node.label).endswith(EXTENSION_MARK)
            assert marked == catalog.is_extension(name), (name, str(node.label))
        assert str(cats["resource"].label).endswith(EXTENSION_MARK)
        assert str(cats["watcher"].label).endswith(EXTENSION_MARK)
        assert not str(cats["stack"].label).endswith(EXTENSION_MARK)
        assert str(cats["stack"].label).startswith("stack 12")

        info = screen.query_one("#catalog-info", Static)

        def detail() -> str:  # the detail pane's content as plain text
            console = Console(width=200, file=io.StringIO(), color_system=None)
            console.print(info.content)
            return console.file.getvalue()  # type: ignore[attr-defined,no-any-return]

        tree.move_cursor(by_type["stack.locked"])
        await wait_for(pilot, lambda: "stack.locked" in detail())
        assert "sloth-runner extension" in detail()
        assert "lock.who" in detail() and "deploy-bot" in detail()
        assert screen.fire_type == "stack.locked"

        tree.move_cursor(by_type["stack.deployed"])
        await wait_for(pilot, lambda: "stack.deployed" in detail())
        assert "extension" not in detail()

        tree.move_cursor(cats["stack"])  # a seed category: its extension types marked
        await wait_for(pilot, lambda: "Stack Events" in detail())
        lines = detail().splitlines()
        assert next(x for x in lines if "stack.locked " in x).rstrip().endswith(EXTENSION_MARK)
        assert not next(x for x in lines if "stack.failed " in x).rstrip().endswith(EXTENSION_MARK)

        tree.move_cursor(cats["watcher"])
        await wait_for(pilot, lambda: "Agent Watcher Events" in detail())
        assert "sloth-runner extension" in detail() and "process.started" in detail()
