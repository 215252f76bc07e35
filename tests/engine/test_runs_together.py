"""Runs of hooks without a gate go to Lua several per call (issue 19), on the real
engine: what the runs that call the host did (logs, state, dispatched events) lands
on the right executions, and the others went in fewer calls than runs."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

from policy_kit import dispatch_many, runs_of, settle

from sloth_tui.config import Settings
from sloth_tui.engine.engine import Engine

# Every fifth event: a log line, a counter and a child event; the rest call nothing.
HOOK = """
function on_event(e)
  if e.data.n % 5 == 0 then
    log.info("fifth " .. e.data.n)
    state.incr("fifths", 1)
    event.dispatch("custom", {name = "child", message = tostring(e.data.n)})
  end
  return e.data.n
end
"""


async def test_what_runs_did_lands_on_their_own_executions(
    settings: Settings, lua_file: Callable[[str, str], Path]
) -> None:
    engine = await Engine.open(replace(settings, concurrency=1))
    try:
        await engine.add_hook("h", ["deploy.*"], lua_file(HOOK, "h.lua"))
        assert engine._runtime is not None
        calls: list[int] = []
        real = engine._runtime.run_many

        def counted(runs: Any, touch: Any) -> Any:  # a spy: every call goes through
            calls.append(len(runs))
            return real(runs, touch)

        engine._runtime.run_many = counted  # type: ignore[method-assign]
        ids = await dispatch_many(engine, [{"n": n} for n in range(60)], "deploy.started")
        await settle(engine)
        runs = await runs_of(engine, "h")
        by_event = {x.event_id: x for x in runs}
        assert sorted(by_event) == sorted(ids)
        for n, event_id in enumerate(ids):
            run = by_event[event_id]
            assert (run.status, run.result) == ("success", n), run.error
            fifth = n % 5 == 0
            assert [line.message for line in run.logs] == ([f"fifth {n}"] if fifth else [])
            fns = [call["fn"] for call in run.calls]
            assert fns == (["state.incr", "event.dispatch"] if fifth else [])
        assert await engine.store.state_get("h", "fifths") == 12
        children = [e for e in await engine.query_events(limit=1000) if e.type == "custom"]
        assert sorted(e.parent_id for e in children) == sorted(ids[::5])
        assert {e.status for e in await engine.query_events(limit=1000)} == {"completed"}
        # The runs that called nothing went several per call.
        assert len(calls) < 60 - 12
    finally:
        await engine.close()
    with sqlite3.connect(settings.db_path) as conn:
        rows = conn.execute("SELECT COUNT(*), SUM(result IS NOT NULL) FROM executions").fetchone()
    assert rows == (60, 60)
