"""Screen 5: every category and event type, its fields and samples; fire a sample from here.

Types Sloth Runner emits beyond the seed (and the categories only they fill) carry
EXTENSION_MARK beside their name, and their detail says "sloth-runner extension".

Each type is marked PRODUCED or UNPRODUCED: whether something in this install emits it
(sources/producers.py: config.toml's sources as `serve` builds them, plus the engine,
the CLI and the host modules), and a line above the tree counts the categories that have
a producer. The screen reads the dashboard's own settings, attached or embedded: a
daemon on the same home reads the same config.toml. (A daemon reached over TCP from
another machine may be configured otherwise; the line names the file it read.)
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

from rich.console import Group
from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, VerticalScroll
from textual.widgets import Static, Tree
from textual.widgets.tree import TreeNode

from sloth_tui import catalog
from sloth_tui.catalog import Category, EventType
from sloth_tui.model.errors import SlothError
from sloth_tui.tui import format as fmt
from sloth_tui.tui.nav import NAV_BINDINGS, NavMixin
from sloth_tui.tui.screens.base import LiveScreen
from sloth_tui.tui.widgets.key_footer import KeyFooter
from sloth_tui.tui.widgets.sorting import SortState
from sloth_tui.tui.widgets.top_bar import TopBar

if TYPE_CHECKING:
    from sloth_tui.sources.producers import ProducerMap

SORT_COLUMNS = ("name", "seen")
# Beside an extension's name in the tree: short, as the tree is 34 cells wide.
EXTENSION_MARK = "ext"
# Before each type: something in this install produces it, or nothing here does.
PRODUCED = "●"
UNPRODUCED = "○"


def _walk(node: TreeNode[Any]) -> Iterator[TreeNode[Any]]:
    for child in node.children:
        yield child
        yield from _walk(child)


class CatalogScreen(NavMixin, LiveScreen):
    NAV_TARGET = "#catalog-tree"
    DEFAULT_CSS = """
    #catalog-producers {
        height: 1;
        padding: 0 1;
        color: $text-muted;
    }
    """
    BINDINGS = [
        *NAV_BINDINGS,
        Binding("s", "fire_selected", "Fire sample", id="catalog.fire_sample", key_display="⏎/s",
                tooltip="fire the highlighted type with its sample (edit it first)"),
        Binding("S", "sort", "Sort", id="catalog.sort",
                tooltip="order: catalog, by name, by most seen"),
    ]  # fmt: skip

    def __init__(self) -> None:
        super().__init__()
        self.selected: EventType | None = None
        # The tree has no columns: "name" and "seen" (events of each type and category the
        # dashboard has counted, as on Stats) order both levels. The order is taken when
        # S is pressed, not on every tick: rows must not move under the cursor.
        self.sort = SortState(SORT_COLUMNS)
        self.producers: ProducerMap | None = None
        self.producers_error = ""  # why the producers are unknown (a bad config.toml)

    def compose(self) -> ComposeResult:
        yield TopBar(self.MODE)
        yield Static("", id="catalog-producers")
        with Horizontal(id="catalog-body"):
            yield Tree("catalog", id="catalog-tree")
            with VerticalScroll(id="catalog-detail"):
                yield Static("", id="catalog-info")
        yield KeyFooter()

    def on_mount(self) -> None:
        tree = self.query_one(Tree)
        tree.show_root = False
        self._read_producers()
        self._fill_tree()
        tree.focus()
        first = catalog.types(extensions=True)[0]
        self._show(first)

    def _read_producers(self) -> None:
        """Which types this install produces: read once, when the screen opens."""
        from sloth_tui.sources.producers import install_producers

        line = self.query_one("#catalog-producers", Static)
        try:
            self.producers = install_producers(self.sloth.engine.settings)
        except (SlothError, OSError) as exc:  # the marks help; the screen opens anyway
            self.producers, self.producers_error = None, str(exc)
            line.update(Text(fmt.printable(f"producers unknown: {self.producers_error}")))
            return
        covered = len(self.producers.produced_categories())
        line.update(
            Text(
                f"{covered} of {len(catalog.categories())} categories have a producer here"
                f"   {PRODUCED} produced here  {UNPRODUCED} nothing here produces it"
            )
        )

    def produced_by(self, type_name: str) -> tuple[str, ...] | None:
        """The names of this install's producers of `type_name`; None when unknown."""
        return None if self.producers is None else self.producers.for_type(type_name)

    def _fill_tree(self) -> None:
        tree = self.query_one(Tree)
        colors = self.sloth.category_colors
        live = self.sloth.live
        by_seen = self.sort.column == SORT_COLUMNS.index("seen")
        cat_keys: tuple[Callable[[Category], Any], ...] = (
            lambda c: c.name,
            lambda c: -live.categories[c.name],  # the most seen first
        )
        type_keys: tuple[Callable[[EventType], Any], ...] = (
            lambda t: t.type,
            lambda t: -live.types[t.type],
        )
        for cat in self.sort.apply(catalog.categories(extensions=True), cat_keys):
            label = Text.assemble(
                (cat.name, f"bold {colors.get(cat.name, '')}"), f" {len(cat.types)}"
            )
            produced = sum(1 for t in cat.types if self.produced_by(t.type))
            if self.producers is not None:
                label.append(f" {PRODUCED}{produced}" if produced else f" {UNPRODUCED}")
            if cat.extension:
                label.append(f" {EXTENSION_MARK}", style="italic")
            if by_seen:
                label.append(f"  {fmt.count(live.categories[cat.name])} seen", style="dim")
            node = tree.root.add(label, data=cat.name, expand=True)
            for t in self.sort.apply(cat.types, type_keys):
                # A catalog type: [a-z0-9_.] only. Text anyway: a str label is markup.
                leaf = Text(t.type)
                if self.producers is not None:
                    mark = PRODUCED if self.produced_by(t.type) else UNPRODUCED
                    leaf = Text.assemble((mark, "bold" if mark == PRODUCED else "dim"), " ", leaf)
                if t.extension:
                    leaf.append(f"  {EXTENSION_MARK}", style="italic")
                if by_seen:
                    leaf.append(f"  {fmt.count(live.types[t.type])}", style="dim")
                node.add_leaf(leaf, data=t.type)

    def action_sort(self) -> None:
        tree = self.query_one(Tree)
        node = tree.cursor_node
        keep = node.data if node is not None else None
        self.sort.cycle()
        tree.clear()
        self._fill_tree()
        order = {None: "catalog order", 0: "by name", 1: "by most seen"}[self.sort.column]
        fmt.notify(self, f"Catalog: {order}")

        def put_back() -> None:  # node lines exist once the tree has been laid out again
            found = [n for n in _walk(tree.root) if n.data == keep]
            tree.move_cursor(found[0] if found else None)

        self.call_after_refresh(put_back)

    @property
    def fire_type(self) -> str | None:
        """The type `F` pre-selects on this screen."""
        return self.selected.type if self.selected else None

    def nav_open(self) -> None:
        self.action_fire_selected()

    def nav_record(self) -> tuple[str, object] | None:
        spec = self.selected
        if spec is None:
            return None
        fields = [{"name": f.name, "kind": f.kind, "sample": f.sample} for f in spec.fields]
        return f"type {spec.type}", {
            "type": spec.type,
            "category": spec.category,
            "description": spec.description,
            "extension": spec.extension,
            "fields": fields,
            "sample": catalog.sample_data(spec.type),
        }

    def on_tree_node_highlighted(self, message: Tree.NodeHighlighted[str]) -> None:
        message.stop()
        data = message.node.data
        if isinstance(data, str) and (spec := catalog.get(data)) is not None:
            self._show(spec)
        elif isinstance(data, str):
            cat = catalog.category(data, extensions=True)
            self.selected = None
            info = Text.assemble((cat.title, "bold"), f"  ({cat.name})")
            if cat.extension:
                info.append(f"  {cat.extension} extension", style="italic")
            info.append(f"\n\n{cat.description}\n")
            info.append(self._category_producers(cat), style="dim")
            info.append("\n\n")
            # In a seed category, its extension types are marked; in an extension
            # category, the header says it for all of them.
            info.append(
                "\n".join(
                    f"  {t.type:<28} {t.description}"
                    + (f"  {EXTENSION_MARK}" if t.extension and not cat.extension else "")
                    for t in cat.types
                )
            )
            self.query_one("#catalog-info", Static).update(info)

    def _type_producers(self, type_name: str) -> str:
        names = self.produced_by(type_name)
        if names is None:
            return "Producers unknown here (config.toml could not be read)."
        if not names:
            return (
                "Nothing in this install produces it "
                "(`sloth-tui event producers --example` shows what would)."
            )
        # Names come from config.toml (watcher:NAME): control characters made visible.
        return fmt.printable(f"Produced here by: {', '.join(names)}")

    def _category_producers(self, cat: Category) -> str:
        if self.producers is None:
            return ""
        names = dict.fromkeys(n for t in cat.types for n in self.producers.for_type(t.type))
        produced = sum(1 for t in cat.types if self.producers.for_type(t.type))
        by = f" by {', '.join(names)}" if names else ""
        return fmt.printable(f"{produced} of {len(cat.types)} types produced here{by}")

    def on_tree_node_selected(self, message: Tree.NodeSelected[str]) -> None:
        message.stop()
        if isinstance(message.node.data, str) and catalog.get(message.node.data) is not None:
            self.action_fire_selected()

    def _show(self, spec: EventType) -> None:
        self.selected = spec
        table = Table("field", "kind", "sample", box=None, expand=True)
        for f in spec.fields:
            # The catalog's own text (no outside text here), and no bracket tag in it.
            table.add_row(f.name, f.kind, json.dumps(f.sample, ensure_ascii=False))
        header = Text.assemble(
            (spec.type, f"bold {self.sloth.category_colors.get(spec.category, '')}"),
            f"   category {spec.category}",
        )
        if spec.extension:
            header.append(f"   {spec.origin}", style="italic")
        header.append(f"\n{spec.description}\n")
        header.append(self._type_producers(spec.type) + "\n", style="dim")
        if spec.extension:
            header.append(
                f"A {spec.extension} type, beyond the seed's event reference.\n", style="dim"
            )
        sample = Text(
            "\nSample data:\n" + json.dumps(catalog.sample_data(spec.type), indent=2), style="dim"
        )
        hint = Text("\nEnter or s fires this type with its sample (edit it first).", style="italic")
        self.query_one("#catalog-info", Static).update(Group(header, table, sample, hint))

    def action_fire_selected(self) -> None:
        if self.selected is not None:
            self.sloth.open_fire(self.selected.type)
