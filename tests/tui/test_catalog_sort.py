"""Issue 12 item 8 on Catalog: `S` orders the tree (both its levels) by name, then by how
many events of each type the dashboard has seen, then back to the catalog's order; the
highlighted type stays highlighted."""

from __future__ import annotations

from collections.abc import Callable

from textual.widgets import Tree
from tui_helpers import wait_for

from sloth_tui import catalog
from sloth_tui.engine.engine import Engine
from sloth_tui.tui.app import SlothApp
from sloth_tui.tui.screens.catalog import CatalogScreen


def order(tree: Tree) -> list[tuple[str, list[str]]]:
    return [(str(c.data), [str(t.data) for t in c.children]) for c in tree.root.children]


def cursor(tree: Tree) -> object:
    node = tree.cursor_node
    return None if node is None else node.data


async def test_S_sorts_the_catalog_by_name_then_by_most_seen(
    engine: Engine, make_app: Callable[..., SlothApp]
) -> None:
    natural = [(c.name, [t.type for t in c.types]) for c in catalog.categories(extensions=True)]
    app = make_app(engine)
    async with app.run_test(size=(120, 36)) as pilot:
        for type_, n in (("security.login_failed", 3), ("security.breach", 1)):
            for _ in range(n):
                await engine.dispatch(type_, catalog.sample_data(type_), source="demo")
        await wait_for(pilot, lambda: app.live.types["security.login_failed"] == 3)
        await pilot.press("5")
        screen = app.screen
        assert isinstance(screen, CatalogScreen)
        tree = screen.query_one(Tree)
        assert order(tree) == natural
        await pilot.press("j", "j")
        before = cursor(tree)
        assert isinstance(before, str) and catalog.get(before) is not None

        await pilot.press("S")  # by name, both levels
        by_name = sorted((c, sorted(ts)) for c, ts in natural)
        await wait_for(pilot, lambda: order(tree) == by_name and cursor(tree) == before)

        await pilot.press("S")  # by most seen: security first, login_failed its first type
        await wait_for(pilot, lambda: order(tree)[0][0] == "security")
        first = order(tree)[0][1]
        assert first[:2] == ["security.login_failed", "security.breach"], first
        assert str(tree.root.children[0].children[0].label).endswith("  3")
        await wait_for(pilot, lambda: cursor(tree) == before)

        await pilot.press("S")  # the catalog's own order again
        await wait_for(pilot, lambda: order(tree) == natural and cursor(tree) == before)
