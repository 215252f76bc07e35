"""Values across the Lua boundary, and Lua error messages.

Lua -> Python: tables arrive as JSON text made by encode.lua (arrays are keys
1..n, the empty table is {}), decoded here. Python -> Lua: JSON-shaped values
become Lua tables through `table_from(recursive=True)`; JSON null becomes nil.
Nothing but plain data ever reaches hook code: a Python object would be a
userdata handle into the interpreter.
"""

from __future__ import annotations

import json
import re
from typing import Any

_INT_MIN, _INT_MAX = -(2**63), 2**63 - 1
# "name:12: message" - any chunk, including ones a hook loaded itself.
_POSITIONED = re.compile(r"^[^\n]*?:\d+: ")


def _lua_int(text: str) -> int | float:
    value = int(text)
    return value if _INT_MIN <= value <= _INT_MAX else float(value)  # Lua integers are 64-bit


def loads(text: str) -> Any:
    """Decode JSON into values that fit Lua (integers beyond 64 bits become floats)."""
    return json.loads(text, parse_int=_lua_int)


_SCALARS = frozenset({str, bool, float, type(None)})


def _plain(value: Any, depth: int = 0) -> bool:
    """Only JSON types (exact types: a str subclass could carry anything)."""
    kind = type(value)
    if kind in _SCALARS:
        return True
    if kind is int:
        fits: bool = _INT_MIN <= value <= _INT_MAX
        return fits
    if depth > 64:
        return False
    if kind is dict:
        for key, item in value.items():
            if type(key) is not str or (type(item) not in _SCALARS and not _plain(item, depth + 1)):
                return False
        return True
    if kind is list:
        return all(type(item) in _SCALARS or _plain(item, depth + 1) for item in value)
    return False


def jsonable(value: Any) -> Any:
    """`value` as plain JSON data: a cheap check, and a round trip only when it fails."""
    if _plain(value):
        return value
    return loads(json.dumps(value, default=str))


def to_lua(lua: Any, value: Any) -> Any:
    """A plain value for Lua: dicts and lists become Lua tables."""
    if isinstance(value, dict | list):
        return lua.table_from(value, recursive=True)
    return value


def integral(value: Any) -> Any:
    """2.0 -> 2, so state.incr counters print as "2" in Lua, not "2.0"."""
    if isinstance(value, float) and value.is_integer() and abs(value) < 2**53:
        return int(value)
    return value


def clip(text: str, limit: int) -> str:
    if len(text) <= limit:
        return text
    return text[:limit] + f"…[{len(text) - limit} more characters]"


def position(message: str, line: int | None, chunkname: str) -> tuple[str, int | None]:
    """The error message with a `name:line:` prefix, and that line as an int.

    Lua's own messages carry the position; errors raised with level 0 (or from
    inside the sandbox's helpers) get the hook's innermost line prepended.
    """
    prefix = f"{chunkname}:"
    if message.startswith(prefix):
        digits, sep, _ = message[len(prefix) :].partition(":")
        if sep and digits.isdigit():
            return message, int(digits)
    if line is not None and not _POSITIONED.match(message):
        message = f"{chunkname}:{line}: {message}"
    return message, line
