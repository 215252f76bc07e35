"""Opt-in state.created/updated/deleted (issue 16.4): config `state_events` names key
prefixes; a run's set/delete of such a key emits one event from the value before the
run to its final write, as a child of the run's event. Never one per incr, none for
other keys. A real engine, real Lua, a real config.toml.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest

from sloth_tui.config import ConfigError, load_settings
from sloth_tui.engine.engine import Engine
from sloth_tui.engine.state_run import VALUE_MAX
from sloth_tui.model.records import Event

LuaFile = Callable[..., Path]
DATA = {"name": "n", "message": "m"}

HOOK = """
function on_event(event)
  local d = event.data
  if d.op == "set" then state.set(d.key, d.value)
  elseif d.op == "delete" then state.delete(d.key)
  elseif d.op == "incr" then state.incr(d.key) end
  if d.also then state.set("other", 1); state.incr("deploy:count") end
end
"""


@pytest.fixture
async def eng(home: Path) -> AsyncIterator[Engine]:
    (home / "config.toml").write_text('state_events = ["deploy:", "lock:"]\n')
    engine = await Engine.open(load_settings(home), lifecycle=True)
    yield engine
    await engine.close()


async def fire(engine: Engine, **data: object) -> list[Event]:
    event, (run,) = await engine.dispatch_and_run("custom.state", data)
    assert run.status == "success", run.error
    assert await engine.wait_idle()
    return await engine.child_events(event.id)


async def test_a_prefix_emits_created_updated_deleted_and_nothing_else(
    eng: Engine, lua_file: LuaFile
) -> None:
    await eng.add_hook("deployer", ["custom.state"], lua_file(HOOK))
    (created,) = await fire(eng, op="set", key="deploy:api", value="v2.3.0", also=True)
    assert created.type == "state.created" and created.source == "hook:deployer"
    assert created.data == {"state_key": "deploy:api", "namespace": "deployer", "value": "v2.3.0"}
    assert created.warnings == []  # the catalog's fields
    (updated,) = await fire(eng, op="set", key="deploy:api", value="v2.3.1")
    assert updated.type == "state.updated"
    assert updated.data == {
        "state_key": "deploy:api",
        "namespace": "deployer",
        "old_value": "v2.3.0",
        "new_value": "v2.3.1",
    }
    assert await fire(eng, op="set", key="deploy:api", value="v2.3.1") == []  # no change
    (deleted,) = await fire(eng, op="delete", key="deploy:api")
    assert deleted.type == "state.deleted"
    assert deleted.data == {"state_key": "deploy:api", "namespace": "deployer",
                            "old_value": "v2.3.1"}  # fmt: skip
    assert await fire(eng, op="delete", key="deploy:api") == []  # absent: nothing changed
    # Other keys, and increments of any key, say nothing.
    assert await fire(eng, op="set", key="cache:x", value="1") == []
    assert await fire(eng, op="incr", key="deploy:count") == []
    assert [e for e in await eng.query_events(limit=100) if e.category == "state"] == [
        deleted,
        updated,
        created,
    ]


async def test_one_event_per_key_per_run_from_the_first_value_to_the_last(
    eng: Engine, lua_file: LuaFile
) -> None:
    code = """
    function on_event(event)
      state.set("lock:owner", "a")
      state.set("lock:owner", "b")
      state.set("lock:owner", {who = "c", n = 1})
      state.set("deploy:big", string.rep("x", 5000))
    end
    """
    await eng.add_hook("many", ["custom.state"], lua_file(code))
    events = await fire(eng)
    assert sorted(e.type for e in events) == ["state.created", "state.created"]
    by_key = {e.data["state_key"]: e.data["value"] for e in events}
    assert by_key["lock:owner"] == '{"n":1,"who":"c"}' or by_key["lock:owner"] == (
        '{"who":"c","n":1}'
    )
    big = by_key["deploy:big"]
    assert big == "x" * VALUE_MAX + f"…[{5000 - VALUE_MAX} more characters]"


async def test_without_state_events_nothing_is_emitted(home: Path, lua_file: LuaFile) -> None:
    engine = await Engine.open(load_settings(home), lifecycle=True)
    try:
        await engine.add_hook("deployer", ["custom.state"], lua_file(HOOK))
        assert await fire(engine, op="set", key="deploy:api", value="v1") == []
    finally:
        await engine.close()


async def test_a_dry_run_emits_nothing(eng: Engine, lua_file: LuaFile) -> None:
    await eng.add_hook("deployer", ["custom.state"], lua_file(HOOK))
    run = await eng.test_hook("deployer", "custom.state", {"op": "set", "key": "deploy:a",
                                                           "value": "1"})  # fmt: skip
    assert run.status == "success"
    assert [e for e in await eng.query_events(limit=50) if e.category == "state"] == []


@pytest.mark.parametrize("value", ['[""]', '["ok", ""]', "[" + ",".join(['"p"'] * 65) + "]"])
def test_a_bad_state_events_setting_is_one_line(home: Path, value: str) -> None:
    (home / "config.toml").write_text(f"state_events = {value}\n")
    with pytest.raises(ConfigError, match="state_events must be at most 64 key prefixes"):
        load_settings(home)
