"""Sloth Runner's context on events (stack, agent, run_id) and stacks on hooks (issue 14.3).

Real SQLite files and a real engine: the schema migration on a store the previous schema
made, dispatch and read-back, the filter terms on both paths, and a hook's stack.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sloth_tui.engine.engine import Engine
from sloth_tui.engine.events import check_context
from sloth_tui.engine.schema import MIGRATIONS, SCHEMA_VERSION
from sloth_tui.engine.store import Store
from sloth_tui.model.errors import EventRefused, HookError, StoreError
from sloth_tui.model.filters import FilterError, parse_filter
from sloth_tui.model.records import Event, Hook

HOOK = "function on_event(event) return true end\n"


async def test_migration_5_upgrades_a_version_4_store_in_place(tmp_path: Path) -> None:
    path = tmp_path / "sloth.db"
    conn = sqlite3.connect(path)
    conn.executescript(";".join(MIGRATIONS[:4]) + "; PRAGMA user_version = 4;")
    conn.execute(
        "INSERT INTO events (id, type, category, source, ts, status, data) "
        "VALUES (7, 'deploy.failed', 'deploy', 'cli', 1.0, 'completed', '{\"a\":1}')"
    )
    conn.execute(
        "INSERT INTO hooks (name, events, file, created) VALUES ('old', '[\"*\"]', '/x.lua', 1.0)"
    )
    conn.commit()
    conn.close()

    store = await Store.open(path)
    try:
        old = await store.get_event(7)
        assert (old.stack, old.agent, old.run_id) == (None, None, None)
        assert old.data == {"a": 1}
        (hook,) = await store.list_hooks()
        assert hook.name == "old" and hook.stack is None
        new = Event(8, "deploy.failed", "deploy", {}, stack="prod", agent="web-1", run_id="r-9")
        await store.write_event(new)
        back = await store.get_event(8)
        assert (back.stack, back.agent, back.run_id) == ("prod", "web-1", "r-9")
        await store.write(Store.hook_upsert(Hook("s", ["*"], "/y.lua", stack="prod")))
        assert {h.name: h.stack for h in await store.list_hooks()} == {"old": None, "s": "prod"}
    finally:
        await store.close()
    conn = sqlite3.connect(path)
    assert conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    conn.close()


async def test_dispatch_keeps_the_context_and_filters_find_it(engine: Engine) -> None:
    a = await engine.dispatch("deploy.failed", {}, stack="prod-eu", agent="web-1", run_id="R42")
    b = await engine.dispatch("deploy.failed", {}, stack="dev", agent="db-1")
    c = await engine.dispatch("deploy.failed", {})
    assert (a.stack, a.agent, a.run_id) == ("prod-eu", "web-1", "R42")
    stored = await engine.get_event(a.id)
    assert stored.to_dict()["stack"] == "prod-eu" and stored.run_id == "R42"
    assert Event.from_dict(stored.to_dict()) == stored

    async def ids(text: str) -> list[int]:
        flt = parse_filter(text)
        got = sorted(e.id for e in await engine.query_events(flt))
        # The in-memory matcher agrees with the SQL on the same events.
        live = sorted(e.id for e in (a, b, c) if flt.matches(e))
        assert got == live, text
        return got

    assert await ids("stack:prod-*") == [a.id]
    assert await ids("stack:*") == [a.id, b.id]
    assert await ids("!stack:*") == [c.id]
    assert await ids("agent:??-1") == [b.id]
    assert await ids("agent:web-?") == [a.id]
    assert await ids("run:R4*") == [a.id]
    assert await ids("!run:R42") == [b.id, c.id]


def test_filter_keys_need_a_value_and_are_listed() -> None:
    with pytest.raises(FilterError, match="stack: needs a value"):
        parse_filter("stack:")
    with pytest.raises(FilterError, match="stack, agent, run"):
        parse_filter("stak:x")
    assert parse_filter("run:x").terms[0].kind == "run_id"


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("stack", "a\nb", "one line"),
        ("agent", "x" * 257, "longer than 256"),
        ("run_id", 5, "must be text"),
        ("stack", "\ud800", "UTF-8"),
    ],
)
async def test_bad_context_is_refused_in_one_line(
    engine: Engine, field: str, value: Any, message: str
) -> None:
    with pytest.raises(EventRefused, match=message) as info:
        await engine.dispatch("deploy.failed", {}, **{field: value})
    assert "\n" not in str(info.value)


@settings(max_examples=200)
@given(text=st.text(max_size=300))
def test_any_context_text_is_kept_as_given_or_refused_in_one_line(text: str) -> None:
    try:
        kept = check_context("stack", text)
    except EventRefused as exc:
        assert "\n" not in str(exc) and text not in str(exc)
        return
    assert kept == (text or None)
    assert kept is None or kept.encode("utf-8")


@pytest.mark.parametrize("text", ["[bold red]x[/]", "\u202eevil", "💥 ünïcode", "a'b\"c;--"])
async def test_hostile_context_round_trips_through_the_store(engine: Engine, text: str) -> None:
    event = await engine.dispatch("deploy.failed", {}, stack=text, agent=text, run_id=text)
    back = await engine.get_event(event.id)
    assert back.stack == back.agent == back.run_id == text
    flt = parse_filter("stack:*")
    assert [e.id for e in await engine.query_events(flt)] == [event.id]
    assert flt.matches(back)


async def _ran(engine: Engine, **context: Any) -> set[str]:
    _event, runs = await engine.dispatch_and_run("deploy.failed", {}, **context)
    return {r.hook for r in runs}


async def test_a_hook_with_a_stack_runs_only_on_that_stacks_events(
    engine: Engine, lua_file: Callable[[str, str], Path]
) -> None:
    path = lua_file(HOOK, "")
    await engine.add_hook("prod-only", ["deploy.*"], path, stack="prod")
    await engine.add_hook("everywhere", ["deploy.*"], path)
    assert (await engine.get_hook("prod-only")).stack == "prod"
    assert await _ran(engine, stack="prod") == {"prod-only", "everywhere"}
    assert await _ran(engine, stack="dev") == {"everywhere"}
    assert await _ran(engine) == {"everywhere"}
    assert await _ran(engine, stack="prod-eu") == {"everywhere"}  # exact, not a glob

    await engine.update_hook("prod-only", stack="dev")
    assert await _ran(engine, stack="dev") == {"prod-only", "everywhere"}
    await engine.update_hook("prod-only", stack=None)  # every stack again
    assert await _ran(engine, stack="qa") == {"prod-only", "everywhere"}
    with pytest.raises(HookError, match="--stack"):
        await engine.update_hook("prod-only", stack="a\tb")


async def test_events_a_hook_dispatches_keep_its_events_context(
    engine: Engine, lua_file: Callable[[str, str], Path]
) -> None:
    code = 'function on_event(event) event.dispatch("task.started", {}) return true end\n'
    await engine.add_hook("chain", ["deploy.failed"], lua_file(code, ""))
    child_path = lua_file(HOOK, "")
    await engine.add_hook("child", ["task.started"], child_path, stack="prod")
    event, _runs = await engine.dispatch_and_run("deploy.failed", {}, stack="prod", run_id="r1")
    await engine.wait_idle()
    (child,) = await engine.child_events(event.id)
    assert (child.stack, child.run_id, child.parent_id) == ("prod", "r1", event.id)
    assert [r.hook for r in await engine.executions_of(child.id)] == ["child"]


async def test_a_read_only_open_of_a_version_4_store_says_how_to_upgrade(tmp_path: Path) -> None:
    path = tmp_path / "sloth.db"
    conn = sqlite3.connect(path)
    conn.executescript(";".join(MIGRATIONS[:4]) + "; PRAGMA user_version = 4;")
    conn.close()
    with pytest.raises(StoreError, match=r"schema version 4, older .*sloth-tui serve") as info:
        await Store.open(path, readonly=True)
    assert "\n" not in str(info.value)
    await (await Store.open(path)).close()  # a writer upgrades it
    store = await Store.open(path, readonly=True)
    try:
        assert await store.query_events() == []
    finally:
        await store.close()
