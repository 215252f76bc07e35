"""Host modules are descriptors: a test-only module (echo_module.py) plus one
registry line makes `echo` callable from hooks, for real and in dry runs, and
only while it is registered."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import echo_module
import pytest
from echo_module import ECHO

from sloth_tui.lua.modules import HostCall, HostModule, modules, register, unregister
from sloth_tui.lua.runtime import HookRuntime, Limits, sandbox_globals
from sloth_tui.model.records import Event, Hook


@pytest.fixture
def echo() -> Iterator[None]:
    echo_module.SAID.clear()
    register(ECHO)  # the one registry line
    try:
        yield
    finally:
        unregister(ECHO.name)


def test_a_hook_calls_a_registered_module(
    echo: None, runtime: HookRuntime, make_hook: Callable[..., Hook], deploy_event: Event
) -> None:
    hook = make_hook(
        "function on_event(e)\n"
        '  local r = echo.say("hi " .. e.type)\n'
        "  local t = echo.say({n = 2, tags = {'a', 'b'}})\n"
        "  local v, err = echo.fail('no reason')\n"
        "  return {said = r.said, hook = r.hook, n = t.said.n, tag = t.said.tags[2],\n"
        "          v = v == nil, err = err, kind = type(echo.say)}\n"
        "end\n",
        name="greeter",
    )
    exe = runtime.run(hook, deploy_event)
    assert exe.status == "success", exe.error
    assert exe.result == {
        "said": "hi deploy.failed",
        "hook": "greeter",
        "n": 2,
        "tag": "b",
        "v": True,
        "err": "echo.fail: no reason",
        "kind": "function",  # a Lua wrapper, never a Python object
    }
    assert echo_module.SAID == ["hi deploy.failed", {"n": 2, "tags": ["a", "b"]}]


def test_a_dry_run_records_instead_of_calling(
    echo: None, runtime: HookRuntime, make_hook: Callable[..., Hook], deploy_event: Event
) -> None:
    hook = make_hook('function on_event() return echo.say("launch") end', name="dry")
    exe = runtime.run(hook, deploy_event, dry_run=True)
    assert exe.status == "success", exe.error
    assert exe.result == {"said": "launch", "hook": "dry", "dry_run": True}
    assert echo_module.SAID == []
    assert {"fn": "echo.say", "value": "launch", "dry_run": True} in exe.calls


def test_what_cannot_cross_is_refused_at_the_hooks_line(
    echo: None, runtime: HookRuntime, make_hook: Callable[..., Hook], deploy_event: Event
) -> None:
    hook = make_hook("function on_event()\n  echo.say(print)\nend\n", file="fn.lua")
    exe = runtime.run(hook, deploy_event)
    assert exe.status == "error"
    assert exe.error == "fn.lua:2: echo.say: argument 1 cannot be passed to the host (a function)"
    assert exe.error_line == 2
    assert echo_module.SAID == []


def test_its_arguments_count_against_the_host_memory_budget(
    echo: None, host: Any, make_hook: Callable[..., Hook], deploy_event: Event
) -> None:
    runtime = HookRuntime(host, Limits(host_memory=64 * 1024))
    hook = make_hook(
        "function on_event()\n  for i = 1, 100 do echo.say(string.rep('x', 4096)) end\nend\n"
    )
    exe = runtime.run(hook, deploy_event)
    assert exe.limit == "host_memory"
    assert len(echo_module.SAID) == 16  # 16 x 4 KiB fit in 64 KiB; the 17th is refused


def test_the_allowlist_has_it_only_while_registered(
    runtime: HookRuntime, make_hook: Callable[..., Hook], deploy_event: Event
) -> None:
    hook = make_hook("function on_event() return type(echo) end")
    # The same runtime throughout: its workers are rebuilt when the registry changes.
    assert runtime.run(hook, deploy_event).result == "nil"
    assert "echo" not in sandbox_globals()
    register(ECHO)
    try:
        assert runtime.run(hook, deploy_event).result == "table"
        assert "echo" in sandbox_globals()
        assert ECHO in modules()
    finally:
        unregister(ECHO.name)
    assert runtime.run(hook, deploy_event).result == "nil"
    assert "echo" not in sandbox_globals()
    assert {"log", "print", "http", "json", "state", "event"} <= set(sandbox_globals())


def test_a_module_cannot_take_a_name_that_is_in_use() -> None:
    call = HostCall(lambda ctx: None, dry_run="safe")
    with pytest.raises(ValueError, match="already comes from module 'http'"):
        register(HostModule(name="http", calls={"get": call}))
    with pytest.raises(ValueError, match="sandbox global"):
        HostModule(name="string", calls={"x": call})
    with pytest.raises(ValueError, match="not a Lua name"):
        HostModule(name="end", calls={"x": call})
    with pytest.raises(ValueError, match="unknown limits"):
        HostModule(name="x", calls={"x": call}, limits=("bandwidth",))
    assert [m.name for m in modules()] == [
        "log", "json", "http", "state", "event", "file_ops", "secret",
    ]  # fmt: skip


def test_a_module_with_many_calls_still_fits_the_sandbox(
    runtime: HookRuntime, make_hook: Callable[..., Hook], deploy_event: Event
) -> None:
    """The environment builder keeps values in Lua locals, of which a function may
    have 200: modules past that still load (the rest come from a table)."""
    calls = {f"f{i}": HostCall(lambda ctx, i=i: i, dry_run="safe") for i in range(1, 151)}
    register(HostModule(name="many", calls=calls))
    try:
        hook = make_hook(
            "function on_event()\n"
            "  log.info('still here')\n"
            "  return {many.f1(), many.f150(), string.upper('ok')}\n"
            "end\n"
        )
        exe = runtime.run(hook, deploy_event)
    finally:
        unregister("many")
    assert exe.status == "success", exe.error
    assert exe.result == [1, 150, "OK"]
    assert [line.message for line in exe.logs] == ["still here"]


def test_a_wrapper_that_cannot_load_fails_runs_not_the_caller(
    runtime: HookRuntime, make_hook: Callable[..., Hook], deploy_event: Event
) -> None:
    broken = HostModule(
        name="broken",
        calls={"x": HostCall(lambda ctx: None, dry_run="safe")},
        lua="return {lib = {} ",  # a syntax error
    )
    register(broken)
    try:
        exe = runtime.run(make_hook("function on_event() return 1 end"), deploy_event)
    finally:
        unregister("broken")
    assert exe.status == "error"
    assert exe.error is not None and exe.error.startswith("hook runtime failure: ")
    assert "host:broken" in exe.error and "\n" not in exe.error.strip()
    exe = runtime.run(make_hook("function on_event() return 1 end"), deploy_event)
    assert exe.status == "success" and exe.result == 1
