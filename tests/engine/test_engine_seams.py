"""The engine's seams (issue 13): SQL only in the store, no private aiosqlite attributes,
no import cycle between engine modules, hooks composed rather than mixed in.

These read the source (ast), so they hold for code not exercised by any other test.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import sloth_tui
from sloth_tui.engine.engine import Engine

PACKAGE = Path(sloth_tui.__file__).parent
ENGINE = PACKAGE / "engine"
# The modules whose job is SQL: the store (its faults, schema and rows too), the
# filter language rendered to SQL, and the backup (SQLite's online backup API and the
# checks of a copy work on the store's file, beside the engine, by design), and the
# trace reader (one walk of a tree in one read transaction on the reader thread), and
# the fleet's outbox (its triggers and queue table, schema 9).
SQL_HOMES = {
    "fleet_outbox.py",
    "store.py",
    "store_faults.py",
    "schema.py",
    "rows.py",
    "filter_sql.py",
    "backup_copy.py",
    "trace_sql.py",
    "wal_checkpoint.py",  # the store's checkpoints, on a connection of their own
    "text_index.py",  # the store's text index, in a file and on a connection of its own
}
SQL_STATEMENT = re.compile(r"^\s*(SELECT|INSERT|UPDATE|DELETE|REPLACE|PRAGMA)\b|\bFROM \w+ WHERE\b")


def _strings(tree: ast.AST) -> list[tuple[int, str]]:
    """String constants that are not docstrings."""
    docstrings = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef):
            body = node.body
            if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
                docstrings.add(id(body[0].value))
    return [
        (node.lineno, node.value)
        for node in ast.walk(tree)
        if isinstance(node, ast.Constant)
        and isinstance(node.value, str)
        and id(node) not in docstrings
    ]


def _sql_outside_the_store(files: list[Path]) -> list[str]:
    found = []
    for path in files:
        for line, text in _strings(ast.parse(path.read_text())):
            if SQL_STATEMENT.search(text):
                found.append(f"{path.relative_to(PACKAGE)}:{line}: {text[:60]!r}")
    return found


def test_sql_statements_live_only_in_the_store() -> None:
    files = [p for p in ENGINE.glob("*.py") if p.name not in SQL_HOMES]
    files += list((PACKAGE / "model").glob("*.py"))
    assert _sql_outside_the_store(files) == []


def test_the_sql_check_finds_a_statement() -> None:
    """The check above can fail: a statement in a string constant is found."""
    tree_text = 'X = "DELETE FROM events WHERE id = ?"\n'
    assert [t for _line, t in _strings(ast.parse(tree_text)) if SQL_STATEMENT.search(t)]


def _imports(path: Path) -> set[str]:
    """Modules imported when `path` is imported (not under TYPE_CHECKING, not in functions)."""
    found: set[str] = set()

    def visit(nodes: list[ast.stmt]) -> None:
        for node in nodes:
            if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
                visit(node.orelse)
                continue
            if isinstance(node, ast.Import):
                found.update(alias.name for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.module:
                found.add(node.module)
                found.update(f"{node.module}.{alias.name}" for alias in node.names)
            elif isinstance(node, ast.If | ast.Try | ast.With | ast.ClassDef):
                for field in ("body", "orelse", "finalbody"):
                    visit(getattr(node, field, []))
                for handler in getattr(node, "handlers", []):
                    visit(handler.body)

    visit(ast.parse(path.read_text()).body)
    return found


def test_no_private_aiosqlite_attributes() -> None:
    for path in ENGINE.glob("*.py"):
        text = path.read_text()
        assert not any(m.startswith("aiosqlite") for m in _imports(path)), path.name
        assert not re.search(r"\._(execute|conn|thread)\b.*# type: ignore", text), path.name


def _engine_graph() -> dict[str, set[str]]:
    modules = {f"sloth_tui.engine.{p.stem}": p for p in ENGINE.glob("*.py")}
    return {
        name: {m for m in _imports(path) if m in modules and m != name}
        for name, path in modules.items()
    }


def _cycle(graph: dict[str, set[str]]) -> list[str] | None:
    state: dict[str, int] = {}  # 1: on the path, 2: done
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        path.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                return [*path[path.index(nxt) :], nxt]
            if nxt not in state and (found := visit(nxt)):
                return found
        path.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state and (found := visit(node)):
            return found
    return None


def test_no_import_cycle_between_engine_modules() -> None:
    assert _cycle(_engine_graph()) is None


def test_the_cycle_check_finds_a_cycle() -> None:
    assert _cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]


def test_hooks_are_composed_not_mixed_in() -> None:
    """Engine has no base class but object, and per-hook limits are not part of its API."""
    assert Engine.__mro__ == (Engine, object)
    assert not hasattr(Engine, "limits_for")
