"""config.toml's hook_host_memory_mb reaches the runs of a real engine."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from sloth_tui.config import load_settings
from sloth_tui.engine.engine import Engine

# About 1.5 MiB of state values: inside the default budget (16 MiB), past a 1 MiB one.
LOUD = """
function on_event()
  local value = string.rep("x", 100 * 1024)
  for i = 1, 15 do state.set("k" .. i, value) end
  return true
end
"""


async def _run_loud(home: Path, lua_file: Callable[[str, str], Path]) -> tuple[str, str | None]:
    engine = await Engine.open(load_settings(home))
    try:
        await engine.add_hook("loud", ["custom"], lua_file(LOUD, "loud.lua"))
        _event, executions = await engine.dispatch_and_run("custom", {"n": 1})
        return executions[0].status, executions[0].limit
    finally:
        await engine.close()


async def test_the_default_budget_lets_a_loud_hook_finish(
    home: Path, lua_file: Callable[[str, str], Path]
) -> None:
    assert await _run_loud(home, lua_file) == ("success", None)


async def test_a_smaller_budget_in_config_stops_it(
    home: Path, lua_file: Callable[[str, str], Path]
) -> None:
    (home / "config.toml").write_text("hook_host_memory_mb = 1\n")
    assert await _run_loud(home, lua_file) == ("error", "host_memory")
