"""The table of socket operations: one entry per EngineAPI method that crosses the wire.

Each `Op` says, once, how a call travels: the method's name, its parameters (Python
name, JSON field, how the server checks the field, the default when it is absent,
how the client encodes it), how the result goes to and from JSON, and whether a
client may retry it after a reconnect (a query). Both ends are derived from it:

- the server's handler for every op (`OPS`, by wire name, used by connection.py):
  check each field (a one-line ProtocolError otherwise), call the EngineAPI method
  by keyword, encode its result;
- RemoteEngine's methods (remote/client.py) are one-line stubs around
  `RemoteEngine._op(OP, **args)`, which encodes the request and decodes the reply
  from the same entry.

So a new operation is a method on EngineAPI and Engine, one `Op` here and one stub
in RemoteEngine; tests/engine/test_api_parity.py fails while one of them is missing.
The wire protocol is what it was in sources/ops.py (same op and field names, same
error messages); `dispatch` with `"wait": true` is the op dispatch_and_run travels as.

Plain event lines ({"type": ..., "data": ...}, no op) are checked by `event_line`
and go to EngineAPI.dispatch_batch in batches (connection.py).
"""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable
from dataclasses import MISSING as NO_DEFAULT
from dataclasses import dataclass
from dataclasses import fields as dataclass_fields
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from sloth_tui.model.errors import EventRefused
from sloth_tui.model.records import EXEC_STATUSES, Event, Execution, Hook
from sloth_tui.remote.protocol import ProtocolError, filter_from_wire, filter_to_wire
from sloth_tui.user_path import resolved, user_path

# The records of the other operations are imported by their decoders, when a reply of
# theirs arrives: a one-shot command (`event list`) then creates only the dataclasses it
# reads, and creating one is the costly part of importing a model module (issue 19).
# Hence `Result["Trace"]` below: a forward reference mypy resolves from this block.
if TYPE_CHECKING:
    from sloth_tui.engine.api import EngineAPI, EventLine, SyntaxProblem
    from sloth_tui.model.explain import HookVerdict
    from sloth_tui.model.filters import Filter
    from sloth_tui.model.fleet import FleetStatus
    from sloth_tui.model.mirror import MirrorBatch, MirrorResult
    from sloth_tui.model.replay import ReplayReport
    from sloth_tui.model.stats import EngineStats, HookStats, SourceHealth, SourceItem
    from sloth_tui.model.trace import Trace

R = TypeVar("R")


def stats_from_dict(d: dict[str, Any]) -> EngineStats:
    """EngineStats from its wire shape: a field it lacks (an older daemon's), or holds a
    value of another type (another program's), is its default, else 0. Here rather than
    in notices.py, so that a one-shot command does not load the notice stream's asyncio."""
    from sloth_tui.model.stats import EngineStats

    values: dict[str, Any] = {}
    for f in dataclass_fields(EngineStats):
        default = 0 if f.default is NO_DEFAULT else f.default
        value = d.get(f.name, default)
        wanted = str if isinstance(default, str) else (int, float)
        fits = isinstance(value, wanted) and not isinstance(value, bool)
        values[f.name] = value if fits else default
    return EngineStats(**values)


# A server-side handler: extra ops (handover, reload_watchers) have this shape too.
Handler = Callable[["EngineAPI", dict[str, Any]], Awaitable[dict[str, Any]]]

EVENT_FIELDS = frozenset({"type", "data", "source", "strict", "ref", "stack", "agent", "run_id"})
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
    "stack": str,
    "policy": dict,  # model/policy.HookPolicy as its to_dict(); {} clears every setting
}
# Changes whose null is a value (clears it) rather than a missing field.
NULLABLE_CHANGES = frozenset({"stack", "max_instructions", "max_memory_mb"})  # null: default
# The notice kinds a subscriber may ask for.
NOTICE_KINDS = frozenset(
    {"event", "event_status", "execution", "hooks", "stats", "log", "dropped", "shutdown"}
)

# EngineAPI members RemoteEngine answers without an op of its own, and why. The parity
# test requires every other member to have an Op: a method added to the Protocol
# without one fails it.
CLIENT_SIDE: dict[str, str] = {
    "settings": "the client's own settings",
    "remote": "a constant",
    "readonly": "a constant",
    "started": "from the ping info",
    "info": "the ping info, refreshed on reconnect",
    "dispatch_batch": "plain event lines, pipelined, then read back with query_events",
    "subscribe": "the notice stream (op subscribe, connection.py)",
    "wait_subscribed": "the notice stream",
    "close": "detaches; the daemon keeps running",
}


# -- checking one field ---------------------------------------------------------------

# (op, field, value) -> the value for the engine, or ProtocolError with a one-line reason.
Check = Callable[[str, str, Any], Any]


class _Required:
    def __repr__(self) -> str:
        return "REQUIRED"


class _Missing:
    def __repr__(self) -> str:
        return "MISSING"


REQUIRED: Any = _Required()  # a Param default: the field must be present (and not null)
MISSING: Any = _Missing()  # what a `raw` check sees when the field is absent


def _kind_names(kind: type | tuple[type, ...]) -> str:
    return kind.__name__ if isinstance(kind, type) else " or ".join(k.__name__ for k in kind)


def check_type(op: str, key: str, value: Any, kind: type | tuple[type, ...]) -> Any:
    bad_bool = isinstance(value, bool) and kind in (int, float, (int, float))
    if not isinstance(value, kind) or bad_bool:
        raise ProtocolError(f"op {op}: {key!r} must be {_kind_names(kind)}")
    if isinstance(value, int) and not -(2**63) <= value < 2**63:  # SQLite's integers
        raise ProtocolError(f"op {op}: {key!r} is out of range")
    return value


def typed(kind: type | tuple[type, ...]) -> Check:
    def check(op: str, key: str, value: Any) -> Any:
        return check_type(op, key, value, kind)

    return check


def _passthrough(op: str, key: str, value: Any) -> Any:
    """The engine words its own refusal (event data and types)."""
    return None if value is MISSING else value


def _source(op: str, key: str, value: Any) -> str:
    source = "socket" if value is MISSING else value
    if not isinstance(source, str) or not (
        source in CLIENT_SOURCES or (source.startswith("socket:") and len(source) > 7)
    ):
        raise ProtocolError(
            f"source {source!r} is not allowed (use socket, socket:NAME, cli or dashboard)"
        )
    return source


def _event_type(op: str, key: str, value: Any) -> Any:
    """The engine words a bad type itself; only its absence is said here."""
    if value is MISSING:
        raise ProtocolError('an event line needs a "type" (or a request needs an "op")')
    return value


def _filter(op: str, key: str, value: Any) -> Filter | None:
    return filter_from_wire(None if value is MISSING else value)


def _patterns(op: str, key: str, value: Any) -> list[str]:
    check_type(op, key, value, list)
    if not all(isinstance(p, str) for p in value):
        raise ProtocolError(f"op {op}: {key!r} must be a list of strings")
    return list(value)


MAX_PAGE = 100_000  # events in one query_events reply


def _page_limit(op: str, key: str, value: Any) -> int:
    limit: int = check_type(op, key, value, int)
    if not 0 < limit <= MAX_PAGE:
        raise ProtocolError(f"op {op}: {key!r} must be between 1 and {MAX_PAGE}")
    return limit


def _exec_status(op: str, key: str, value: Any) -> str:
    status: str = check_type(op, key, value, str)
    if status not in EXEC_STATUSES:
        raise ProtocolError(f"op {op}: unknown status {status!r}")
    return status


def _event_ids(op: str, key: str, value: Any) -> list[int]:
    check_type(op, key, value, list)
    if len(value) > 10_000 or not all(type(i) is int for i in value):
        raise ProtocolError(f"op {op}: {key!r} must be a list of at most 10000 ints")
    return list(value)


def _seconds(op: str, key: str, value: Any) -> float:
    return float(check_type(op, key, value, (int, float)))


def _wait_seconds(op: str, key: str, value: Any) -> float:
    return min(_seconds(op, key, value), 600.0)  # a client cannot park a request longer


def _hook_changes(op: str, key: str, value: Any) -> dict[str, Any]:
    changes: dict[str, Any] = dict(check_type(op, key, value, dict))
    unknown = set(changes) - HOOK_CHANGES.keys()
    if unknown:
        raise ProtocolError(
            f"op {op}: cannot change {sorted(unknown)[0]!r} "
            f"(changeable: {', '.join(sorted(HOOK_CHANGES))})"
        )
    for name, kind in HOOK_CHANGES.items():
        if name in changes:
            if changes[name] is None:
                if name in NULLABLE_CHANGES:
                    continue
                raise ProtocolError(f"op {op}: missing {name!r}")
            check_type(op, name, changes[name], kind)
    if "events" in changes:
        changes["events"] = _patterns(op, "events", changes["events"])
    if "policy" in changes:  # PolicyError (a HookError): the one-line refusal, as locally
        from sloth_tui.model.policy import HookPolicy

        changes["policy"] = HookPolicy.from_dict(changes["policy"])
    return changes


def _hook_or_name(op: str, key: str, value: Any) -> Hook | str:
    raw = check_type(op, key, value, (str, dict))
    if isinstance(raw, str):
        return raw
    try:
        return Hook.from_dict(raw)
    except (KeyError, TypeError, ValueError) as exc:
        raise ProtocolError(f"op {op}: bad hook object ({exc})") from None


def _mirror_batch(op: str, key: str, value: Any) -> MirrorBatch:
    from sloth_tui.model.mirror import MIRROR_SOURCES, MirrorBatch

    raw = check_type(op, key, value, dict)
    try:
        batch = MirrorBatch.from_dict(raw)
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise ProtocolError(f"op {op}: bad mirror batch ({exc!r})") from None
    if batch.source not in MIRROR_SOURCES:
        raise ProtocolError(f"op {op}: source {batch.source!r} is not a mirror's")
    return batch


def _event_object(op: str, key: str, value: Any) -> Event:
    raw = check_type(op, key, value, dict)
    try:
        return Event.from_dict(raw)
    except (KeyError, TypeError, ValueError) as exc:
        raise ProtocolError(f"op {op}: bad event object ({exc})") from None


# -- encoding one argument on the client ---------------------------------------------------


def _same(value: Any) -> Any:
    return value


def _absolute(path: Any) -> str:
    """The daemon resolves paths against its own cwd: send an absolute one."""
    return str(resolved(user_path(path)))


def _changes_to_wire(changes: Any) -> dict[str, Any]:
    from sloth_tui.model.policy import HookPolicy

    out = dict(changes)
    if "file" in out:
        out["file"] = _absolute(out["file"])
    if isinstance(out.get("policy"), HookPolicy):
        out["policy"] = out["policy"].to_dict()
    return out


def _no_parent(parent: Any) -> None:
    if parent is not None:
        raise EventRefused("events with a parent are dispatched by hooks, inside the engine")


def _record_to_wire(value: Any) -> Any:
    return value.to_dict() if hasattr(value, "to_dict") else value


@dataclass(frozen=True, slots=True)
class Param:
    """One parameter of an EngineAPI method, as it travels."""

    name: str  # the Python parameter
    wire: str | None  # the JSON field; None: checked by the client, never sent
    check: Check = _passthrough  # the server's check (and conversion) of the field
    default: Any = REQUIRED  # the server's value when the field is absent or null
    send: Callable[[Any], Any] = _same  # the client's encoding of the value
    raw: bool = False  # the check sees MISSING and null itself (no default handling)
    spread: bool = False  # the method takes it as **kwargs (update_hook's changes)

    def read(self, op: str, req: dict[str, Any]) -> Any:
        assert self.wire is not None
        value = req.get(self.wire, MISSING)
        if self.raw:
            return self.check(op, self.wire, value)
        if value is MISSING or value is None:
            if self.default is REQUIRED:
                raise ProtocolError(f"op {op}: missing {self.wire!r}")
            return self.default
        return self.check(op, self.wire, value)


@dataclass(frozen=True)  # no slots: they break Generic's Result[X](...) calls
class Result(Generic[R]):
    """How a method's return value is written into the reply, and read back from it."""

    encode: Callable[[R], dict[str, Any]]
    decode: Callable[[dict[str, Any]], R]


@dataclass(frozen=True)  # no slots: they break Generic's Result[X](...) calls
class Op(Generic[R]):
    name: str  # the EngineAPI method
    params: tuple[Param, ...]  # in the order the server checks them
    result: Result[R]
    query: bool = False  # reads only: a client may send it again after a reconnect
    wire_op: str = ""  # the op's name on the wire ("" = name)
    # (field, value) a request carries to mean this op among those sharing a wire name
    when: tuple[str, Any] | None = None

    @property
    def wire_name(self) -> str:
        return self.wire_op or self.name

    # -- server side --------------------------------------------------------------------

    def arguments(self, req: dict[str, Any]) -> dict[str, Any]:
        """The request's fields, checked, as the method's keyword arguments."""
        kwargs: dict[str, Any] = {}
        for param in self.params:
            if param.wire is None:
                continue
            value = param.read(self.wire_name, req)
            if param.spread:
                kwargs.update(value)
            else:
                kwargs[param.name] = value
        return kwargs

    async def serve(self, engine: EngineAPI, req: dict[str, Any]) -> dict[str, Any]:
        kwargs = self.arguments(req)
        value = getattr(engine, self.name)(**kwargs)
        if inspect.isawaitable(value):
            value = await value
        return self.result.encode(value)

    # -- client side --------------------------------------------------------------------

    def request(self, args: dict[str, Any]) -> dict[str, Any]:
        """The request's fields for a call's arguments (None values are left out)."""
        fields: dict[str, Any] = {}
        if self.when is not None:
            fields[self.when[0]] = self.when[1]
        for param in self.params:
            value = args.get(param.name)
            if param.wire is None:
                param.send(value)  # a check only
            elif value is not None:
                fields[param.wire] = param.send(value)
        return fields


# -- results ----------------------------------------------------------------------------


def _events(events: list[Event]) -> dict[str, Any]:
    return {"events": [e.to_dict() for e in events]}


def _events_back(reply: dict[str, Any]) -> list[Event]:
    return [Event.from_dict(e) for e in reply["events"]]


def _runs(runs: list[Execution]) -> dict[str, Any]:
    return {"executions": [e.to_dict() for e in runs]}


def _runs_back(reply: dict[str, Any]) -> list[Execution]:
    return [Execution.from_dict(e) for e in reply["executions"]]


def _event_and_runs(value: tuple[Event, list[Execution]]) -> dict[str, Any]:
    event, runs = value
    return {"id": event.id, "event": event.to_dict(), **_runs(runs)}


def _event_and_runs_back(reply: dict[str, Any]) -> tuple[Event, list[Execution]]:
    return Event.from_dict(reply["event"]), _runs_back(reply)


def _outcomes(value: dict[int, list[tuple[str, str]]]) -> dict[str, Any]:
    return {"outcomes": {str(i): [list(pair) for pair in runs] for i, runs in value.items()}}


def _outcomes_back(reply: dict[str, Any]) -> dict[int, list[tuple[str, str]]]:
    return {
        int(i): [(hook, status) for hook, status in runs] for i, runs in reply["outcomes"].items()
    }


def _hook_stats_back(d: dict[str, Any]) -> HookStats:
    from sloth_tui.model.stats import HookStats

    return HookStats(
        d["hook"],
        int(d["runs"]),
        int(d["failures"]),
        float(d["avg_ms"]),
        float(d["p50_ms"]),
        float(d["p95_ms"]),
        d.get("last_run"),
    )


def _problem(value: SyntaxProblem) -> dict[str, Any]:
    return {"problem": None if value is None else {"line": value[0], "message": value[1]}}


def _problem_back(reply: dict[str, Any]) -> SyntaxProblem:
    problem = reply.get("problem")
    return None if problem is None else (int(problem["line"]), str(problem["message"]))


# Decoders whose records are imported when a reply of theirs arrives (see the imports).


def _mirror_result_back(reply: dict[str, Any]) -> MirrorResult:
    from sloth_tui.model.mirror import MirrorResult

    return MirrorResult.from_dict(reply)


def _replay_back(reply: dict[str, Any]) -> ReplayReport:
    from sloth_tui.model.replay import ReplayReport

    return ReplayReport.from_dict(reply["replay"])


def _verdicts_back(reply: dict[str, Any]) -> list[HookVerdict]:
    from sloth_tui.model.explain import HookVerdict

    return [HookVerdict.from_dict(v) for v in reply["verdicts"]]


def _trace_back(reply: dict[str, Any]) -> Trace:
    from sloth_tui.model.trace import Trace

    return Trace.from_dict(reply["trace"])


def _sources_back(reply: dict[str, Any]) -> list[SourceHealth]:
    from sloth_tui.model.stats import SourceHealth

    return [SourceHealth.from_dict(d) for d in reply["sources"]]


def _items_back(reply: dict[str, Any]) -> list[SourceItem]:
    from sloth_tui.model.stats import SourceItem

    return [SourceItem.from_dict(d) for d in reply["items"]]


def _fleet_back(reply: dict[str, Any]) -> FleetStatus:
    from sloth_tui.model.fleet import FleetStatus

    return FleetStatus.from_dict(reply["fleet"])


def _nothing(value: None) -> dict[str, Any]:
    return {}


def _nothing_back(reply: dict[str, Any]) -> None:
    return None


EVENT = Result[Event](
    lambda e: {"id": e.id, "event": e.to_dict()}, lambda r: Event.from_dict(r["event"])
)
EVENTS = Result[list[Event]](_events, _events_back)
EVENT_AND_RUNS = Result[tuple[Event, list[Execution]]](_event_and_runs, _event_and_runs_back)
RUNS = Result[list[Execution]](_runs, _runs_back)
HOOK = Result[Hook](lambda h: {"hook": h.to_dict()}, lambda r: Hook.from_dict(r["hook"]))
NOTHING = Result[None](_nothing, _nothing_back)


# -- the table --------------------------------------------------------------------------

_ID = Param("event_id", "id", typed(int))
_FILTER = Param("flt", "filter", _filter, send=filter_to_wire, raw=True)
_NAME = Param("name", "name", typed(str))

# Checked in this order (source, strict, wait, then type), as the handlers always did.
_DISPATCH_HEAD = (
    Param("source", "source", _source, raw=True),
    Param("strict", "strict", typed(bool), None),
)
_DISPATCH_TAIL = (
    Param("type", "type", _event_type, raw=True),
    Param("data", "data", _passthrough, raw=True),
)
# Sloth Runner's context: optional texts; the engine words a bad value itself.
_DISPATCH_CONTEXT = (
    Param("stack", "stack", _passthrough, None),
    Param("agent", "agent", _passthrough, None),
    Param("run_id", "run_id", _passthrough, None),
)

# An event line's fields as event_line reads them. Type first, as the handler always
# checked a line: its absence is the likely mistake.
_LINE_FIELDS = (*_DISPATCH_TAIL, *_DISPATCH_HEAD, *_DISPATCH_CONTEXT)

# No parent_id on the wire: chained events come from hooks inside the engine, and
# they skip the queue bound, which a client must not be able to do.
DISPATCH = Op(
    "dispatch",
    (
        *_DISPATCH_HEAD,
        Param("wait", "wait", typed(bool), False),
        *_DISPATCH_TAIL,
        *_DISPATCH_CONTEXT,
        Param("parent", None, send=_no_parent),
    ),
    EVENT,
)
DISPATCH_AND_RUN = Op(
    "dispatch_and_run",
    (*_DISPATCH_HEAD, *_DISPATCH_TAIL, *_DISPATCH_CONTEXT),
    EVENT_AND_RUNS,
    wire_op="dispatch",
    when=("wait", True),
)
RERUN = Op("rerun", (Param("hooks", "hooks", _patterns, None), _ID), EVENT_AND_RUNS)
GET_EVENT = Op("get_event", (_ID,), EVENT, query=True)
MIRROR = Op(
    "mirror",
    (Param("batch", "batch", _mirror_batch, send=_record_to_wire),),
    # Not a query, yet safe to send again: every row and the cursor are keyed.
    Result["MirrorResult"](lambda r: r.to_dict(), _mirror_result_back),
)
MIRROR_CURSOR = Op(
    "mirror_cursor",
    (Param("name", "name", typed(str)),),
    Result[str | None](lambda c: {"cursor": c}, lambda r: r.get("cursor")),
    query=True,
)
QUERY_EVENTS = Op(
    "query_events",
    (
        Param("limit", "limit", _page_limit, 100),
        Param("before_id", "before_id", typed(int), None),
        Param("after_id", "after_id", typed(int), None),
        Param("since", "since", typed((int, float)), None),
        Param("until", "until", typed((int, float)), None),
        _FILTER,
    ),
    EVENTS,
    query=True,
)
COUNT_EVENTS = Op(
    "count_events",
    (_FILTER,),
    Result[int](lambda n: {"count": n}, lambda r: int(r["count"])),
    query=True,
)
CHILD_EVENTS = Op("child_events", (_ID,), EVENTS, query=True)
EXECUTIONS_OF = Op("executions_of", (Param("event_id", "event_id", typed(int)),), RUNS, query=True)
EXECUTIONS = Op(
    "executions",
    (
        Param("status", "status", _exec_status, None),
        Param("hook", "hook", typed(str), None),
        Param("event_id", "event_id", typed(int), None),
        Param("only_failed", "only_failed", typed(bool), False),
        Param("include_dry_runs", "include_dry_runs", typed(bool), True),
        Param("before_id", "before_id", typed(int), None),
        Param("limit", "limit", typed(int), 100),
    ),
    RUNS,
    query=True,
)
HOOK_OUTCOMES = Op(
    "hook_outcomes",
    (Param("event_ids", "ids", _event_ids),),
    Result[dict[int, list[tuple[str, str]]]](_outcomes, _outcomes_back),
    query=True,
)
DELETE_EVENT = Op("delete_event", (_ID,), NOTHING)
CLEANUP = Op(
    "cleanup",
    (Param("older_than", "older_than", _seconds),),
    Result[int](lambda n: {"deleted": n}, lambda r: int(r["deleted"])),
)
COUNTS = Op(
    "counts",
    (),
    Result[dict[str, Any]](
        lambda c: dict(c), lambda r: {"categories": r["categories"], "types": r["types"]}
    ),
    query=True,
)
LIST_HOOKS = Op(
    "list_hooks",
    (),
    Result[list[Hook]](
        lambda hs: {"hooks": [h.to_dict() for h in hs]},
        lambda r: [Hook.from_dict(h) for h in r["hooks"]],
    ),
    query=True,
)
GET_HOOK = Op("get_hook", (_NAME,), HOOK, query=True)
ADD_HOOK = Op(
    "add_hook",
    (
        _NAME,
        Param("events", "events", _patterns, send=list),
        Param("file", "file", typed(str), send=_absolute),
        Param("description", "description", typed(str), ""),
        Param("enabled", "enabled", typed(bool), True),
        Param("timeout", "timeout", typed((int, float)), None),
        Param("max_instructions", "max_instructions", typed(int), None),
        Param("max_memory_mb", "max_memory_mb", typed(int), None),
        Param("stack", "stack", typed(str), None),
    ),
    HOOK,
)
UPDATE_HOOK = Op(
    "update_hook",
    (Param("changes", "changes", _hook_changes, send=_changes_to_wire, spread=True), _NAME),
    HOOK,
)
SET_HOOK_ENABLED = Op("set_hook_enabled", (_NAME, Param("enabled", "enabled", typed(bool))), HOOK)
DELETE_HOOK = Op("delete_hook", (_NAME,), NOTHING)
HOOK_STATS = Op(
    "hook_stats",
    (),
    Result["dict[str, HookStats]"](
        lambda st: {"stats": {name: s.to_dict() for name, s in st.items()}},
        lambda r: {name: _hook_stats_back(d) for name, d in r["stats"].items()},
    ),
    query=True,
)
TEST_HOOK = Op(
    "test_hook",
    (
        Param("hook", "hook", _hook_or_name, send=_record_to_wire),
        Param("event", "event", _event_object, None, send=_record_to_wire),
        Param("event_type", "event_type", typed(str), None),
        Param("data", "data", typed(dict), None),
        Param("code", "code", typed(str), None),
    ),
    Result[Execution](
        lambda e: {"execution": e.to_dict()}, lambda r: Execution.from_dict(r["execution"])
    ),
)
REPLAY = Op(  # not a query: it runs Lua (dry run), and may take a while
    "replay",
    (
        _NAME,
        Param("code", "code", typed(str), None),
        Param("last", "last", typed(int), 50),
    ),
    Result["ReplayReport"](lambda r: {"replay": r.to_dict()}, _replay_back),
)
EXPLAIN = Op(
    "explain",
    (_ID, Param("hook", "hook", typed(str), None)),
    Result["list[HookVerdict]"](
        lambda vs: {"verdicts": [v.to_dict() for v in vs]},
        _verdicts_back,
    ),
    query=True,
)
TRACE = Op(
    "trace",
    (_ID,),
    Result["Trace"](lambda t: {"trace": t.to_dict()}, _trace_back),
    query=True,
)
CHECK_SYNTAX = Op(
    "check_syntax",
    (Param("code", "code", typed(str)), Param("chunkname", "chunkname", typed(str), "hook")),
    Result["SyntaxProblem"](_problem, _problem_back),
    query=True,
)
DECLARED_EVENT_TYPES = Op(
    "declared_event_types",
    (Param("path", "path", typed(str), send=_absolute),),
    Result[list[str]](
        lambda ts: {"event_types": list(ts)}, lambda r: [str(t) for t in r["event_types"]]
    ),
    query=True,
)
STATS = Op(  # RemoteEngine.stats() is the streamed figure; the op is for plain clients
    "stats",
    (),
    Result["EngineStats"](lambda s: {"stats": s.to_dict()}, lambda r: stats_from_dict(r["stats"])),
    query=True,
)
SOURCE_HEALTH = Op(
    "source_health",
    (),
    Result["list[SourceHealth]"](
        lambda hs: {"sources": [h.to_dict() for h in hs]},
        _sources_back,
    ),
    query=True,
)
SOURCE_ITEMS = Op(
    "source_items",
    (),
    Result["list[SourceItem]"](
        lambda items: {"items": [i.to_dict() for i in items]},
        _items_back,
    ),
    query=True,
)
CONTROL_SOURCE = Op(  # not a query: "run" twice would run twice
    "control_source",
    (
        Param("source", "source", typed(str)),
        Param("item", "item", typed(str)),
        Param("action", "action", typed(str)),
    ),
    Result[str](lambda line: {"result": line}, lambda r: str(r["result"])),
)
FLEET_STATUS = Op(
    "fleet_status",
    (),
    Result["FleetStatus"](lambda st: {"fleet": st.to_dict()}, _fleet_back),
    query=True,
)
CLAIM_ONCE = Op(  # not a query: the answer changes the fleet's claims
    "claim_once",
    (Param("key", "key", typed(str)), Param("ttl_hint", "ttl_hint", _seconds)),
    Result[bool](lambda won: {"won": won}, lambda r: bool(r["won"])),
)
WAIT_IDLE = Op(
    "wait_idle",
    (Param("timeout", "timeout", _wait_seconds, 30.0),),
    Result[bool](lambda idle: {"idle": idle}, lambda r: bool(r["idle"])),
)

TABLE: dict[str, Op[Any]] = {
    op.name: op
    for op in (
        DISPATCH,
        DISPATCH_AND_RUN,
        RERUN,
        MIRROR,
        MIRROR_CURSOR,
        GET_EVENT,
        QUERY_EVENTS,
        COUNT_EVENTS,
        CHILD_EVENTS,
        EXECUTIONS_OF,
        EXECUTIONS,
        HOOK_OUTCOMES,
        DELETE_EVENT,
        CLEANUP,
        COUNTS,
        LIST_HOOKS,
        GET_HOOK,
        ADD_HOOK,
        UPDATE_HOOK,
        SET_HOOK_ENABLED,
        DELETE_HOOK,
        HOOK_STATS,
        TEST_HOOK,
        REPLAY,
        EXPLAIN,
        TRACE,
        CHECK_SYNTAX,
        DECLARED_EVENT_TYPES,
        STATS,
        SOURCE_HEALTH,
        SOURCE_ITEMS,
        CONTROL_SOURCE,
        FLEET_STATUS,
        CLAIM_ONCE,
        WAIT_IDLE,
    )
}


def _handler(wire_name: str) -> Handler:
    """The server's handler for one wire op: the entry its `when` field picks, else the
    plain one (which checks that field like any other)."""
    variants = sorted(
        (op for op in TABLE.values() if op.wire_name == wire_name), key=lambda op: op.when is None
    )

    async def handle(engine: EngineAPI, req: dict[str, Any]) -> dict[str, Any]:
        for op in variants:
            if op.when is None or req.get(op.when[0]) is op.when[1]:
                return await op.serve(engine, req)
        raise ProtocolError(f"unknown op {wire_name!r}")  # every wire name has a plain entry

    return handle


# The server's handlers, by the op's name on the wire.
OPS: dict[str, Handler] = {name: _handler(name) for name in {op.wire_name for op in TABLE.values()}}


def event_line(req: dict[str, Any]) -> EventLine:
    """A plain event line, {"type": ..., "data": {...}}, checked for engine.dispatch_batch."""
    if not EVENT_FIELDS.issuperset(req):
        unknown = set(req) - EVENT_FIELDS
        raise ProtocolError(
            f"unknown field {sorted(unknown)[0]!r} (an event line has type, data, "
            "and optionally source, strict, ref, stack, agent, run_id; requests have an op)"
        )
    type_, data, source, strict, stack, agent, run_id = [
        p.read("dispatch", req) for p in _LINE_FIELDS
    ]
    return type_, data, source, strict, stack, agent, run_id


if TYPE_CHECKING:
    EventArgs = EventLine  # the name connection.py knew (in its annotations)
else:
    EventArgs = tuple  # engine.api (and the model it imports) stays unloaded here


def batch_line(item: EventLine) -> dict[str, Any]:
    """The plain event line a client sends for one dispatch_batch item."""
    from sloth_tui.engine.api import full_line

    type_, data, source, strict, stack, agent, run_id = full_line(item)
    values = {
        "type": type_,
        "data": data,
        "source": source,
        "strict": strict,
        "stack": stack,
        "agent": agent,
        "run_id": run_id,
    }
    return {
        p.wire: p.send(values[p.name])
        for p in (*_DISPATCH_TAIL, *_DISPATCH_HEAD, *_DISPATCH_CONTEXT)
        if p.wire is not None and values[p.name] is not None
    }


def accepted_event(event_id: int, item: EventLine, reply: dict[str, Any]) -> Event:
    """An accepted plain line's event as the client knows it, for when it cannot be read
    back (the retention cap dropped it already): its category is the type's prefix."""
    from sloth_tui.engine.api import full_line

    type_, data, source, _strict, stack, agent, run_id = full_line(item)
    name = str(type_)
    return Event(
        event_id,
        name,
        name.partition(".")[0],
        data if isinstance(data, dict) else {},
        source,
        status="completed",
        warnings=[str(w) for w in reply.get("warnings") or []],
        stack=stack,
        agent=agent,
        run_id=run_id,
    )
