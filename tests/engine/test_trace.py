"""engine/trace_sql.py on a real engine: real Lua hooks dispatching chains, a real SQLite file.

The chain: a hook on a.* dispatches b.step and a custom event; on b.step one hook
dispatches c.step and another fails; a hook on c.* does nothing. The trace of any
event of that tree is the same tree, marked where it was asked.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import pytest

from sloth_tui.engine.engine import Engine
from sloth_tui.engine.store import INSERT_EVENT, INSERT_EXECUTION, event_row, execution_row
from sloth_tui.engine.trace_sql import read_trace
from sloth_tui.model.errors import NotFound
from sloth_tui.model.records import Event, Execution
from sloth_tui.model.trace import Trace, TraceEvent, footer_lines, header_lines, tree_lines

LuaFile = Callable[..., Path]


async def _chain(engine: Engine, lua_file: LuaFile) -> dict[str, Event]:
    """The tree of the module docstring; returns its events by type."""
    a = lua_file(
        'function on_event() event.dispatch("b.step", {n = 1}) '
        'event.dispatch_custom("note", "from a") return true end'
    )
    b = lua_file('function on_event() event.dispatch("c.step", {n = 2}) return true end')
    boom = lua_file('function on_event() error("boom on " .. event.type) end')
    c = lua_file("function on_event() return true end")
    await engine.add_hook("on-a", ["a.*"], a)
    await engine.add_hook("on-b", ["b.*"], b)
    await engine.add_hook("boom", ["b.*"], boom)
    await engine.add_hook("on-c", ["c.*"], c)
    root, _ = await engine.dispatch_and_run("a.go", {"service": "api"})
    assert await engine.wait_idle()
    events = await engine.query_events(limit=10, after_id=root.id - 1)
    return {e.type: e for e in events}


def _shape(ev: TraceEvent) -> object:
    """The tree without times: (type, [(hook, status, [children])], [loose children])."""
    return (
        ev.type,
        [(r.hook, r.status, [_shape(c) for c in r.children]) for r in ev.runs],
        [_shape(c) for c in ev.children],
    )


EXPECTED: object = (
    "a.go",
    [
        (
            "on-a",
            "success",
            [
                (
                    "b.step",
                    [
                        ("on-b", "success", [("c.step", [("on-c", "success", [])], [])]),
                        ("boom", "error", []),
                    ],
                    [],
                ),
                ("custom", [], []),
            ],
        )
    ],
    [],
)


async def test_trace_is_the_same_tree_from_root_middle_and_leaf(
    engine: Engine, lua_file: LuaFile
) -> None:
    ev = await _chain(engine, lua_file)
    traces = [await engine.trace(ev[t].id) for t in ("a.go", "b.step", "c.step", "custom")]
    for trace, asked in zip(traces, ("a.go", "b.step", "c.step", "custom"), strict=True):
        assert trace.root_id == ev["a.go"].id
        assert trace.asked_id == ev[asked].id
        assert trace.missing_parent is None
        assert trace.root == traces[0].root  # the very same tree, times included
        assert (trace.shown, trace.omitted) == (8, 0)  # 4 events and 4 runs
    root = traces[0].root
    # on-b and boom both ran on b.step; their order is the order they were stored.
    b_step = root.runs[0].children[0]
    b_step = replace(b_step, runs=tuple(sorted(b_step.runs, key=lambda r: r.hook != "on-b")))
    root = replace(root, runs=(replace(root.runs[0], children=(b_step, root.runs[0].children[1])),))
    assert _shape(root) == EXPECTED


async def test_trace_times_triggers_and_errors(engine: Engine, lua_file: LuaFile) -> None:
    ev = await _chain(engine, lua_file)
    trace = await engine.trace(ev["c.step"].id)
    assert trace.root_ts == ev["a.go"].ts and trace.root.offset == 0.0
    for event in trace.events():
        stored = ev[event.type]
        assert event.offset == pytest.approx(stored.ts - ev["a.go"].ts)
        assert event.status == stored.status and event.source == stored.source
        for run in event.runs:
            assert run.offset >= event.offset - 0.001  # a run starts after its event
            assert run.duration_ms >= 0 and (run.trigger, run.attempt) == ("event", 1)
            assert run.id is not None
            for child in run.children:
                assert child.offset >= run.offset - 0.001
    b_runs = {r.hook: r for r in trace.root.runs[0].children[0].runs}
    assert b_runs["boom"].error is not None and "boom on b.step" in b_runs["boom"].error
    assert b_runs["on-b"].error is None


async def test_trace_of_a_missing_event_is_one_line(engine: Engine) -> None:
    with pytest.raises(NotFound) as err:
        await engine.trace(424242)
    assert str(err.value) == "no event with id 424242"


async def test_a_lone_event_is_a_tree_of_one(engine: Engine) -> None:
    event = await engine.dispatch("myapp.tick", {})
    await engine.store.flush()
    trace = await engine.trace(event.id)
    assert (trace.root_id, trace.asked_id, trace.shown) == (event.id, event.id, 1)
    assert trace.root.runs == () and trace.root.children == ()


async def test_dry_runs_are_not_part_of_a_trace(engine: Engine, lua_file: LuaFile) -> None:
    ev = await _chain(engine, lua_file)
    before = await engine.trace(ev["a.go"].id)
    # A dry run on the stored root: stored as an execution of that event, dry_run = 1.
    dry = await engine.test_hook("on-a", event=ev["a.go"])
    assert dry.dry_run and dry.event_id == ev["a.go"].id
    assert any(x.dry_run for x in await engine.executions_of(ev["a.go"].id))
    after = await engine.trace(ev["a.go"].id)
    assert after.root == before.root


async def test_a_trimmed_root_leaves_the_oldest_stored_ancestor(
    engine: Engine, lua_file: LuaFile
) -> None:
    ev = await _chain(engine, lua_file)
    await engine.delete_event(ev["a.go"].id)
    for asked in ("b.step", "c.step"):
        trace = await engine.trace(ev[asked].id)
        assert trace.root_id == ev["b.step"].id
        assert trace.missing_parent == ev["a.go"].id
        assert trace.root.offset == 0.0 and trace.root_ts == ev["b.step"].ts
        assert [r.hook for r in trace.root.runs] and trace.root.type == "b.step"
        assert "oldest ancestor still stored" in header_lines(trace)[0]
    # The custom event, a sibling of b.step, is its own root now.
    alone = await engine.trace(ev["custom"].id)
    assert (alone.root_id, alone.missing_parent) == (ev["custom"].id, ev["a.go"].id)


async def test_children_whose_run_is_gone_hang_under_their_event(
    engine: Engine, lua_file: LuaFile
) -> None:
    ev = await _chain(engine, lua_file)
    await engine.store.write(
        ("DELETE FROM executions WHERE event_id = ? AND hook = 'on-a'", (ev["a.go"].id,))
    )
    trace = await engine.trace(ev["c.step"].id)
    assert trace.root.runs == ()
    assert [c.type for c in trace.root.children] == ["b.step", "custom"]
    assert trace.root.children[0].runs  # still with its own runs and children below


async def test_the_node_bound_counts_the_rest_and_keeps_the_way_to_the_asked(
    engine: Engine, lua_file: LuaFile
) -> None:
    fan = lua_file(
        "function on_event() for i = 1, 30 do event.dispatch('leaf.one', {i = i}) end end"
    )
    leaf = lua_file("function on_event() return true end")
    await engine.add_hook("fan", ["fan.out"], fan)
    await engine.add_hook("leaf", ["leaf.*"], leaf)
    root, _ = await engine.dispatch_and_run("fan.out", {})
    assert await engine.wait_idle()
    full = await engine.trace(root.id)
    assert (full.shown, full.omitted) == (1 + 1 + 30 + 30, 0)
    last = full.root.runs[0].children[-1].id

    def bounded(max_nodes: int, count_cap: int = 100_000) -> Callable[[sqlite3.Connection], Trace]:
        return lambda conn: read_trace(conn, last, max_nodes=max_nodes, count_cap=count_cap)

    small: Trace = await engine.store.run_readonly(bounded(10))
    # The way to the last leaf is drawn past the bound: root, run, that leaf.
    assert small.shown + small.omitted == full.shown
    assert small.shown == 11  # 10 drawn in order, and the asked leaf besides
    drawn = [e.id for e in small.events()]
    assert last in drawn and len(drawn) == 1 + 8 + 1
    assert footer_lines(small) == [f"… {small.omitted} more not shown (the trace draws 2000 nodes)"]
    capped: Trace = await engine.store.run_readonly(bounded(10, count_cap=20))
    assert capped.omitted_more and capped.omitted == 20
    assert footer_lines(capped)[0].startswith("… at least 20 more not shown")


async def test_a_loop_in_damaged_parents_ends(engine: Engine) -> None:
    first = await engine.dispatch("x.one", {})
    second = await engine.dispatch("x.two", {})
    # Damaged on purpose: each the parent of the other.
    await engine.store.write(
        ("UPDATE events SET parent_id = ? WHERE id = ?", (second.id, first.id)),
        ("UPDATE events SET parent_id = ? WHERE id = ?", (first.id, second.id)),
    )
    trace = await engine.trace(first.id)
    assert sorted(e.id for e in trace.events()) == [first.id, second.id]


async def test_hostile_text_and_json_round_trip(engine: Engine) -> None:
    """Types, hook names, errors and calls from outside (a raw row, as a bridge or a
    damaged file could leave): kept as they are, and the trace still reads."""
    nasty = "[red]x[/] \x1b]0;pwned\x07 \u202eevil\n"
    parent = Event(id=9000, type=nasty, category="x", data={}, source=nasty)
    child = Event(id=9001, type="y" + nasty, category="x", data={}, parent_id=9000, depth=1)
    run = Execution(
        hook=nasty,
        event_id=9000,
        status="error",
        started=parent.ts,
        error="E" * 5000 + nasty,
        calls=[{"fn": "event.dispatch", "id": 9001}, {"fn": "event.dispatch", "id": "9001"}],
        origin=nasty,
    )
    await engine.store.write(
        (INSERT_EVENT, event_row(parent)),
        (INSERT_EVENT, event_row(child)),
        (INSERT_EXECUTION, execution_row(run)),
        ("INSERT INTO executions (hook, event_id, status, started, duration_ms, logs, calls) "
         "VALUES ('bad-calls', 9000, 'success', 0, 0, '[]', 'not json')", ()),
    )  # fmt: skip
    trace = await engine.trace(9001)
    assert trace.root.type == nasty and trace.root.source == nasty
    runs = {r.hook: r for r in trace.root.runs}
    assert [c.id for c in runs[nasty].children] == [9001]
    assert runs[nasty].origin == nasty
    error = runs[nasty].error
    assert error is not None and len(error) == 200
    assert runs["bad-calls"].children == ()
    wire = json.loads(json.dumps(trace.to_dict()))
    assert Trace.from_dict(wire) == trace
    lines = tree_lines(trace, repr)
    # Runs in the order they started: bad-calls (started at 0) before the nasty one.
    assert [line.kind for line in lines] == ["event", "run", "run", "event"]
    assert [line.event_id for line in lines] == [9000, 9000, 9000, 9001]
    assert [line.asked for line in lines] == [False, False, False, True]
    assert lines[2].run_id == runs[nasty].id and lines[1].run_id == runs["bad-calls"].id


async def test_tree_lines_draw_the_branches(engine: Engine, lua_file: LuaFile) -> None:
    ev = await _chain(engine, lua_file)
    trace = await engine.trace(ev["b.step"].id)
    lines = tree_lines(trace, str)
    drawn = [line.prefix + line.label.split(" [")[0].split(":")[0] for line in lines]
    # b.step's two runs, in the order they were stored (either may come first).
    first, second = (
        next(x.label.split(":")[0] for x in lines if x.prefix == p and x.kind == "run")
        for p in ("   │  ├─ ", "   │  └─ ")
    )
    assert {first, second} == {"on-b", "boom"}
    assert drawn == [
        f"event {ev['a.go'].id} a.go",
        "└─ on-a",
        f"   ├─ event {ev['b.step'].id} b.step",
        f"   │  ├─ {first}",
        *([f"   │  │  └─ event {ev['c.step'].id} c.step", "   │  │     └─ on-c"]
          if first == "on-b" else []),
        f"   │  └─ {second}",
        *([f"   │     └─ event {ev['c.step'].id} c.step", "   │        └─ on-c"]
          if second == "on-b" else []),
        f"   └─ event {ev['custom'].id} custom",
    ]  # fmt: skip
    assert [line.asked for line in lines].count(True) == 1
    assert next(line for line in lines if line.asked).event_id == ev["b.step"].id
    assert header_lines(trace) == [] and footer_lines(trace) == []
