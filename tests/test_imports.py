"""The dependency direction of ../shared/DESIGN.md, checked by walking the imports.

Every module under sloth_tui is parsed (never imported), and each `import` is
recorded with its line and whether it runs at import time (module level, class
bodies) or only when a function is called. Imports under `if TYPE_CHECKING:` are
left out: they never run.

Two checks:

- Packages: each import between two packages must be an edge of ALLOWED (or of
  a composition root's extra edges, ROOTS), and the package graph (function-level
  imports included, since a late import is still a dependency) has no cycle.
- Modules: no cycle among module-level imports, the ones that run while a module
  is being imported (a circle there is a partially initialised module waiting to
  happen). Function-level imports are how such a circle is broken on purpose.

The rules are data, and the checker is itself tested on small synthetic packages
in tmp_path, so each rule is seen to fail.
"""

from __future__ import annotations

import ast
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import pytest

PACKAGE_DIR = Path(__file__).resolve().parent.parent / "sloth_tui"

# -- the rules --------------------------------------------------------------------------

# Module-name prefix -> unit (the longest prefix wins). A unit is what the rules
# talk about: mostly a package, with the engine's API surface apart from the engine
# behind it. The surface is what a client may know: the EngineAPI protocol, the notice
# types its subscribe() hands out (bus.py: Engine and RemoteEngine both fan out with
# them), and the retry logic, which works through EngineAPI only and is shared by the
# dashboard and the CLI. ALLOWED keeps the surface free of the engine's internals.
UNITS: dict[str, str] = {
    "sloth_tui": "root",  # __init__: the version
    "sloth_tui.__main__": "cli",
    "sloth_tui.entry": "cli",
    "sloth_tui.quick_query": "cli",  # the entry point's click-free answers
    "sloth_tui.cli": "cli",
    "sloth_tui.model": "model",
    "sloth_tui.catalog": "catalog",
    "sloth_tui.config": "config",
    "sloth_tui.secret_vault": "config",  # the secret vault's files: beside the settings
    "sloth_tui.crash": "crash",
    "sloth_tui.atomic_file": "files",  # a file written whole: every writer's, config's too
    "sloth_tui.bench": "bench",
    "sloth_tui.bench_scale": "bench_scale",
    "sloth_tui.bench_fleet": "bench_fleet",
    "sloth_tui.engine": "engine",
    "sloth_tui.engine.api": "engine.api",
    "sloth_tui.engine.bus": "engine.api",
    "sloth_tui.engine.retry": "engine.api",
    "sloth_tui.lua": "lua",
    "sloth_tui.remote": "remote",
    "sloth_tui.sources": "sources",
    "sloth_tui.http": "http",
    "sloth_tui.fleet": "fleet",
    "sloth_tui.tui": "tui",
    "sloth_tui.commands": "commands",
}

# The leaves every unit may use: the records, the event catalog, the settings,
# the version and the one file writer (atomic_file). model itself imports nothing of
# the project.
_BASE = frozenset({"model", "catalog", "config", "root", "files"})

# unit -> the units it may import. tui and commands are leaves no other package
# imports: only the entry point (cli) and the commands that launch the dashboard
# (ROOTS) import tui, and nothing imports commands but cli. tui, commands, remote and
# sources reach the engine through engine.api. The engine runs Lua; Lua knows nothing
# of the engine.
ALLOWED: dict[str, frozenset[str]] = {
    "model": frozenset(),
    "root": frozenset(),
    "catalog": frozenset({"model"}),
    "files": frozenset(),
    "config": frozenset({"model", "files"}),
    "crash": frozenset({"root"}),
    "engine.api": _BASE,
    "lua": _BASE,
    "engine": _BASE | {"engine.api", "lua"},
    "remote": _BASE | {"engine.api"},
    # The HTTP listener's routes (serve --http): the engine through its API, the socket
    # protocol's event-line rules from remote; started as a source.
    "http": _BASE | {"engine.api", "remote"},
    # The fleet (serve --nats): the engine through its API (and FleetPort, declared
    # there), a token file read as the socket's is; started as a source.
    "fleet": _BASE | {"engine.api", "remote"},
    "sources": _BASE | {"engine.api", "http", "fleet"},
    "tui": _BASE | {"engine.api", "crash"},
    # The CLI chooses the transport (attach to a running daemon), so it may use the
    # client side of remote.
    "commands": _BASE | {"engine.api", "crash", "remote"},
    # The entry point: answers a scripted query without click (quick_query), or builds
    # the click group and launches the dashboard.
    "cli": _BASE | {"commands", "tui"},
    # The benchmark harness: times a real engine and a real Lua runtime.
    "bench": _BASE | {"engine", "lua"},
    # bench_scale fills a store through a real `serve` and times what clients and the
    # dashboard see there: it drives them all, as a harness does.
    "bench_scale": _BASE | {"engine.api", "engine", "remote", "sources", "bench"},
    # bench_fleet starts nats-server and `serve --nats` processes and feeds their sockets
    # (sources/bench.py's pipelined_ingest); it reads their stores back read-only.
    "bench_fleet": _BASE | {"sources"},
}

# Composition roots: the few modules whose job is to build and wire the concrete
# parts (an Engine, a socket server, the producers), with the extra units they may
# import and why. Everything else is typed against engine.api.
ROOTS: dict[str, tuple[frozenset[str], str]] = {
    "sloth_tui.commands.common": (
        frozenset({"engine"}),
        "opens the local Engine when no daemon is running",
    ),
    "sloth_tui.commands.serve": (frozenset({"sources"}), "runs the daemon"),
    "sloth_tui.commands.watch": (
        frozenset({"sources"}),
        "edits the [[watchers]] config the watcher source reads",
    ),
    "sloth_tui.commands.check": (
        frozenset({"sources"}),
        "reads the [[checks]] config and probes a check once, as the check source does",
    ),
    "sloth_tui.commands.schedule": (
        frozenset({"sources"}),
        "reads and edits the schedules the schedule source runs (sources/schedule_store.py)",
    ),
    "sloth_tui.commands.event": (
        frozenset({"sources"}),
        "`event types`/`event producers`: which producers config.toml builds (producers.py)",
    ),
    "sloth_tui.commands.doctor": (
        frozenset({"engine"}),
        "inspects the store's files offline, when no engine can open them",
    ),
    "sloth_tui.commands.backup": (frozenset({"engine"}), "copies and swaps the store's files"),
    "sloth_tui.commands.dashboard": (frozenset({"tui"}), "launches the dashboard"),
    "sloth_tui.commands.fleet": (
        frozenset({"fleet"}),
        "`fleet status --nats URL` reads the members bucket, the URL read as the fleet does",
    ),
    "sloth_tui.commands.fleet_view": (
        frozenset({"tui", "fleet"}),
        "launches the dashboard over a fleet (--attach nats://), the URL read as the fleet does",
    ),
    "sloth_tui.commands.hook_import": (
        frozenset({"sources"}),
        "reads Sloth Runner's hooks.db (sources/upstream_db.py)",
    ),
    "sloth_tui.commands.bridge": (
        frozenset({"sources"}),
        "runs the Sloth Runner bridge source in the foreground",
    ),
    "sloth_tui.commands.bench": (
        frozenset({"bench", "bench_scale", "bench_fleet", "sources", "tui"}),
        "runs the engine, socket, dashboard and fleet benchmarks",
    ),
    "sloth_tui.sources.daemon": (
        frozenset({"engine", "remote"}),
        "`serve`: the engine, the socket server and the producers",
    ),
    "sloth_tui.sources.backup_schedule": (
        frozenset({"engine"}),
        "runs `sloth-tui backup`'s copy (engine/backup_run.py) on [backup] schedule",
    ),
    "sloth_tui.sources.socket": (
        frozenset({"remote"}),
        "the socket server, run as a source",
    ),
    "sloth_tui.sources.bench": (frozenset({"remote"}), "times the socket protocol"),
    "sloth_tui.tui.embedded": (
        frozenset({"engine", "remote", "sources"}),
        "the dashboard's own engine, socket server and sources",
    ),
    "sloth_tui.tui.screens.catalog": (
        frozenset({"sources"}),
        "marks the types this install's producers emit (sources/producers.py)",
    ),
    "sloth_tui.tui.launch": (frozenset({"remote"}), "starts the dashboard, attached or embedded"),
    "sloth_tui.tui.bench": (frozenset({"engine"}), "times the dashboard on a real engine"),
    "sloth_tui.tui.bench_first_screen": (
        frozenset({"remote"}),
        "times the dashboard attached to a real `serve` (bench --scale)",
    ),
}


@dataclass(frozen=True)
class Rules:
    package: str
    units: Mapping[str, str]
    allowed: Mapping[str, frozenset[str]]
    roots: Mapping[str, tuple[frozenset[str], str]] = field(default_factory=dict)

    def unit_of(self, module: str) -> str:
        parts = module.split(".")
        for n in range(len(parts), 0, -1):
            unit = self.units.get(".".join(parts[:n]))
            if unit is not None:
                return unit
        raise AssertionError(f"{module} belongs to no unit: add it to UNITS")

    def may_import(self, importer: str, target_unit: str) -> bool:
        unit = self.unit_of(importer)
        if target_unit == unit or target_unit in self.allowed[unit]:
            return True
        extra, _why = self.roots.get(importer, (frozenset(), ""))
        return target_unit in extra


RULES = Rules("sloth_tui", UNITS, ALLOWED, ROOTS)

# -- the walker -------------------------------------------------------------------------


@dataclass(frozen=True)
class Import:
    importer: str
    line: int
    target: str
    at_import_time: bool  # False: inside a function body, runs when it is called

    def __str__(self) -> str:
        when = "" if self.at_import_time else " (in a function)"
        return f"{self.importer}:{self.line} imports {self.target}{when}"


def modules_of(package_dir: Path) -> dict[str, Path]:
    """Dotted module name -> file, for every .py file of the package."""
    found: dict[str, Path] = {}
    for path in sorted(package_dir.rglob("*.py")):
        parts = list(path.relative_to(package_dir.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        found[".".join(parts)] = path
    return found


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


class _Walker(ast.NodeVisitor):
    def __init__(self, module: str, is_package: bool, known: Iterable[str], package: str):
        self.module = module
        self.is_package = is_package
        self.known = set(known)
        self.package = package
        self.depth = 0  # function bodies we are inside
        self.found: list[Import] = []

    def _in_function(self, node: ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda) -> None:
        # Decorators and default values run at import time; only the body waits.
        if not isinstance(node, ast.Lambda):
            for expr in [*node.decorator_list, *node.args.defaults, *node.args.kw_defaults]:
                if expr is not None:
                    self.visit(expr)
            body: list[ast.AST] = list(node.body)
        else:
            body = [node.body]
        self.depth += 1
        for child in body:
            self.visit(child)
        self.depth -= 1

    visit_FunctionDef = _in_function
    visit_AsyncFunctionDef = _in_function
    visit_Lambda = _in_function

    def visit_If(self, node: ast.If) -> None:
        if _is_type_checking(node.test):
            for child in node.orelse:  # the else branch does run
                self.visit(child)
            return
        self.generic_visit(node)

    def _add(self, target: str, node: ast.stmt) -> None:
        if target == self.package or target.startswith(self.package + "."):
            found = Import(self.module, node.lineno, target, self.depth == 0)
            if found not in self.found:  # `from m import a, b` is one import of m
                self.found.append(found)

    def visit_Import(self, node: ast.Import) -> None:
        for alias in node.names:
            self._add(alias.name, node)

    def visit_ImportFrom(self, node: ast.ImportFrom) -> None:
        if node.level:
            here = self.module.split(".")
            if not self.is_package:
                here.pop()
            base_parts = here[: len(here) - (node.level - 1)]
            base = ".".join([*base_parts, *([node.module] if node.module else [])])
        else:
            base = node.module or ""
        for alias in node.names:
            # `from pkg import mod` imports the module pkg.mod; `from mod import name`
            # imports mod.
            sub = f"{base}.{alias.name}"
            self._add(sub if sub in self.known else base, node)


def imports_of(package_dir: Path) -> list[Import]:
    modules = modules_of(package_dir)
    found: list[Import] = []
    for module, path in modules.items():
        walker = _Walker(module, path.name == "__init__.py", modules, package_dir.name)
        walker.visit(ast.parse(path.read_text(encoding="utf-8"), filename=str(path)))
        found.extend(walker.found)
    return found


# -- the checks -------------------------------------------------------------------------


def cycles(edges: Mapping[str, Iterable[str]]) -> list[list[str]]:
    """Strongly connected components of more than one node (Tarjan, iterative)."""
    nodes = set(edges) | {t for ts in edges.values() for t in ts}
    graph = {n: sorted(set(edges.get(n, ()))) for n in sorted(nodes)}
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    for start in graph:
        if start in index:
            continue
        work = [(start, 0)]
        while work:
            node, i = work.pop()
            if i == 0:
                index[node] = low[node] = len(index)
                stack.append(node)
                on_stack.add(node)
            if i < len(graph[node]):
                work.append((node, i + 1))
                nxt = graph[node][i]
                if nxt not in index:
                    work.append((nxt, 0))
                elif nxt in on_stack:
                    low[node] = min(low[node], index[nxt])
                continue
            if low[node] == index[node]:
                component = []
                while True:
                    top = stack.pop()
                    on_stack.discard(top)
                    component.append(top)
                    if top == node:
                        break
                if len(component) > 1:
                    found.append(sorted(component))
            if work:
                parent = work[-1][0]
                low[parent] = min(low[parent], low[node])
    return sorted(found)


def layer_violations(imports: Iterable[Import], rules: Rules) -> list[str]:
    bad = []
    for imp in imports:
        target_unit = rules.unit_of(imp.target)
        if not rules.may_import(imp.importer, target_unit):
            bad.append(f"{imp}: {rules.unit_of(imp.importer)} -> {target_unit} is not allowed")
    return bad


def package_cycles(imports: Iterable[Import], rules: Rules) -> list[str]:
    edges: dict[str, set[str]] = defaultdict(set)
    witness: dict[tuple[str, str], Import] = {}
    for imp in imports:
        a, b = rules.unit_of(imp.importer), rules.unit_of(imp.target)
        if a != b:
            edges[a].add(b)
            witness.setdefault((a, b), imp)
    report = []
    for component in cycles(edges):
        inside = [
            str(witness[(a, b)]) for a in component for b in sorted(edges[a]) if b in component
        ]
        report.append(" <-> ".join(component) + "\n    " + "\n    ".join(inside))
    return report


def module_cycles(imports: Iterable[Import]) -> list[str]:
    edges: dict[str, set[str]] = defaultdict(set)
    lines: dict[tuple[str, str], Import] = {}
    for imp in imports:
        if imp.at_import_time and imp.importer != imp.target:
            edges[imp.importer].add(imp.target)
            lines.setdefault((imp.importer, imp.target), imp)
    report = []
    for component in cycles(edges):
        inside = [str(lines[(a, b)]) for a in component for b in sorted(edges[a]) if b in component]
        report.append(" <-> ".join(component) + "\n    " + "\n    ".join(inside))
    return report


def _fail(title: str, problems: list[str]) -> None:
    if problems:
        pytest.fail(f"{title} ({len(problems)}):\n  " + "\n  ".join(problems), pytrace=False)


# -- the real tree ----------------------------------------------------------------------


def test_the_rules_themselves_point_one_way() -> None:
    edges = {unit: set(targets) for unit, targets in ALLOWED.items()}
    for root, (extra, _why) in ROOTS.items():
        edges[RULES.unit_of(root)] |= extra
    assert cycles(edges) == []
    assert ALLOWED["model"] == frozenset()
    for unit, targets in ALLOWED.items():
        assert "tui" not in targets or unit == "cli", unit
        assert "commands" not in targets or unit == "cli", unit
    assert set(UNITS.values()) == set(ALLOWED)


def test_every_module_belongs_to_a_unit() -> None:
    for module in modules_of(PACKAGE_DIR):
        RULES.unit_of(module)
    for root in ROOTS:
        assert root in modules_of(PACKAGE_DIR), f"ROOTS names {root}, which no longer exists"


def test_each_composition_root_uses_what_it_is_allowed() -> None:
    """An extra edge a root no longer takes is removed from ROOTS, so the table stays
    the list of places that really wire concrete parts."""
    used: dict[str, set[str]] = defaultdict(set)
    for imp in imports_of(PACKAGE_DIR):
        used[imp.importer].add(RULES.unit_of(imp.target))
    unused = [
        f"{root}: {sorted(extra - used[root])}"
        for root, (extra, _why) in ROOTS.items()
        if extra - used[root]
    ]
    _fail("ROOTS entries no longer needed", unused)


def test_packages_import_in_the_design_direction() -> None:
    _fail("imports against ../shared/DESIGN.md", layer_violations(imports_of(PACKAGE_DIR), RULES))


def test_no_cycle_between_packages() -> None:
    _fail("package cycles", package_cycles(imports_of(PACKAGE_DIR), RULES))


def test_no_cycle_between_modules_at_import_time() -> None:
    _fail("module cycles at import time", module_cycles(imports_of(PACKAGE_DIR)))


# -- the checker, on synthetic packages -------------------------------------------------


def _package(tmp_path: Path, files: dict[str, str]) -> Path:
    root = tmp_path / "pkg"
    for name, text in {"__init__.py": "", **files}.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        for parent in path.relative_to(root).parents:
            (root / parent / "__init__.py").touch()
        path.write_text(text, encoding="utf-8")
    return root


_TOY = Rules(
    "pkg",
    {"pkg": "root", "pkg.model": "model", "pkg.engine": "engine", "pkg.tui": "tui"},
    {
        "root": frozenset(),
        "model": frozenset(),
        "engine": frozenset({"model"}),
        "tui": frozenset({"model", "engine"}),
    },
)


def test_walker_sees_each_kind_of_import(tmp_path: Path) -> None:
    root = _package(
        tmp_path,
        {
            "model/records.py": "",
            "model/errors.py": "",
            "engine/core.py": (
                "from __future__ import annotations\n"
                "import os\n"
                "from typing import TYPE_CHECKING\n"
                "import pkg.model.records\n"  # line 4
                "from pkg.model import errors\n"  # line 5: the module pkg.model.errors
                "from ..model.records import Event\n"  # line 6: relative
                "if TYPE_CHECKING:\n"
                "    from pkg.tui.app import App\n"  # never runs: left out
                "else:\n"
                "    from pkg.model import records\n"  # line 10: the else branch runs
                "def late():\n"
                "    from pkg.tui import app\n"  # line 12: in a function
                "class K:\n"
                "    from pkg import model\n"  # line 14: class bodies run at import
            ),
            "tui/app.py": "",
        },
    )
    found = {(i.importer, i.line, i.target, i.at_import_time) for i in imports_of(root)}
    core = "pkg.engine.core"
    assert found == {
        (core, 4, "pkg.model.records", True),
        (core, 5, "pkg.model.errors", True),
        (core, 6, "pkg.model.records", True),
        (core, 10, "pkg.model.records", True),
        (core, 12, "pkg.tui.app", False),
        (core, 14, "pkg.model", True),
    }


def test_a_forbidden_edge_names_module_line_and_target(tmp_path: Path) -> None:
    root = _package(
        tmp_path,
        {"model/records.py": "from pkg.engine import core\n", "engine/core.py": ""},
    )
    problems = layer_violations(imports_of(root), _TOY)
    assert problems == [
        "pkg.model.records:1 imports pkg.engine.core: model -> engine is not allowed"
    ]


def test_a_function_level_import_still_counts_for_the_direction(tmp_path: Path) -> None:
    root = _package(
        tmp_path,
        {"engine/core.py": "def f():\n    import pkg.tui.app\n", "tui/app.py": ""},
    )
    problems = layer_violations(imports_of(root), _TOY)
    assert problems == [
        "pkg.engine.core:2 imports pkg.tui.app (in a function): engine -> tui is not allowed"
    ]


def test_a_type_checking_import_is_allowed(tmp_path: Path) -> None:
    root = _package(
        tmp_path,
        {
            "engine/core.py": "import typing\nif typing.TYPE_CHECKING:\n    import pkg.tui.app\n",
            "tui/app.py": "import pkg.engine.core\n",
        },
    )
    imports = imports_of(root)
    assert layer_violations(imports, _TOY) == []
    assert package_cycles(imports, _TOY) == []
    assert module_cycles(imports) == []


def test_a_composition_root_may_import_more(tmp_path: Path) -> None:
    root = _package(tmp_path, {"model/wire.py": "import pkg.engine.core\n", "engine/core.py": ""})
    assert layer_violations(imports_of(root), _TOY) != []
    roots = {"pkg.model.wire": (frozenset({"engine"}), "a test root")}
    with_root = Rules(_TOY.package, _TOY.units, _TOY.allowed, roots)
    assert layer_violations(imports_of(root), with_root) == []


def test_a_package_cycle_is_printed_with_its_imports(tmp_path: Path) -> None:
    root = _package(
        tmp_path,
        {
            "engine/core.py": "def f():\n    from pkg.tui import app\n",
            "tui/app.py": "from pkg.engine import core\n",
        },
    )
    problems = package_cycles(imports_of(root), _TOY)
    assert problems == [
        "engine <-> tui\n"
        "    pkg.engine.core:2 imports pkg.tui.app (in a function)\n"
        "    pkg.tui.app:1 imports pkg.engine.core"
    ]


def test_a_module_cycle_at_import_time_fails(tmp_path: Path) -> None:
    root = _package(
        tmp_path,
        {
            "engine/a.py": "from pkg.engine import b\n",
            "engine/b.py": "import pkg.engine.c\n",
            "engine/c.py": "from .a import thing\n",
            "engine/d.py": "import pkg.engine.a\n",  # points into the circle, not part of it
        },
    )
    problems = module_cycles(imports_of(root))
    assert problems == [
        "pkg.engine.a <-> pkg.engine.b <-> pkg.engine.c\n"
        "    pkg.engine.a:1 imports pkg.engine.b\n"
        "    pkg.engine.b:1 imports pkg.engine.c\n"
        "    pkg.engine.c:1 imports pkg.engine.a"
    ]


def test_a_function_level_import_breaks_a_module_cycle(tmp_path: Path) -> None:
    root = _package(
        tmp_path,
        {
            "engine/a.py": "from pkg.engine import b\n",
            "engine/b.py": "def f():\n    from pkg.engine import a\n",
        },
    )
    assert module_cycles(imports_of(root)) == []


def test_cycles_finds_each_component() -> None:
    edges = {"a": ["b"], "b": ["a", "c"], "c": ["d"], "d": ["c"], "e": ["e"], "f": ["a"]}
    assert cycles(edges) == [["a", "b"], ["c", "d"]]
