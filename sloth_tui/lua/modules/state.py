"""`state.get/set/delete/incr`: JSON values kept per hook by the host; and
`state.lock/unlock`: mutual exclusion between concurrent runs (state_locks.py).

A dry run writes nothing: its writes go to an overlay (kept for the run in
ctx.scratch) that its reads fall through to the host, and each call is recorded
with `dry_run = true`. Values written are charged to the run's host memory budget.
A dry run's locks are recorded and kept in the run (so its unlock answers as a real
one would) but take nothing: a test-fire never holds up a real run.

Events: state.locked when a run takes a lock, state.unlocked when it lets one go,
dispatched through the run's host, i.e. as children of the run's event, stored with
its commit (engine/effects.py). Not at once: an at-once store from a hook thread
would wait for the loop and for queue room that only hook runs free (a deadlock),
and a run that never commits leaves no trace anyway. Bounded: a run's first
LOCK_EVENTS_PER_RUN takes announce themselves, and only an announced lock's unlock
does; later calls still work. Opt-in state.created/updated/deleted (config
`state_events`: key prefixes) are recorded here, the value before the run's first
write of the key, and emitted by the engine at the run's end from its final write
(engine/state_run.py): one per key per run, never per incr.
"""

from __future__ import annotations

import contextlib
import math
from typing import Any

from sloth_tui.lua.context import RunContext
from sloth_tui.lua.convert import integral, jsonable, loads, to_lua
from sloth_tui.lua.modules.base import HostCall, HostModule, lua_file
from sloth_tui.lua.modules.state_locks import (
    KEY_MAX,
    LOCK_EVENTS_PER_RUN,
    STATE_EVENTS_PER_RUN,
    TTL_MAX,
    current,
)
from sloth_tui.lua.redact import redact_value

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
            value = redact_value(ctx.scratch, loads(value_json))  # never a secret at rest
            call["value"] = value
            if overlay is not None:
                overlay[key] = value
            else:
                _note_change(ctx, key)
                ctx.host.state_set(ctx.hook, key, value)
            result = True
        elif op in ("set", "delete"):  # set(key, nil) deletes
            call["fn"] = "state.delete"
            if overlay is not None:
                overlay[key] = _DELETED
            else:
                _note_change(ctx, key)
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


def _note_change(ctx: RunContext, key: str) -> None:
    """Before a real write: an opted-in key's value before the run first wrote it."""
    scope = current()
    if scope is None or key in scope.changes or not scope.watches(key):
        return
    if len(scope.changes) < STATE_EVENTS_PER_RUN:
        # A damaged value (state.corrupted said so): the write goes on, and replacing it
        # is no change an event could describe.
        with contextlib.suppress(Exception):
            scope.changes[key] = ctx.host.state_get(ctx.hook, key)


def _read(ctx: RunContext, overlay: dict[str, Any] | None, key: str) -> Any:
    if overlay is not None and key in overlay:
        value = overlay[key]
        return None if value is _DELETED else value
    return ctx.host.state_get(ctx.hook, key)


# -- state.lock / state.unlock -------------------------------------------------------


def _lock_args(op: str, key: Any, ttl: Any) -> str | None:
    """Why the arguments are refused, or None. The Lua side checked the types."""
    if not isinstance(key, str) or not key:
        return "key must be a non-empty string"
    if len(key) > KEY_MAX:
        return f"key is longer than {KEY_MAX} characters"
    if op == "lock":
        if isinstance(ttl, bool) or not isinstance(ttl, int | float) or not math.isfinite(ttl):
            return f"ttl must be a number of seconds (0 < ttl <= {TTL_MAX:g})"
        if not 0 < ttl <= TTL_MAX:
            return f"ttl must be more than 0 and at most {TTL_MAX:g} seconds, got {ttl:g}"
    return None


def lock_call(ctx: RunContext, op: str, key: Any, ttl: Any) -> tuple[bool, Any, Any]:
    """(True, lock_id | True, None) | (False, why, limit-or-None); never raises."""
    fn = f"state.{op}"
    if bad := _lock_args(op, key, ttl):
        return False, bad, None
    if refused := ctx.charge(len(key), fn, False):
        return refused  # type: ignore[no-any-return]
    call: dict[str, Any] = {"fn": fn, "key": key}
    scope = current()
    if scope is None:
        call["error"] = "locks are only available to hooks the engine runs"
        ctx.record(call)
        return False, call["error"], None
    if op == "lock":
        call["ttl"] = ttl
        lock_id, why = scope.table.acquire(key, float(ttl), scope)
    else:
        lock_id, why = scope.table.release(key, scope)
    if lock_id is None:
        call["error"] = why
        ctx.record(call)
        return False, why, None
    call["lock_id"] = lock_id
    shown = str(redact_value(ctx.scratch, key))  # a key built from a secret stays redacted
    if op == "lock" and lock_id not in scope.announced:
        if scope.lock_events < LOCK_EVENTS_PER_RUN:
            scope.lock_events += 1
            scope.announced[lock_id] = shown
            # Its parent is the run's event: the run is known from that.
            data = {"state_key": shown, "locked_by": ctx.hook, "lock_id": lock_id, "ttl": ttl}
            _announce(ctx, call, "state.locked", data)
        else:
            call["event"] = f"not emitted ({LOCK_EVENTS_PER_RUN} lock events per run)"
    elif op == "unlock" and lock_id in scope.announced:
        del scope.announced[lock_id]
        data = {"state_key": shown, "lock_id": lock_id, "unlocked_by": ctx.hook}
        _announce(ctx, call, "state.unlocked", data)
    ctx.record(call)
    return True, (lock_id if op == "lock" else True), None


def _announce(ctx: RunContext, call: dict[str, Any], kind: str, data: dict[str, Any]) -> None:
    """A child event of the run: a refusal (chain too deep, queue full, stopping) is
    noted in the call's record, and the lock call still answers as it went."""
    try:
        call["event_id"] = ctx.host.dispatch(kind, data, parent=ctx.event, source=ctx.source)
    except Exception as exc:
        call["event_error"] = str(exc) or type(exc).__name__


def dry_lock_call(ctx: RunContext, op: str, key: Any, ttl: Any) -> tuple[bool, Any, Any]:
    """Recorded, kept in the run (so unlock answers as it would), taking nothing."""
    fn = f"state.{op}"
    if bad := _lock_args(op, key, ttl):
        return False, bad, None
    if refused := ctx.charge(len(key), fn, False):
        return refused  # type: ignore[no-any-return]
    held: set[str] = ctx.scratch.setdefault("state.locks", set())
    call: dict[str, Any] = {"fn": fn, "key": key, "dry_run": True}
    if op == "lock":
        call["ttl"] = ttl
        held.add(key)
        ctx.record(call)
        return True, "dry-run", None
    if key not in held:
        call["error"] = f"{key!r} is not locked by this run"
        ctx.record(call)
        return False, call["error"], None
    held.discard(key)
    ctx.record(call)
    return True, True, None


STATE = HostModule(
    name="state",
    calls={
        "call": HostCall(call, dry_run=dry_call, failure=lambda message: (False, message)),
        "lock": HostCall(
            lock_call, dry_run=dry_lock_call, failure=lambda message: (False, message, None)
        ),
    },
    limits=("host_memory",),
    lua=lua_file(__name__, "state.lua"),
    doc="JSON values kept per hook across runs (a dry run's writes stay in the run), "
    "and locks shared by every hook's runs",
)
