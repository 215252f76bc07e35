"""The run's `event` table and `event.dispatch/dispatch_custom`.

The engine stores a dispatched event as the child of the run's event (its
parent_id and depth come from there). A dry run stores nothing: it records the
event it would have dispatched and answers `true`. Event data is charged to the
run's host memory budget.
"""

from __future__ import annotations

from typing import Any

from sloth_tui.lua.context import RunContext
from sloth_tui.lua.convert import loads
from sloth_tui.lua.modules.base import HostCall, HostModule, lua_file
from sloth_tui.lua.redact import redact_value
from sloth_tui.model.errors import EventRefused


def _begin(ctx: RunContext, fn: str, etype: str, data_json: str) -> Any:
    """The call's record, with `error` set when the data is not an object; or the
    budget's refusal (a tuple)."""
    if refused := ctx.charge(len(data_json), fn, None):
        return refused
    data = redact_value(ctx.scratch, loads(data_json))  # no secret leaves in an event
    call: dict[str, Any] = {
        "fn": fn, "type": etype, "data": data, "id": None, "error": None,
        "dry_run": ctx.dry_run,
    }  # fmt: skip
    if not isinstance(data, dict):
        call["error"] = "event data must be a table with named fields, not a list"
    return call


def dry_dispatch(ctx: RunContext, fn: str, etype: str, data_json: str) -> tuple[Any, Any]:
    call = _begin(ctx, fn, etype, data_json)
    if isinstance(call, tuple):
        return call
    ctx.record(call)
    if call["error"] is not None:
        return None, f"{fn}: {call['error']}"
    return True, None


def dispatch(ctx: RunContext, fn: str, etype: str, data_json: str) -> tuple[Any, Any]:
    """(True, id) | (None, error). The engine sets parent_id/depth from `parent`."""
    call = _begin(ctx, fn, etype, data_json)
    if isinstance(call, tuple):
        return call
    if call["error"] is not None:
        ctx.record(call)
        return None, f"{fn}: {call['error']}"
    try:
        new_id = ctx.host.dispatch(etype, call["data"], parent=ctx.event, source=ctx.source)
    except EventRefused as exc:
        call["error"] = str(exc)
        ctx.record(call)
        return None, str(exc)
    except Exception as exc:  # the host failing must not crash the hook
        call["error"] = f"dispatch failed: {exc or type(exc).__name__}"
        ctx.record(call)
        return None, call["error"]
    call["id"] = new_id
    ctx.record(call)
    return True, new_id


EVENT = HostModule(
    name="event",
    calls={
        "dispatch": HostCall(
            dispatch, dry_run=dry_dispatch, failure=lambda message: (None, f"dispatch: {message}")
        )
    },
    limits=("host_memory",),
    lua=lua_file(__name__, "event.lua"),
    doc="the event being handled; event.dispatch stores a follow-up event",
)
