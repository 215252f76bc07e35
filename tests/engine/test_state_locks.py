"""state.lock / state.unlock (issue 16.4): mutual exclusion between concurrent hook runs.

A real engine on a temp home, real Lua, and a real loopback HTTP server that holds a
hook in the middle of its run (while it holds a lock) until the test lets it go. TTLs
run on the lock table's injectable clock: nothing waits for a lock to expire.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest
from gatekit import Gate
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sloth_tui.config import Settings
from sloth_tui.engine.engine import Engine
from sloth_tui.lua.modules.state_locks import (
    HELD_PER_RUN,
    LOCK_EVENTS_PER_RUN,
    LockTable,
    RunScope,
    running,
)
from sloth_tui.lua.runtime import HookRuntime
from sloth_tui.model.records import Event, Execution, Hook

LuaFile = Callable[..., Path]
DATA = {"name": "n", "message": "m"}


@pytest.fixture
async def eng(settings: Settings) -> AsyncIterator[Engine]:
    engine = await Engine.open(settings, lifecycle=True)
    yield engine
    await engine.close()


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def locks_of(engine: Engine) -> LockTable:
    assert engine.runs is not None
    return engine.runs.locks


def logs(execution: Execution) -> list[str]:
    return [line.message for line in execution.logs]


# A hook that takes the lock, says what it got, and waits at the gate while holding it.
HOLDER = """
function on_event(event)
  local ok, id = state.lock("rollback:payments", 30)
  log.info("holder " .. tostring(ok) .. " " .. tostring(id))
  http.get("{url}")
  local u, err = state.unlock("rollback:payments")
  log.info("unlock " .. tostring(u) .. " " .. tostring(err))
end
"""
# Another hook, the other side of the same global key.
TAKER = """
function on_event(event)
  local ok, why = state.lock("rollback:payments", 10)
  log.info("taker " .. tostring(ok) .. " " .. tostring(why))
end
"""


async def test_two_concurrent_runs_one_gets_the_lock_the_other_the_holder(
    eng: Engine, lua_file: LuaFile, gate: Gate
) -> None:
    clock = Clock()
    locks_of(eng).clock = clock
    await eng.add_hook("holder", ["custom"], lua_file(HOLDER.replace("{url}", gate.url)))
    await eng.add_hook("taker", ["deploy.*"], lua_file(TAKER))
    held = await eng.dispatch("custom", DATA, wait=False)
    await asyncio.to_thread(gate.entered.wait, 10)
    assert locks_of(eng).holder("rollback:payments") == "holder"

    _, (refused,) = await eng.dispatch_and_run("deploy.started", {"app": "a"})
    (line,) = logs(refused)
    assert line == (
        f"taker nil state.lock: 'rollback:payments' is held by holder (run on event "
        f"{held.id}) for 30s more"
    )
    assert refused.status == "success"  # a held lock is an answer, not an error

    # Past its ttl the lock is free: the taker gets it, and the holder's unlock says so.
    clock.now += 31
    _, (took,) = await eng.dispatch_and_run("deploy.started", {"app": "a"})
    assert re.fullmatch(r"taker true lock-[0-9a-f]+-\d+", logs(took)[0]), logs(took)
    gate.gate.set()
    assert await eng.wait_idle()
    (first,) = await eng.executions_of(held.id)
    assert logs(first)[0].startswith("holder true lock-")
    assert logs(first)[1] == (
        "unlock nil state.unlock: 'rollback:payments': this run's lock had expired (its ttl passed)"
    )
    assert len(locks_of(eng)) == 0  # the taker's run ended: its lock went with it


@pytest.mark.parametrize(
    "ending, status",
    [('error("boom")', "error"), ("while true do end", "timeout"), ("return true", "success")],
)
async def test_every_lock_is_released_when_the_run_ends(
    eng: Engine, lua_file: LuaFile, ending: str, status: str
) -> None:
    code = f"""
    function on_event(event)
      assert(state.lock("a", 600))
      assert(state.lock("b", 600))
      {ending}
    end
    """
    # The deadline alone ends the loop: 100M instructions (the default budget) took
    # 0.30 s on a fast machine, a coin toss against the 0.3 s deadline.
    await eng.add_hook("ends", ["custom"], lua_file(code), timeout=0.3, max_instructions=10**12)
    await eng.add_hook("taker", ["deploy.*"], lua_file(TAKER.replace("rollback:payments", "a")))
    event, (run,) = await eng.dispatch_and_run("custom", DATA)
    assert run.status == status
    assert len(locks_of(eng)) == 0
    _, (took,) = await eng.dispatch_and_run("deploy.started", {"app": "a"})
    assert logs(took)[0].startswith("taker true lock-")
    # Each lock that said state.locked says state.unlocked at the run's end.
    assert await eng.wait_idle()
    children = await eng.child_events(event.id)
    kinds = sorted((c.type, c.data["state_key"]) for c in children)
    assert kinds == [
        ("state.locked", "a"),
        ("state.locked", "b"),
        ("state.unlocked", "a"),
        ("state.unlocked", "b"),
    ]
    ended = [c for c in children if c.type == "state.unlocked"]
    assert all(c.data["reason"] == "the run ended" for c in ended)
    assert [c for c in run.calls if c.get("at_run_end")] != []


async def test_events_carry_the_catalogs_fields_as_children_of_the_run(
    eng: Engine, lua_file: LuaFile
) -> None:
    code = """
    function on_event(event)
      local ok, id = state.lock("terraform/prod", 45)
      assert(state.unlock("terraform/prod"))
      local again, err = state.unlock("terraform/prod")
      return {id = id, again = again, err = err}
    end
    """
    await eng.add_hook("tf", ["custom"], lua_file(code))
    event, (run,) = await eng.dispatch_and_run("custom", DATA)
    assert run.status == "success", run.error
    assert "again" not in run.result  # nil
    assert run.result["err"] == "state.unlock: 'terraform/prod' is not locked by this run"
    assert await eng.wait_idle()
    locked, unlocked = await eng.child_events(event.id)
    lock_id = run.result["id"]
    assert (locked.type, locked.source, locked.parent_id) == ("state.locked", "hook:tf", event.id)
    assert locked.data == {"state_key": "terraform/prod", "locked_by": "tf", "lock_id": lock_id,
                           "ttl": 45}  # fmt: skip
    assert unlocked.type == "state.unlocked"
    assert unlocked.data == {"state_key": "terraform/prod", "lock_id": lock_id, "unlocked_by": "tf"}
    assert locked.warnings == [] and unlocked.warnings == []  # the catalog's fields


async def test_a_dry_run_takes_no_lock(eng: Engine, lua_file: LuaFile, gate: Gate) -> None:
    code = """
    function on_event(event)
      local ok, id = state.lock("rollback:payments", 30)
      local u = state.unlock("rollback:payments")
      local n, err = state.unlock("rollback:payments")
      return {ok = ok, id = id, u = u, err = err}
    end
    """
    await eng.add_hook("dry", ["custom"], lua_file(code))
    await eng.add_hook("holder", ["deploy.*"], lua_file(HOLDER.replace("{url}", gate.url)))
    await eng.dispatch("deploy.started", {"app": "a"})
    await asyncio.to_thread(gate.entered.wait, 10)
    run = await eng.test_hook("dry", "custom")  # the real holder holds the key meanwhile
    assert run.result == {
        "ok": True,
        "id": "dry-run",
        "u": True,
        "err": "state.unlock: 'rollback:payments' is not locked by this run",
    }
    assert all(c["dry_run"] for c in run.calls)
    assert locks_of(eng).holder("rollback:payments") == "holder"  # untouched
    gate.gate.set()
    assert await eng.wait_idle()
    events = await eng.query_events(limit=50)
    assert [e.parent_id for e in events if e.type == "state.locked"] != []
    assert all(e.source != "hook:dry" for e in events)


async def test_a_hook_locking_in_a_loop_is_bounded(eng: Engine, lua_file: LuaFile) -> None:
    code = """
    function on_event(event)
      local refused
      for i = 1, 40 do
        local ok, err = state.lock("k" .. i, 60)
        if not ok then refused = refused or err end
      end
      for i = 1, 40 do
        state.unlock("k" .. i)
      end
      for i = 1, 100 do
        state.lock("same", 60)
        state.unlock("same")
      end
      return refused
    end
    """
    await eng.add_hook("loop", ["custom"], lua_file(code))
    event, (run,) = await eng.dispatch_and_run("custom", DATA)
    assert run.status == "success", run.error
    assert run.result == f"state.lock: this run holds {HELD_PER_RUN} locks already (the limit)"
    assert await eng.wait_idle()
    children = await eng.child_events(event.id)
    locked = [c for c in children if c.type == "state.locked"]
    assert len(locked) == LOCK_EVENTS_PER_RUN
    # Only announced locks announce their unlock: the pairs stay pairs.
    unlocked = {c.data["lock_id"] for c in children if c.type == "state.unlocked"}
    assert unlocked == {c.data["lock_id"] for c in locked}


# -- the table alone, on its clock ----------------------------------------------------


def test_ttl_expiry_and_renewal_on_an_injected_clock() -> None:
    clock = Clock()
    table = LockTable(clock)
    a, b = RunScope(table, "a", 1), RunScope(table, "b", 2)
    first, _ = table.acquire("k", 10, a)
    assert first is not None
    clock.now += 9
    again, _ = table.acquire("k", 10, a)  # its own lock: renewed, same id
    assert again == first
    clock.now += 9.5
    none, why = table.acquire("k", 5, b)
    assert none is None and why == "'k' is held by a (run on event 1) for 1s more"
    clock.now += 1
    taken, _ = table.acquire("k", 5, b)
    assert taken is not None and taken != first
    assert table.release("k", a) == (None, "'k': this run's lock had expired (its ttl passed)")
    assert table.release("k", b) == (taken, "")
    assert len(table) == 0


# -- hostile keys and ttls from Lua: never a traceback, always one line ------------------


class Host:
    """A HostAPI that takes children (the lock events) and keeps no state."""

    def __init__(self) -> None:
        self.next_id = 100

    def dispatch(self, type: str, data: dict[str, Any], *, parent: Event, source: str) -> int:
        self.next_id += 1
        return self.next_id

    def state_get(self, hook: str, key: str) -> Any:
        return None

    def state_set(self, hook: str, key: str, value: Any) -> None:
        return None

    def state_delete(self, hook: str, key: str) -> None:
        return None

    def state_incr(self, hook: str, key: str, by: float) -> float:
        return by


FUZZ = """
function on_event(event)
  local ok, v = state.lock(event.data.key, event.data.ttl)
  local u, err = state.unlock(event.data.key)
  return {tostring(ok), tostring(v), tostring(u), tostring(err)}
end
"""
RUNTIME = HookRuntime(Host())
TABLE = LockTable()

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=50),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner),
    max_leaves=5,
)


@settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(
    key=st.text(max_size=300)
    | st.sampled_from(["", "x" * 257, "\x1b[31m", "a\x00b"])
    | json_values,
    ttl=st.floats(allow_nan=True, allow_infinity=True)
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.sampled_from([0, 1e-9, 3600, 3600.0001, None])
    | json_values,
)
def test_hostile_keys_and_ttls_answer_nil_err_in_one_line(
    key: Any, ttl: Any, tmp_path: Path
) -> None:
    path = tmp_path / "fuzz.lua"
    if not path.exists():
        path.write_text(FUZZ)
    hook = Hook("fuzz", ["custom"], str(path))
    event = Event(1, "custom", "custom", {"key": key, "ttl": ttl})
    scope = RunScope(TABLE, "fuzz", 1)
    with running(scope):
        run = RUNTIME.run(hook, event)
    assert run.status == "success", run.error
    ok, value, unlocked, err = run.result
    if ok == "true":
        assert value.startswith("lock-")
        # A tiny ttl may pass before the unlock: then that is what it says.
        assert (unlocked, err) == ("true", "nil") or "expired" in err
    else:
        assert ok == "nil" and value.startswith("state.lock: ") and "\n" not in value
        assert "Traceback" not in value and "internal error" not in value
        assert err.startswith("state.unlock: ") and "\n" not in err
    assert len(TABLE) == 0 and scope.held == {}
