"""EngineAPI.mirror (issue 14.6): another engine's rows taken in once each, with the cursor.

A real engine on a real SQLite file, and the same calls through a real Unix socket.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sloth_tui.config import Settings, load_settings
from sloth_tui.engine.engine import Engine
from sloth_tui.model.mirror import ForeignEvent, ForeignExecution, MirrorBatch, MirrorResult
from sloth_tui.remote.client import RemoteEngine
from sloth_tui.remote.protocol import ProtocolError
from sloth_tui.remote.server import SocketServer


def fe(
    n: int, type_: str = "task.completed", status: str = "completed", **data: object
) -> ForeignEvent:
    return ForeignEvent(
        key=f"sloth-runner:event:u{n}",
        type=type_,
        data=data
        or {"task": {"task_name": f"t{n}", "agent_name": "a", "exit_code": 0, "duration": "1s"}},
        ts=1_700_000_000.0 + n,
        status=status,
        stack="prod",
        agent="web-1",
        run_id="r-1",
    )


def fx(n: int, event: int, success: bool = True) -> ForeignExecution:
    return ForeignExecution(
        key=f"sloth-runner:run:u{event}:h:{n}",
        event_key=f"sloth-runner:event:u{event}",
        hook="notify",
        success=success,
        started=1_700_000_100.0 + n,
        duration_ms=12,
        output=f"out {n}",
        error=None if success else "boom",
    )


def batch(cursor: str = "c1", **parts: object) -> MirrorBatch:
    return MirrorBatch(source="sloth-runner", cursor_name="sr:/x", cursor=cursor, **parts)  # type: ignore[arg-type]


def rows(settings: Settings, sql: str) -> list[tuple[object, ...]]:
    conn = sqlite3.connect(f"file:{settings.db_path}?mode=ro", uri=True)
    try:
        return conn.execute(sql).fetchall()
    finally:
        conn.close()


async def test_rows_are_taken_in_once_and_the_cursor_with_them(engine: Engine) -> None:
    sub = engine.subscribe()
    first = await engine.mirror(
        batch("c1", events=(fe(1), fe(2, status="pending")), executions=(fx(1, 1, False),))
    )
    assert first == MirrorResult(events_added=2, executions_added=1)
    assert await engine.mirror_cursor("sr:/x") == "c1"
    events = await engine.query_events(limit=10)
    by_ts = sorted(events, key=lambda e: e.ts)
    assert [(e.source, e.ts, e.status, e.stack, e.agent, e.run_id) for e in by_ts] == [
        ("sloth-runner", 1_700_000_001.0, "completed", "prod", "web-1", "r-1"),
        ("sloth-runner", 1_700_000_002.0, "pending", "prod", "web-1", "r-1"),
    ]
    # Upstream nests the catalog's fields under the category: checked there, no warnings.
    assert all(e.warnings == [] for e in events)
    runs = await engine.executions(hook="notify")
    assert [
        (r.status, r.error, r.origin, r.event_type, [x.message for x in r.logs]) for r in runs
    ] == [("failed", "boom", "sloth-runner", "task.completed", ["out 1"])]
    assert runs[0].event_id == by_ts[0].id
    # The same batch again (a retry, a restart before the reply): nothing new.
    again = await engine.mirror(
        batch("c2", events=(fe(1), fe(2, status="pending")), executions=(fx(1, 1, False),))
    )
    assert (
        again.events_added,
        again.events_known,
        again.executions_added,
        again.executions_known,
    ) == (0, 2, 0, 1)
    assert await engine.count_events() == 2
    assert len(await engine.executions(hook="notify")) == 1
    assert await engine.mirror_cursor("sr:/x") == "c2"
    kinds = [n.kind for n in sub.drain()]
    assert kinds.count("event") == 2 and kinds.count("execution") == 1


async def test_a_run_before_its_event_waits_and_the_cursor_stays(engine: Engine) -> None:
    await engine.mirror(batch("c1"))
    result = await engine.mirror(batch("c2", executions=(fx(1, 7),)))
    assert result.missing == ("sloth-runner:event:u7",) and not result.cursor_stored
    assert await engine.mirror_cursor("sr:/x") == "c1"
    assert await engine.executions(hook="notify") == []
    done = await engine.mirror(batch("c2", events=(fe(7),), executions=(fx(1, 7),)))
    assert (done.events_added, done.executions_added, done.cursor_stored) == (1, 1, True)


async def test_statuses_follow_upstream_and_hooks_do_not_run(
    engine: Engine, lua_file: Callable[[str], Path]
) -> None:
    hook = lua_file("function on_event(event) log.info('ran') return true end\n")
    await engine.add_hook("local", ["task.*"], hook)
    await engine.mirror(batch(events=(fe(1, status="processing"),)))
    await engine.wait_idle()
    assert await engine.executions(hook="local") == []  # shown, not run
    sub = engine.subscribe()
    changed = await engine.mirror(batch(statuses=(("sloth-runner:event:u1", "failed"),)))
    assert changed.statuses_changed == 1
    (event,) = await engine.query_events(limit=1)
    assert event.status == "failed"
    assert [n.kind for n in sub.drain()] == ["event_status"]
    # The same status again, or one for a key never taken in: nothing is written.
    same = await engine.mirror(
        batch(statuses=(("sloth-runner:event:u1", "failed"), ("sloth-runner:event:zz", "failed")))
    )
    assert same.statuses_changed == 0


async def test_run_hooks_runs_this_engines_hooks_on_bridged_events(
    engine: Engine, lua_file: Callable[[str], Path]
) -> None:
    hook = lua_file(
        "function on_event(event) log.info(event.data.task.task_name) return true end\n"
    )
    await engine.add_hook("local", ["task.*"], hook)
    await engine.mirror(
        MirrorBatch(
            "sloth-runner", "sr:/x", "c", events=(fe(1, status="completed"),), run_hooks=True
        )
    )
    assert await engine.wait_idle()
    (run,) = await engine.executions(hook="local")
    assert (run.status, run.origin, run.logs[0].message) == ("success", None, "t1")


async def test_a_row_the_door_refuses_is_kept_out_for_good(engine: Engine) -> None:
    bad = ForeignEvent("sloth-runner:event:bad", "not a type!", {}, 1.0)
    result = await engine.mirror(batch(events=(bad, fe(2)), executions=(fx(1, 0),)))
    # fx(1, 0) points at an event never seen: it waits (missing), the rest goes in.
    assert result.events_added == 1 and len(result.refused) == 1
    assert result.refused[0][0] == "sloth-runner:event:bad"
    again = await engine.mirror(batch(events=(bad,)))
    assert again.refused == () and again.events_known == 1  # not read again and again


async def test_strict_engines_keep_mirrored_events_with_warnings(home: Path) -> None:
    strict = load_settings(home, strict=True)
    eng = await Engine.open(strict)
    try:
        flat = fe(1, **{"something": "else"})
        result = await eng.mirror(batch(events=(flat,)))
        assert result.events_added == 1
        (event,) = await eng.query_events(limit=1)
        assert event.warnings  # the catalog's fields are missing, and it says so
    finally:
        await eng.close()


async def test_mirror_through_the_socket(engine: Engine, settings: Settings) -> None:
    server = SocketServer(engine, settings.socket_path)
    await server.start()
    remote = await RemoteEngine.open(settings, settings.socket_path)
    try:
        result = await remote.mirror(batch("c9", events=(fe(1),), executions=(fx(1, 1),)))
        assert (result.events_added, result.executions_added) == (1, 1)
        assert await remote.mirror_cursor("sr:/x") == "c9"
        assert await remote.mirror_cursor("nope") is None
        (run,) = await remote.executions(hook="notify")
        assert run.origin == "sloth-runner"
        again = await remote.mirror(batch("c9", events=(fe(1),), executions=(fx(1, 1),)))
        assert again.events_known == 1 and again.executions_known == 1
    finally:
        await remote.close()
        await server.stop_intake(timeout=2)
        await server.close(timeout=0.2)


def test_the_socket_refuses_a_mirror_passing_as_the_engine() -> None:
    from sloth_tui.remote import ops

    raw = batch().to_dict() | {"source": "system"}
    with pytest.raises(ProtocolError, match="not a mirror's"):
        ops.MIRROR.arguments({"batch": raw})
    with pytest.raises(ProtocolError, match="bad mirror batch"):
        ops.MIRROR.arguments({"batch": {"source": "sloth-runner"}})


async def test_the_schema_keeps_keys_and_cursors(engine: Engine, settings: Settings) -> None:
    await engine.mirror(batch("c1", events=(fe(1),), executions=(fx(1, 1),)))
    await engine.store.flush()
    assert rows(settings, "SELECT count(*) FROM mirrored") == [(2,)]
    assert rows(settings, "SELECT name, value FROM cursors") == [("sr:/x", "c1")]


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    st.text(max_size=300),
    st.dictionaries(st.text(max_size=20), st.text(max_size=50) | st.integers(), max_size=5),
)
async def test_hostile_types_and_data_never_break_a_batch(
    engine: Engine, type_: str, data: dict[str, object]
) -> None:
    n = abs(hash((type_, tuple(data)))) % 10**9
    event = ForeignEvent(f"sloth-runner:event:h{n}-{type_!r}", type_, data, 5.0)
    result = await engine.mirror(batch(events=(event,)))
    assert result.events_added + len(result.refused) + result.events_known == 1
