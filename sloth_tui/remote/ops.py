"""The requests a socket client can make: plain event lines and `op` requests.

Each handler takes the engine and the decoded request and returns the reply
dict (without `ok`, added by the caller). Arguments are checked here so a bad
request gets a one-line reason, never a traceback.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from sloth_tui.engine.engine import Engine
from sloth_tui.model.records import EXEC_STATUSES, Event, Hook
from sloth_tui.remote.protocol import ProtocolError, filter_from_wire

Handler = Callable[[Engine, dict[str, Any]], Awaitable[dict[str, Any]]]

EVENT_FIELDS = frozenset({"type", "data", "source", "strict", "ref"})
# Sources a client may claim; the engine's own (system, hook:*, watcher:*) are not forgeable.
CLIENT_SOURCES = frozenset({"socket", "cli", "dashboard", "demo"})
HOOK_CHANGES: dict[str, type | tuple[type, ...]] = {
    "events": list,
    "description": str,
    "file": str,
    "timeout": (int, float),
    "enabled": bool,
    "max_instructions": int,
    "max_memory_mb": int,
}


def _get(req: dict[str, Any], key: str, kind: type | tuple[type, ...], default: Any = ...) -> Any:
    if key not in req or req[key] is None:
        if default is ...:
            raise ProtocolError(f"op {req.get('op')}: missing {key!r}")
        return default
    value = req[key]
    bad_bool = isinstance(value, bool) and kind in (int, float, (int, float))
    if not isinstance(value, kind) or bad_bool:
        names = kind.__name__ if isinstance(kind, type) else " or ".join(k.__name__ for k in kind)
        raise ProtocolError(f"op {req.get('op')}: {key!r} must be {names}")
    if isinstance(value, int) and not -(2**63) <= value < 2**63:  # SQLite's integers
        raise ProtocolError(f"op {req.get('op')}: {key!r} is out of range")
    return value


def _source(req: dict[str, Any]) -> str:
    source = req.get("source", "socket")
    if not isinstance(source, str) or not (
        source in CLIENT_SOURCES or (source.startswith("socket:") and len(source) > 7)
    ):
        raise ProtocolError(
            f"source {source!r} is not allowed (use socket, socket:NAME, cli or dashboard)"
        )
    return source


def _type(req: dict[str, Any]) -> str:
    """The engine words a bad type itself; only its absence is said here."""
    if "type" not in req:
        raise ProtocolError('an event line needs a "type" (or a request needs an "op")')
    return req["type"]


EventArgs = tuple[Any, Any, str, bool | None]  # (type, data, source, strict)


def event_line(req: dict[str, Any]) -> EventArgs:
    """A plain event line, {"type": ..., "data": {...}}, checked for engine.dispatch_batch."""
    unknown = set(req) - EVENT_FIELDS
    if unknown:
        raise ProtocolError(
            f"unknown field {sorted(unknown)[0]!r} (an event line has type, data, "
            "and optionally source, strict, ref; requests have an op)"
        )
    return _type(req), req.get("data"), _source(req), _get(req, "strict", bool, None)


async def _dispatch(engine: Engine, req: dict[str, Any]) -> dict[str, Any]:
    # No parent_id: chained events come from hooks inside the engine, and they skip
    # the queue bound, which a client must not be able to do.
    kwargs: dict[str, Any] = {"source": _source(req), "strict": _get(req, "strict", bool, None)}
    if _get(req, "wait", bool, False):
        event, executions = await engine.dispatch_and_run(_type(req), req.get("data"), **kwargs)
        return {
            "id": event.id,
            "event": event.to_dict(),
            "executions": [e.to_dict() for e in executions],
        }
    event = await engine.dispatch(_type(req), req.get("data"), **kwargs)
    return {"id": event.id, "event": event.to_dict()}


async def _rerun(engine: Engine, req: dict[str, Any]) -> dict[str, Any]:
    hooks = _patterns(req, "hooks") if req.get("hooks") is not None else None
    event, executions = await engine.rerun(_get(req, "id", int), hooks)
    return {
        "id": event.id,
        "event": event.to_dict(),
        "executions": [e.to_dict() for e in executions],
    }


async def _get_event(engine: Engine, req: dict[str, Any]) -> dict[str, Any]:
    return {"event": (await engine.get_event(_get(req, "id", int))).to_dict()}


def _events(events: list[Event]) -> dict[str, Any]:
    return {"events": [e.to_dict() for e in events]}


async def _query_events(engine: Engine, req: dict[str, Any]) -> dict[str, Any]:
    limit = _get(req, "limit", int, 100)
    if not 0 < limit <= 100_000:
        raise ProtocolError("op query_events: 'limit' must be between 1 and 100000")
    kwargs = {
        "before_id": _get(req, "before_id", int, None),
        "after_id": _get(req, "after_id", int, None),
        "since": _get(req, "since", (int, float), None),
        "until": _get(req, "until", (int, float), None),
    }
    return _events(
        await engine.query_events(filter_from_wire(req.get("filter")), limit=limit, **kwargs)
    )


async def _count_events(engine: Engine, req: dict[str, Any]) -> dict[str, Any]:
    return {"count": await engine.count_events(filter_from_wire(req.get("filter")))}


async def _child_events(engine: Engine, req: dict[str, Any]) -> dict[str, Any]:
    return _events(await engine.child_events(_get(req, "id", int)))


async def _executions_of(engine: Engine, req: dict[str, Any]) -> dict[str, Any]:
    runs = await engine.executions_of(_get(req, "event_id", int))
    return {"executions": [e.to_dict() for e in runs]}


async def _executions(engine: Engine, req: dict[str, Any]) -> dict[str, Any]:
    status = _get(req, "status", str, None)
    if status is not None and status not in EXEC_STATUSES:
        raise ProtocolError(f"op executions: unknown status {status!r}")
    runs = await engine.executions(
        hook=_get(req, "hook", str, None),
        event_id=_get(req, "event_id", int, None),
        status=status,
        only_failed=_get(req, "only_failed", bool, False),
        include_dry_runs=_get(req, "include_dry_runs", bool, True),
        before_id=_get(req, "before_id", int, None),
        limit=_get(req, "limit", int, 100),
    )
    return {"executions": [e.to_dict() for e in runs]}


async def _hook_outcomes(engine: Engine, req: dict[str, Any]) -> dict[str, Any]:
    ids = _get(req, "ids", list)
    if len(ids) > 10_000 or not all(type(i) is int for i in ids):
        raise ProtocolError("op hook_outcomes: 'ids' must be a list of at most 10000 ints")
    outcomes = await engine.hook_outcomes(ids)
    return {"outcomes": {str(i): [list(pair) for pair in runs] for i, runs in outcomes.items()}}


async def _delete_event(engine: Engine, req: dict[str, Any]) -> dict[str, Any]:
    await engine.delete_event(_get(req, "id", int))
    return {}


async def _cleanup(engine: Engine, req: dict[str, Any]) -> dict[str, Any]:
    return {"deleted": await engine.cleanup(float(_get(req, "older_than", (int, float))))}


async def _counts(engine: Engine, req: dict[str, Any]) -> dict[str, Any]:
    return await engine.counts()


async def _list_hooks(engine: Engine, req: dict[str, Any]) -> dict[str, Any]:
    return {"hooks": [h.to_dict() for h in await engine.list_hooks()]}


async def _get_hook(engine: Engine, req: dict[str, Any]) -> dict[str, Any]:
    return {"hook": (await engine.get_hook(_get(req, "name", str))).to_dict()}


def _patterns(req: dict[str, Any], key: str = "events") -> list[str]:
    events = _get(req, key, list)
    if not all(isinstance(p, str) for p in events):
        raise ProtocolError(f"op {req.get('op')}: {key!r} must be a list of strings")
    return events


async def _add_hook(engine: Engine, req: dict[str, Any]) -> dict[str, Any]:
    hook = await engine.add_hook(
        _get(req, "name", str),
        _patterns(req),
        _get(req, "file", str),
        description=_get(req, "description", str, ""),
        enabled=_get(req, "enabled", bool, True),
        timeout=_get(req, "timeout", (int, float), None),
        max_instructions=_get(req, "max_instructions", int, None),
        max_memory_mb=_get(req, "max_memory_mb", int, None),
    )
    return {"hook": hook.to_dict()}


async def _update_hook(engine: Engine, req: dict[str, Any]) -> dict[str, Any]:
    changes = _get(req, "changes", dict)
    unknown = set(changes) - HOOK_CHANGES.keys()
    if unknown:
        raise ProtocolError(
            f"op update_hook: cannot change {sorted(unknown)[0]!r} "
            f"(changeable: {', '.join(sorted(HOOK_CHANGES))})"
        )
    for key, kind in HOOK_CHANGES.items():
        if key in changes:
            _get(changes | {"op": "update_hook"}, key, kind)
    if "events" in changes:
        changes["events"] = _patterns(changes | {"op": "update_hook"})
    hook = await engine.update_hook(_get(req, "name", str), **changes)
    return {"hook": hook.to_dict()}


async def _set_hook_enabled(engine: Engine, req: dict[str, Any]) -> dict[str, Any]:
    hook = await engine.set_hook_enabled(_get(req, "name", str), _get(req, "enabled", bool))
    return {"hook": hook.to_dict()}


async def _delete_hook(engine: Engine, req: dict[str, Any]) -> dict[str, Any]:
    await engine.delete_hook(_get(req, "name", str))
    return {}


async def _hook_stats(engine: Engine, req: dict[str, Any]) -> dict[str, Any]:
    return {"stats": {name: s.to_dict() for name, s in (await engine.hook_stats()).items()}}


async def _test_hook(engine: Engine, req: dict[str, Any]) -> dict[str, Any]:
    raw = _get(req, "hook", (str, dict))
    hook: Hook | str = raw
    if isinstance(raw, dict):
        try:
            hook = Hook.from_dict(raw)
        except (KeyError, TypeError, ValueError) as exc:
            raise ProtocolError(f"op test_hook: bad hook object ({exc})") from None
    event = None
    if (raw_event := _get(req, "event", dict, None)) is not None:
        try:
            event = Event.from_dict(raw_event)
        except (KeyError, TypeError, ValueError) as exc:
            raise ProtocolError(f"op test_hook: bad event object ({exc})") from None
    execution = await engine.test_hook(
        hook,
        _get(req, "event_type", str, None),
        _get(req, "data", dict, None),
        event=event,
        code=_get(req, "code", str, None),
    )
    return {"execution": execution.to_dict()}


async def _stats(engine: Engine, req: dict[str, Any]) -> dict[str, Any]:
    return {"stats": engine.stats().to_dict()}


async def _wait_idle(engine: Engine, req: dict[str, Any]) -> dict[str, Any]:
    timeout = float(_get(req, "timeout", (int, float), 30.0))
    return {"idle": await engine.wait_idle(min(timeout, 600.0))}


OPS: dict[str, Handler] = {
    "dispatch": _dispatch,
    "rerun": _rerun,
    "get_event": _get_event,
    "query_events": _query_events,
    "count_events": _count_events,
    "child_events": _child_events,
    "executions_of": _executions_of,
    "executions": _executions,
    "hook_outcomes": _hook_outcomes,
    "delete_event": _delete_event,
    "cleanup": _cleanup,
    "counts": _counts,
    "list_hooks": _list_hooks,
    "get_hook": _get_hook,
    "add_hook": _add_hook,
    "update_hook": _update_hook,
    "set_hook_enabled": _set_hook_enabled,
    "delete_hook": _delete_hook,
    "hook_stats": _hook_stats,
    "test_hook": _test_hook,
    "stats": _stats,
    "wait_idle": _wait_idle,
}

# The notice kinds a subscriber may ask for.
NOTICE_KINDS = frozenset(
    {"event", "event_status", "execution", "hooks", "stats", "dropped", "shutdown"}
)
