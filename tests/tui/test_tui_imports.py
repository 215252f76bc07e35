"""The dashboard reaches Lua and the store only through the EngineAPI: no module of
sloth_tui/tui imports sloth_tui.lua, the engine's store or aiosqlite (an attached
dashboard would otherwise compile or read where the hooks do not run)."""

from __future__ import annotations

import ast
from pathlib import Path

import sloth_tui.tui

TUI = Path(sloth_tui.tui.__file__).parent
FORBIDDEN = ("sloth_tui.lua", "sloth_tui.engine.store", "aiosqlite")


def imported(tree: ast.AST) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
    return names


def offences(source: str) -> list[str]:
    return sorted(
        name
        for name in imported(ast.parse(source))
        if any(name == bad or name.startswith(bad + ".") for bad in FORBIDDEN)
    )


def test_the_rule_sees_an_import_in_a_function() -> None:
    assert offences("def f():\n    from sloth_tui.lua.runtime import check_syntax\n") == [
        "sloth_tui.lua.runtime",
        "sloth_tui.lua.runtime.check_syntax",
    ]
    assert offences("from sloth_tui.engine import store\n") == ["sloth_tui.engine.store"]


def test_no_tui_module_imports_lua_or_the_store() -> None:
    found = {
        str(path.relative_to(TUI)): bad
        for path in sorted(TUI.rglob("*.py"))
        if (bad := offences(path.read_text(encoding="utf-8")))
    }
    assert found == {}
