"""Shared by tests/engine/test_policy_*.py: a real engine on a tmp home, Lua hook files
with policies, polling with deadlines (never fixed sleeps), and a manual clock."""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

from sloth_tui.config import Settings
from sloth_tui.engine.engine import Engine
from sloth_tui.model.policy import HookPolicy
from sloth_tui.model.records import Execution

LuaFile = Callable[..., Path]

# How long a wait that must end goes on before the test fails: only a real hang gets
# here (the waits guarded end in a second or so), and well under pytest-timeout's 120 s.
HANG_GUARD = 60.0

# A hook that keeps its thread busy a while (a Lua loop: bounded by instructions and
# its deadline, never a sleep), then succeeds. ~20-80 ms on a loaded 2-core machine.
SLOW = """
function on_event(event)
  local x = 0
  for i = 1, %d do x = x + i end
  return true
end
"""


class ManualClock:
    """The gate's clock in tests: time moves only when the test says so."""

    def __init__(self, start: float = 1_700_000_000.0) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


async def open_engine(settings: Settings, **over: Any) -> Engine:
    return await Engine.open(replace(settings, **over))


async def add(
    engine: Engine,
    lua_file: LuaFile,
    name: str,
    code: str,
    policy: HookPolicy,
    *,
    events: tuple[str, ...] = ("deploy.failed",),
    timeout: float | None = None,
    max_instructions: int | None = None,
) -> None:
    await engine.add_hook(
        name, list(events), lua_file(code), timeout=timeout, max_instructions=max_instructions
    )
    await engine.update_hook(name, policy=policy)


async def dispatch_many(
    engine: Engine, datas: list[dict[str, Any]], type_: str = "deploy.failed"
) -> list[int]:
    """All at once, one batch: the runs start together on the engine's threads."""
    out = await engine.dispatch_batch([(type_, d, "test", False) for d in datas])
    ids = []
    for item in out:
        assert not isinstance(item, Exception), item
        ids.append(item.id)
    return ids


async def eventually(
    check: Callable[[], Awaitable[bool]], timeout: float = 30.0, what: str = "condition"
) -> None:
    deadline = time.monotonic() + timeout
    while not await check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.01)


async def settle(engine: Engine, timeout: float = 60.0) -> None:
    """No run queued, running, or due as a retry; AssertionError after `timeout`."""
    d = engine._dispatcher
    assert d is not None
    end = time.monotonic() + timeout

    async def quiet() -> bool:
        # First: a run may schedule a retry. (What is left of the timeout: a run that
        # never ends fails the test at `timeout`, not at twice that.)
        if not await engine.wait_idle(max(end - time.monotonic(), 0.01)):
            return False
        # Nothing queued, running or due at this instant (wait_idle's flush let the loop
        # run retries meanwhile: their records may be buffered still)...
        if d.follow_ups.retries_due or d.depth:
            return False
        await engine.store.flush()  # ...so this commits every record there will be
        return True

    await eventually(quiet, timeout, "the engine to settle")


async def runs_of(engine: Engine, hook: str) -> list[Execution]:
    """Every execution of `hook`, oldest first."""
    return list(reversed(await engine.executions(hook=hook, limit=10_000)))


def end(ex: Execution) -> float:
    return ex.started + ex.duration_ms / 1000


async def statuses(engine: Engine, ids: list[int]) -> Counter[str]:
    """How many of these events are in each status."""
    return Counter([(await engine.get_event(i)).status for i in ids])
