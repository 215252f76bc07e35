"""`json.encode` (pure Lua, in json.lua) and `json.decode` (here).

Safe in a dry run. The input is capped (JSON_DECODE_MAX) and charged to the run's
host memory budget: the decoded value lives in Python until it becomes a Lua table.
"""

from __future__ import annotations

from typing import Any

from sloth_tui.lua.context import RunContext
from sloth_tui.lua.convert import loads, to_lua
from sloth_tui.lua.limits import JSON_DECODE_MAX
from sloth_tui.lua.modules.base import SAFE, HostCall, HostModule, lua_file


def decode(ctx: RunContext, text: str) -> Any:
    """value | (None, error) | (None, error, "host_memory")."""
    if len(text) > JSON_DECODE_MAX:
        return None, f"json.decode: input larger than {JSON_DECODE_MAX} bytes"
    if refused := ctx.charge(len(text), "json.decode", None):
        return refused
    try:
        return to_lua(ctx.lua, loads(text))
    except (ValueError, RecursionError) as exc:
        return None, f"json.decode: {exc}"


JSON = HostModule(
    name="json",
    calls={
        "decode": HostCall(
            decode, dry_run=SAFE, failure=lambda message: (None, f"json.decode: {message}")
        )
    },
    limits=("host_memory",),
    lua=lua_file(__name__, "json.lua"),
    doc="JSON text to Lua tables and back",
)
