"""`contains(list, value)`, upstream's hook helper (internal/hooks/executor.go): true
when any value of the table has the string form of `value`; a non-table list or a
value that is not a string or number is an error at the hook's line."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

from sloth_tui.lua.runtime import HookRuntime
from sloth_tui.model.records import Event, Hook


def test_upstreams_own_example(
    runtime: HookRuntime, make_hook: Callable[..., Hook], deploy_event: Event
) -> None:
    hook = make_hook(
        "function on_event()\n"
        '  local list = {"apple", "banana", "cherry"}\n'
        '  return {contains(list, "banana"), contains(list, "grape")}\n'
        "end\n"
    )
    exe = runtime.run(hook, deploy_event)
    assert exe.status == "success", exe.error
    assert exe.result == [True, False]


def test_it_compares_string_forms_over_every_value(
    runtime: HookRuntime, make_hook: Callable[..., Hook], deploy_event: Event
) -> None:
    event = replace(deploy_event, data={"tags": ["prod", "eu"], "ports": [80, 443]})
    hook = make_hook(
        "function on_event(e)\n"
        "  return {\n"
        "    contains(e.data.tags, 'eu'), contains(e.data.ports, 443),\n"
        "    contains(e.data.ports, '80'), contains({a = 'x', b = 'y'}, 'y'),\n"
        "    contains({}, 'x'), contains({true}, 'true'), contains({{}}, 'x'),\n"
        "  }\n"
        "end\n"
    )
    exe = runtime.run(hook, event, dry_run=True)  # a pure function: same in a dry run
    assert exe.status == "success", exe.error
    assert exe.result == [True, True, True, True, False, True, False]


def test_wrong_arguments_are_errors_at_the_hooks_line(
    runtime: HookRuntime, make_hook: Callable[..., Hook], deploy_event: Event
) -> None:
    for call, message in [
        ("contains('abc', 'a')", "bad argument #1 to contains (table expected, got string)"),
        ("contains({'a'}, nil)", "bad argument #2 to contains (string expected, got nil)"),
    ]:
        hook = make_hook(f"function on_event()\n  local found = {call}\n  return found\nend\n")
        exe = runtime.run(hook, deploy_event)
        assert exe.status == "error"
        assert message in (exe.error or "")
        assert exe.error_line == 2, exe
