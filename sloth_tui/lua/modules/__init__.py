"""The registry of Lua host modules: the globals hooks call into Python.

Each module is one descriptor (base.HostModule) in a file of its own here, with
its Lua wrapper beside it when it has one. The built-ins are the list below; a
new module is one file plus one line in that list, or, from outside the package
(plugins, tests), `register(MODULE)` (and `unregister(name)`).

Workers read the registry when they are built (worker.py: one bridge table and
one sandbox per LuaRuntime, reused run after run). A change bumps the registry's
generation, and a pool drops workers built from an older one, so a module is in
every run that starts after register() returns and in none after unregister().
"""

from __future__ import annotations

import threading

from sloth_tui.lua.modules.base import SAFE, HostCall, HostError, HostModule, lua_file
from sloth_tui.lua.modules.event import EVENT
from sloth_tui.lua.modules.file_ops import FILE_OPS
from sloth_tui.lua.modules.http import HTTP
from sloth_tui.lua.modules.json import JSON
from sloth_tui.lua.modules.log import LOG
from sloth_tui.lua.modules.secret import SECRET
from sloth_tui.lua.modules.state import STATE

__all__ = [
    "SAFE",
    "HostCall",
    "HostError",
    "HostModule",
    "generation",
    "lua_file",
    "modules",
    "register",
    "snapshot",
    "unregister",
]

_lock = threading.Lock()
_modules: list[HostModule] = [
    LOG,
    JSON,
    HTTP,
    STATE,
    EVENT,
    FILE_OPS,  # with upstream's `contains` global
    SECRET,
]
_generation = 0


def register(module: HostModule) -> None:
    """Add `module` to every run that starts from now on. ValueError when one of its
    globals is already taken by a registered module."""
    global _generation
    with _lock:
        taken = {name: m.name for m in _modules for name in m.globals}
        for name in module.globals:
            if name in taken:
                raise ValueError(
                    f"host module {module.name!r}: global {name!r} already comes from"
                    f" module {taken[name]!r}"
                )
        _modules.append(module)
        _generation += 1


def unregister(name: str) -> None:
    """Remove the module called `name` (no error when absent)."""
    global _generation
    with _lock:
        kept = [m for m in _modules if m.name != name]
        if len(kept) != len(_modules):
            _modules[:] = kept
            _generation += 1


def modules() -> tuple[HostModule, ...]:
    with _lock:
        return tuple(_modules)


def generation() -> int:
    """Bumped by every change: a worker built at an older generation is stale."""
    return _generation


def snapshot() -> tuple[int, tuple[HostModule, ...]]:
    """The generation and its modules, read together (what a new worker is built from)."""
    with _lock:
        return _generation, tuple(_modules)
