"""EngineAPI, Engine and RemoteEngine agree member by member, and the op table covers the API.

Signatures are compared as inspect sees them: parameter names, kinds, defaults and
annotations (as written: every module here uses `from __future__ import annotations`),
the return annotation, and whether the method is a coroutine. mypy checks that both
classes satisfy the Protocol (engine/api.py and remote/client.py); this test catches
what mypy lets through: a different default, a renamed parameter the Protocol spells
the same way by position, a method added to the Protocol without an op.
"""

from __future__ import annotations

import inspect
from typing import TYPE_CHECKING, Any, Protocol

import pytest

from sloth_tui.engine.api import EngineAPI
from sloth_tui.engine.engine import Engine
from sloth_tui.remote.client import RemoteEngine
from sloth_tui.remote.ops import CLIENT_SIDE, TABLE

if TYPE_CHECKING:

    def _remote_conforms(engine: RemoteEngine) -> EngineAPI:
        return engine

    def _local_conforms(engine: Engine) -> EngineAPI:
        return engine


IMPLEMENTATIONS: list[type[Any]] = [Engine, RemoteEngine]

# Parameters an implementation may have beyond the Protocol's, each with a default so
# a call through EngineAPI still works: (class, member, parameter).
EXTRA_PARAMS = {("Engine", "close", "drain_timeout")}


def members(api: type[Any]) -> dict[str, Any]:
    """The Protocol's own members (and those of Protocols it extends), by name."""
    found: dict[str, Any] = {}
    for cls in reversed(api.__mro__):
        if cls in (object, Protocol) or not getattr(cls, "_is_protocol", False):
            continue
        for name, value in vars(cls).items():
            if not name.startswith("_"):
                found[name] = value
    return found


def _shape(fn: Any) -> tuple[list[tuple[str, str, str, str]], str, bool]:
    sig = inspect.signature(fn)
    params = [
        (p.name, p.kind.name, repr(p.default), str(p.annotation)) for p in sig.parameters.values()
    ]
    return params, str(sig.return_annotation), inspect.iscoroutinefunction(fn)


def _render(params: list[tuple[str, str, str, str]]) -> str:
    """(self, a: int, *, b: str = 'x'), from _shape's tuples, annotations unquoted."""
    out: list[str] = []
    for name, kind, default, annotation in params:
        if kind == "KEYWORD_ONLY" and not any(o.startswith("*") for o in out):
            out.append("*")
        text = {"VAR_POSITIONAL": "*", "VAR_KEYWORD": "**"}.get(kind, "") + name
        if annotation != str(inspect.Parameter.empty):
            text += f": {annotation}"
        if default != repr(inspect.Parameter.empty):
            text += f" = {default}"
        out.append(text)
    return ", ".join(out)


def _declared_attribute(impl: type[Any], name: str) -> str | None:
    """The annotation of `name: T` in the class body of impl or a base, if any."""
    for cls in impl.__mro__:
        annotation = vars(cls).get("__annotations__", {}).get(name)
        if annotation is not None:
            return str(annotation)
    return None


def mismatches(api: type[Any], impl: type[Any]) -> list[str]:
    """What differs between the Protocol `api` and the class `impl`, one line each."""
    problems = []
    for name, want in members(api).items():
        got = inspect.getattr_static(impl, name, None)
        declared = _declared_attribute(impl, name)
        if got is None and declared is None:
            problems.append(f"{impl.__name__}.{name} is missing")  # or undeclared: x: T in the body
            continue
        if isinstance(want, property):
            if got is None:  # a plain attribute, declared in the class body, may stand in
                if declared != _shape(want.fget)[1]:
                    problems.append(
                        f"{impl.__name__}.{name} is declared {declared}, "
                        f"the Protocol's property returns {_shape(want.fget)[1]}"
                    )
            elif not isinstance(got, property):
                problems.append(f"{impl.__name__}.{name} is not a property")
            elif _shape(want.fget)[1] != _shape(got.fget)[1]:
                problems.append(
                    f"{impl.__name__}.{name} returns {_shape(got.fget)[1]}, "
                    f"the Protocol {_shape(want.fget)[1]}"
                )
            continue
        if not callable(got) or isinstance(got, staticmethod | classmethod):
            problems.append(f"{impl.__name__}.{name} is not a plain method")
            continue
        (want_params, want_ret, want_async) = _shape(want)
        (got_params, got_ret, got_async) = _shape(got)
        extra = [
            p
            for p in got_params
            if (impl.__name__, name, p[0]) in EXTRA_PARAMS and p[2] != repr(inspect.Parameter.empty)
        ]
        got_params = [p for p in got_params if p not in extra]
        if want_params != got_params:
            problems.append(
                f"{impl.__name__}.{name}({_render(got_params)}) differs from the Protocol's "
                f"{name}({_render(want_params)})"
            )
        if want_ret != got_ret:
            problems.append(f"{impl.__name__}.{name} returns {got_ret}, the Protocol {want_ret}")
        if want_async != got_async:
            problems.append(
                f"{impl.__name__}.{name} is {'' if got_async else 'not '}a coroutine function"
            )
    return problems


def uncovered(api: type[Any]) -> list[str]:
    """Members with neither an op in the table nor a reason to have none; ops and reasons
    that name no member; method parameters the op does not carry."""
    api_members = members(api)
    problems = []
    for name, member in api_members.items():
        if name not in TABLE and name not in CLIENT_SIDE:
            problems.append(
                f"EngineAPI.{name} has no op in remote/ops.py (nor a CLIENT_SIDE reason)"
            )
        if name in TABLE and name in CLIENT_SIDE:
            problems.append(f"EngineAPI.{name} has an op and a CLIENT_SIDE reason")
        if name in TABLE and not isinstance(member, property):
            wanted = [p for p in inspect.signature(member).parameters if p != "self"]
            carried = [p.name for p in TABLE[name].params]
            for pname in sorted(set(wanted) ^ set(carried)):
                problems.append(
                    f"op {name}: parameter {pname!r} is not in both the method and the op"
                )
    for name in sorted((TABLE.keys() | CLIENT_SIDE.keys()) - api_members.keys()):
        problems.append(f"{name} (remote/ops.py) names no EngineAPI member")
    for name in TABLE:
        member = api_members.get(name)
        if isinstance(member, property):
            problems.append(f"op {name} names a property, not a method")
    return problems


@pytest.mark.parametrize("impl", IMPLEMENTATIONS, ids=lambda c: c.__name__)
def test_implementations_match_the_protocol(impl: type[Any]) -> None:
    assert mismatches(EngineAPI, impl) == []


def test_the_op_table_covers_the_protocol() -> None:
    assert uncovered(EngineAPI) == []


def test_every_coroutine_method_has_an_op_or_a_reason() -> None:
    # The rule stated plainly, on top of uncovered(): what crosses the wire is an op.
    for name, member in members(EngineAPI).items():
        if inspect.iscoroutinefunction(member):
            assert name in TABLE or name in CLIENT_SIDE, name


def test_a_method_added_to_the_protocol_alone_is_caught() -> None:
    """The checks above can fail: a wider Protocol, as a careless change would leave it."""

    class Wider(EngineAPI, Protocol):
        async def frobnicate(self, depth: int = 1) -> None: ...

        async def get_event(self, event_id: int, deep: bool = False) -> Any: ...

    assert "EngineAPI.frobnicate has no op in remote/ops.py (nor a CLIENT_SIDE reason)" in (
        uncovered(Wider)
    )
    assert "op get_event: parameter 'deep' is not in both the method and the op" in uncovered(Wider)
    wrong = mismatches(Wider, RemoteEngine)
    assert "RemoteEngine.frobnicate is missing" in wrong
    assert any(line.startswith("RemoteEngine.get_event(self, event_id: int)") for line in wrong)
    assert any("returns Event, the Protocol Any" in line for line in wrong)


def test_a_differing_default_or_kind_is_caught() -> None:
    class Drifted:
        settings: int  # a plain attribute may stand in for a property, of the same type
        info: dict[str, Any]

        async def count_events(self, flt: Any = None) -> int:  # annotation differs
            return 0

        def cleanup(self, older_than: float) -> int:  # not a coroutine
            return 0

        async def delete_hook(self, *, name: str) -> None:  # keyword-only
            return None

    wrong = mismatches(EngineAPI, Drifted)
    assert any(line.startswith("Drifted.count_events(") for line in wrong)
    assert "Drifted.cleanup is not a coroutine function" in wrong
    assert any(line.startswith("Drifted.delete_hook(self, *, name: str)") for line in wrong)
    assert "Drifted.settings is declared int, the Protocol's property returns Settings" in wrong
    assert not any(line.startswith("Drifted.info") for line in wrong)
    assert "Drifted.started is missing" in wrong
