"""`state.get/set/delete/incr`: JSON values kept per hook by the host.

A dry run writes nothing: its writes go to an overlay (kept for the run in
ctx.scratch) that its reads fall through to the host, and each call is recorded
with `dry_run = true`. Values written are charged to the run's host memory budget.
"""

from __future__ import annotations

from typing import Any

from sloth_tui.lua.context import RunContext
from sloth_tui.lua.convert import integral, jsonable, loads, to_lua
from sloth_tui.lua.modules.base import HostCall, HostModule, lua_file

_DELETED = object()  # dry-run overlay: deleted in this run, do not fall through


def call(ctx: RunContext, op: str, key: str, value_json: str | None, by: Any) -> tuple[bool, Any]:
    """(True, value) | (False, error); the Lua side raises the error at the hook's line."""
    return _state(ctx, None, op, key, value_json, by)


def dry_call(
    ctx: RunContext, op: str, key: str, value_json: str | None, by: Any
) -> tuple[bool, Any]:
    overlay = ctx.scratch.get("state")
    if overlay is None:
        overlay = ctx.scratch["state"] = {}
    return _state(ctx, overlay, op, key, value_json, by)


def _state(
    ctx: RunContext,
    overlay: dict[str, Any] | None,
    op: str,
    key: str,
    value_json: str | None,
    by: Any,
) -> tuple[bool, Any]:
    if refused := ctx.charge(len(value_json or ""), f"state.{op}", False):
        return refused  # type: ignore[no-any-return]
    call: dict[str, Any] = {"fn": f"state.{op}", "key": key}
    try:
        if op == "get":
            value = jsonable(_read(ctx, overlay, key))
            call["value"] = value
            result = to_lua(ctx.lua, value)
        elif op == "set" and value_json is not None:
            value = loads(value_json)
            call["value"] = value
            if overlay is not None:
                overlay[key] = value
            else:
                ctx.host.state_set(ctx.hook, key, value)
            result = True
        elif op in ("set", "delete"):  # set(key, nil) deletes
            call["fn"] = "state.delete"
            if overlay is not None:
                overlay[key] = _DELETED
            else:
                ctx.host.state_delete(ctx.hook, key)
            result = True
        elif op == "incr":
            call["by"] = by
            if overlay is not None:
                current = _read(ctx, overlay, key)
                numeric = isinstance(current, int | float) and not isinstance(current, bool)
                base = current if numeric else 0
                value = base + by
                overlay[key] = value
            else:
                value = ctx.host.state_incr(ctx.hook, key, by)
            result = call["value"] = integral(value)
        else:
            return False, f"unknown state operation {op!r}"
    except Exception as exc:  # store closed, engine stopping...
        call["error"] = str(exc) or type(exc).__name__
        ctx.record(call)
        return False, call["error"]
    if overlay is not None:
        call["dry_run"] = True
    ctx.record(call)
    return True, result


def _read(ctx: RunContext, overlay: dict[str, Any] | None, key: str) -> Any:
    if overlay is not None and key in overlay:
        value = overlay[key]
        return None if value is _DELETED else value
    return ctx.host.state_get(ctx.hook, key)


STATE = HostModule(
    name="state",
    calls={"call": HostCall(call, dry_run=dry_call, failure=lambda message: (False, message))},
    limits=("host_memory",),
    lua=lua_file(__name__, "state.lua"),
    doc="JSON values kept per hook across runs; a dry run's writes stay in the run",
)
