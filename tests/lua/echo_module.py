"""A test-only host module: all it takes to add one (no Lua file: the plain wrapper).

echo.say(value) answers {said = value, hook = <hook name>} and notes the value in
SAID; a dry run notes nothing and records the call instead. echo.fail(why) answers
`nil, "echo.fail: <why>"`.
"""

from __future__ import annotations

from typing import Any

from sloth_tui.lua.context import RunContext
from sloth_tui.lua.modules import SAFE, HostCall, HostError, HostModule

SAID: list[Any] = []  # what real calls were given, in order


def say(ctx: RunContext, value: Any) -> dict[str, Any]:
    SAID.append(value)
    return {"said": value, "hook": ctx.hook}


def dry_say(ctx: RunContext, value: Any) -> dict[str, Any]:
    ctx.record({"fn": "echo.say", "value": value, "dry_run": True})
    return {"said": value, "hook": ctx.hook, "dry_run": True}


def fail(ctx: RunContext, why: str) -> None:
    raise HostError(why)


ECHO = HostModule(
    name="echo",
    calls={"say": HostCall(say, dry_run=dry_say), "fail": HostCall(fail, dry_run=SAFE)},
    limits=("host_memory",),
    doc="test only: echoes its argument",
)
