"""What a Lua host module is: one descriptor the worker and the sandbox read.

A host module is a global a hook can call (`log`, `http`, `state`...). Its
descriptor says everything the runtime needs to wire it, so adding one is one
Python file (plus, when it needs one, a Lua wrapper beside it) and one line in
the registry (modules/__init__.py):

- `name`: the Lua global.
- `calls`: the Python functions its Lua side may call, each with what a dry run
  calls instead (or SAFE when the real function is harmless in a dry run) and
  what Lua gets when the function itself fails.
- `lua`: the wrapper's source. The wrapper is privileged Lua, loaded once per
  LuaRuntime with (bridge, kit): bridge holds the calls by name, kit the shared
  helpers (kit.lua). It returns its exports: `lib`, the table hooks see as the
  global `name` (copied fresh into every run's environment); `globals`, extra
  base-level functions (log's `print`); `make_event`, from the one module that
  builds the run's `event`. Without a wrapper the module gets the plain one
  (PLAIN below).
- `limits`: the Limits fields that bound it (checked against Limits; shown to
  operators and in docs). The run's deadline, instruction count and Lua heap
  bound every module; list the ones the module's own code enforces.

A call with a wrapper (`lua` set) receives whatever its wrapper passes, after
the run's context: `run(ctx, *args)`, and answers plain values the wrapper
understands. It must not raise on purpose: lupa would hand a Python exception to
Lua as an object; the worker catches what escapes and answers `failure(message)`.

A plain module (no `lua`) needs no Lua at all. Its calls take JSON values
(tables arrive decoded, strings repaired to UTF-8, their size charged to the
run's host memory budget) and return a JSON value, or raise HostError(message)
for `nil, "<module>.<call>: message"` in Lua. Functions and other non-data
values are refused at the hook's line.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from importlib import resources
from typing import TYPE_CHECKING, Any, Final, Literal

from sloth_tui.lua.convert import jsonable, loads, to_lua
from sloth_tui.lua.limits import Limits

if TYPE_CHECKING:
    from sloth_tui.lua.context import RunContext

# A call as the worker's bridge invokes it: the run's context, then Lua's values.
Handler = Callable[..., Any]

SAFE: Final = "safe"  # HostCall.dry_run: the real call is harmless in a dry run

_LIMIT_FIELDS = frozenset(f.name for f in dataclasses.fields(Limits))
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")  # fullmatch
_LUA_KEYWORDS = frozenset(
    {
        "and", "break", "do", "else", "elseif", "end", "false", "for", "function", "goto",
        "if", "in", "local", "nil", "not", "or", "repeat", "return", "then", "true", "until",
        "while",
    }
)  # fmt: skip
# Globals the sandbox itself defines: a module may not shadow them.
RESERVED: Final = frozenset(
    {
        "_G", "_ENV", "_VERSION", "assert", "error", "ipairs", "next", "pairs", "select",
        "tonumber", "tostring", "type", "rawequal", "rawget", "rawlen", "rawset",
        "getmetatable", "setmetatable", "pcall", "xpcall", "load", "unpack", "string",
        "table", "math", "utf8", "os", "coroutine", "on_event",
    }
)  # fmt: skip


class HostError(Exception):
    """Raised by a plain module's call: the hook gets `nil, "<module>.<call>: <message>"`."""


def _nil_error(message: str) -> tuple[None, str]:
    return None, message


@dataclass(frozen=True, slots=True)
class HostCall:
    """One Python function a module's Lua side calls."""

    run: Handler  # the real call: run(ctx, *args)
    # What a dry run calls instead, with the same arguments (it records what it would
    # have done in ctx.calls and answers as the real call would), or SAFE.
    dry_run: Handler | Literal["safe"]
    # What Lua gets when the call raises (the message is "internal error: ...").
    failure: Callable[[str], Any] = _nil_error

    def for_dry_run(self) -> Handler:
        return self.run if self.dry_run == SAFE else self.dry_run


@dataclass(frozen=True)
class HostModule:
    name: str  # the Lua global
    calls: Mapping[str, HostCall]
    limits: tuple[str, ...] = ()  # Limits fields its own code enforces
    lua: str | None = None  # the wrapper's source (lua_file); None: the plain wrapper
    doc: str = ""  # one line for operators: what hooks use it for
    # Other globals its wrapper adds (`globals` export), so the registry can refuse clashes.
    provides: tuple[str, ...] = field(default=())

    def __post_init__(self) -> None:
        for name in (self.name, *self.provides):
            if not _NAME.fullmatch(name) or name in _LUA_KEYWORDS:
                raise ValueError(f"host module {self.name!r}: {name!r} is not a Lua name")
            if name in RESERVED:
                raise ValueError(f"host module {self.name!r}: {name!r} is a sandbox global")
        if not self.calls:
            raise ValueError(f"host module {self.name!r}: no calls")
        if self.provides and self.lua is None:
            raise ValueError(f"host module {self.name!r}: only a Lua wrapper can add globals")
        for call in self.calls:
            if not _NAME.fullmatch(call) or call in _LUA_KEYWORDS:
                raise ValueError(f"host module {self.name!r}: call {call!r} is not a Lua name")
        unknown = [limit for limit in self.limits if limit not in _LIMIT_FIELDS]
        if unknown:
            raise ValueError(f"host module {self.name!r}: unknown limits {unknown}")

    @property
    def globals(self) -> tuple[str, ...]:
        """Every global name this module puts in a hook's environment."""
        return (self.name, *self.provides)

    def bridged(self) -> dict[str, tuple[Handler, Handler, Callable[[str], Any]]]:
        """Per call: (real, dry run, failure), as the worker's bridge calls them."""
        if self.lua is not None:
            return {n: (c.run, c.for_dry_run(), c.failure) for n, c in self.calls.items()}
        return {
            n: (
                plain_bridge(self.name, n, c.run),
                plain_bridge(self.name, n, c.for_dry_run()),
                plain_failure(self.name, n),
            )
            for n, c in self.calls.items()
        }


def lua_file(module: str, filename: str) -> str:
    """The text of a Lua wrapper shipped beside the Python module `module` (pass
    `__name__`): read once, at import, like the rest of the privileged Lua."""
    package = module.rpartition(".")[0] or module
    return resources.files(package).joinpath(filename).read_text("utf-8")


# What every wrapper is given (its second argument), and the plain wrapper's Lua half.
KIT: Final = lua_file(__name__, "kit.lua")


# -- the plain wrapper's Python half -------------------------------------------------


def plain_bridge(module: str, name: str, fn: Handler) -> Handler:
    """`fn` (JSON values in, a JSON value out) as kit.lua's plain wrapper calls it:
    (ctx, tags, *args) -> (True, value, None) | (False, error, limit-or-None).

    `tags` says what each argument was: "t" a table (JSON text), "s" a string,
    "v" a number, boolean or nil."""
    label = f"{module}.{name}"

    def call(ctx: RunContext, tags: str, *args: Any) -> Any:
        size = sum(len(a) for a, t in zip(args, tags, strict=False) if t != "v")
        if refused := ctx.charge(size, label, False):
            return refused
        values = [loads(a) if t == "t" else a for a, t in zip(args, tags, strict=False)]
        try:
            result = fn(ctx, *values)
        except HostError as exc:
            return False, f"{label}: {exc}", None
        return True, to_lua(ctx.lua, jsonable(result)), None

    return call


def plain_failure(module: str, name: str) -> Callable[[str], Any]:
    label = f"{module}.{name}"
    return lambda message: (False, f"{label}: {message}", None)
