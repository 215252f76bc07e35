"""`sloth-tui event trace`: the tree as text and as JSON, on a real home with real Lua
hooks; the same trace through a real `serve` daemon; hostile text kept inert."""

from __future__ import annotations

import asyncio
import json
import re
import signal
from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from hostile import hostile_text
from hypothesis import given, settings
from hypothesis import strategies as st
from sourcekit import DaemonProcess, wait_for

from sloth_tui.cli import main
from sloth_tui.commands.event_trace import trace_text
from sloth_tui.config import load_settings
from sloth_tui.engine.engine import Engine
from sloth_tui.engine.store import INSERT_EVENT, INSERT_EXECUTION, event_row, execution_row
from sloth_tui.model.records import Event, Execution
from sloth_tui.model.trace import Trace, TraceEvent, TraceRun
from sloth_tui.plain_text import _UNSAFE

Cli = Callable[..., Result]


@pytest.fixture
def cli(home: Path) -> Cli:
    runner = CliRunner()

    def invoke(*args: str) -> Result:
        return runner.invoke(main, ["--home", str(home), *args], catch_exceptions=False)

    return invoke


def _hooks(cli: Cli, tmp_path: Path) -> None:
    code = {
        "on-a": 'function on_event() event.dispatch("b.step", {n = 1}) return true end',
        "on-b": 'function on_event() event.dispatch("c.step", {n = 2}) return true end',
        "boom": 'function on_event() error("boom") end',
    }
    patterns = {"on-a": "a.*", "on-b": "b.*", "boom": "b.*"}
    for name, text in code.items():
        path = tmp_path / f"{name}.lua"
        path.write_text(text)
        added = cli("hook", "add", name, "--event", patterns[name], "--file", str(path))
        assert added.exit_code == 0, added.output


def _dispatch(cli: Cli) -> int:
    out = cli("event", "dispatch", "a.go", "service=api", "--json")
    assert out.exit_code == 0, out.output
    return int(json.loads(out.output)["id"])


# event, run, event, run, run, event: with the times and durations left out
_TIMES = re.compile(r" [+-]\d+(\.\d+)?s| \d+(\.\d+)?m?s")


def _untimed(text: str) -> list[str]:
    return [_TIMES.sub("", line) for line in text.splitlines()]


def test_trace_text_from_root_and_leaf(cli: Cli, tmp_path: Path) -> None:
    _hooks(cli, tmp_path)
    root = _dispatch(cli)
    from_root = cli("event", "trace", str(root))
    assert from_root.exit_code == 0, from_root.output
    lines = _untimed(from_root.output)
    # b.step's two runs in the order they were stored
    on_b_first = "on-b" in next(x for x in lines if x.startswith("      ├─ "))
    expected = [
        "event 1 a.go [completed]  ◀ asked",
        "└─ on-a: success (event)",
        "   └─ event 2 b.step [failed]",
        *(
            ["      ├─ on-b: success (event)", "      │  └─ event 3 c.step [completed]",
             "      └─ boom: error (event) - boom.lua:1: boom"]
            if on_b_first
            else ["      ├─ boom: error (event) - boom.lua:1: boom",
                  "      └─ on-b: success (event)", "         └─ event 3 c.step [completed]"]
        ),
    ]  # fmt: skip
    assert lines == expected
    # A time after the root on every node, a duration on every run.
    assert all(re.search(r" \+\d+\.\d{3}s", line) for line in from_root.output.splitlines())
    from_leaf = cli("event", "trace", "3")
    assert from_leaf.exit_code == 0
    # The same tree; only the mark moved.
    assert from_leaf.output.replace("  ◀ asked", "") == from_root.output.replace("  ◀ asked", "")
    asked = [line for line in from_leaf.output.splitlines() if line.endswith("◀ asked")]
    assert len(asked) == 1 and "event 3 c.step" in asked[0]


def test_trace_json_is_the_trace(cli: Cli, tmp_path: Path) -> None:
    _hooks(cli, tmp_path)
    root = _dispatch(cli)
    out = cli("event", "trace", "2", "--json")
    assert out.exit_code == 0, out.output
    data = json.loads(out.output)
    trace = Trace.from_dict(data)
    assert (trace.root_id, trace.asked_id, trace.missing_parent) == (root, 2, None)
    assert (trace.shown, trace.omitted) == (6, 0)
    assert trace.to_dict() == data
    b_step = trace.root.runs[0].children[0]
    assert {r.hook: r.status for r in b_step.runs} == {"on-b": "success", "boom": "error"}
    assert data["root"]["runs"][0]["trigger"] == "event"
    assert data["root"]["runs"][0]["attempt"] == 1


def test_trace_errors_are_one_line(cli: Cli) -> None:
    missing = cli("event", "trace", "999")
    assert missing.exit_code == 1
    assert missing.output == "error: no event with id 999\n"
    assert cli("event", "trace", "-1").exit_code == 2
    assert cli("event", "trace", "x").exit_code == 2
    assert cli("event", "trace").exit_code == 2


def test_trace_help_says_each_option(cli: Cli) -> None:
    out = cli("event", "trace", "--help")
    assert out.exit_code == 0
    assert "--json" in out.output and "root" in out.output and "2000" in out.output
    assert "trace" in cli("event", "--help").output


def test_trimmed_root_is_said(cli: Cli, tmp_path: Path) -> None:
    _hooks(cli, tmp_path)
    root = _dispatch(cli)
    assert cli("event", "delete", str(root)).exit_code == 0
    out = cli("event", "trace", "3")
    assert out.exit_code == 0, out.output
    first = out.output.splitlines()[0]
    assert first == (
        f"root: event 2, the oldest ancestor still stored (its parent {root} was trimmed or "
        "deleted)"
    )
    assert out.output.splitlines()[1].startswith("event 2 b.step")


def _hostile_rows(home: Path, nasty: str) -> None:
    async def write() -> None:
        engine = await Engine.open(load_settings(home))
        try:
            parent = Event(id=70, type=nasty, category="x", data={}, source=nasty)
            child = Event(id=71, type=nasty, category="x", data={}, parent_id=70, depth=1)
            run = Execution(
                hook=nasty,
                event_id=70,
                status=nasty,
                started=parent.ts,
                error=nasty,
                trigger=nasty,
                origin=nasty,
                calls=[{"fn": "event.dispatch", "id": 71}],
            )
            await engine.store.write(
                (INSERT_EVENT, event_row(parent)),
                (INSERT_EVENT, event_row(child)),
                (INSERT_EXECUTION, execution_row(run)),
            )
        finally:
            await engine.close()

    asyncio.run(write())


def test_hostile_text_is_escaped_and_json_exact(cli: Cli, home: Path) -> None:
    nasty = "[red]x[/] \x1b]0;pwned\x07 \x9b31m \u202eevil \nline2"
    _hostile_rows(home, nasty)
    out = cli("event", "trace", "71")
    assert out.exit_code == 0, out.output
    assert not _UNSAFE.search(out.output.replace("\n", ""))
    assert out.output.count("\n") == 3  # one line per node: the newline is escaped
    assert "\\x1b]0;pwned\\x07" in out.output and "\\u202eevil" in out.output
    assert "[red]x[/]" in out.output  # plain text: the brackets are not markup here
    as_json = cli("event", "trace", "71", "--json")
    assert "\x1b" not in as_json.output and "\u202e" not in as_json.output
    trace = Trace.from_dict(json.loads(as_json.output))
    assert trace.root.type == nasty and trace.root.runs[0].hook == nasty
    assert trace.root.runs[0].children[0].id == 71


def test_trace_through_the_daemon_is_the_same(
    home: Path, tmp_path: Path, daemons: Callable[[Path | None], DaemonProcess], cli: Cli
) -> None:
    daemon = daemons(home).start()
    _hooks(cli, tmp_path)  # through the daemon: it runs the hooks
    _dispatch(cli)

    def chain_done() -> bool:
        # `event dispatch` waits for a.go's own runs; the events its hooks dispatched
        # (b.step, then c.step) run after, in the daemon: trace once they have.
        listed = cli("event", "list", "--json")
        events = json.loads(listed.output) if listed.exit_code == 0 else []
        steps = [e for e in events if e["type"] in ("a.go", "b.step", "c.step")]
        return len(steps) == 3 and all(e["status"] in ("completed", "failed") for e in steps)

    wait_for(chain_done, what="the chain a.go -> b.step -> c.step to finish")
    remote = cli("event", "trace", "2", "--json")
    assert remote.exit_code == 0, remote.output + daemon.output()
    assert daemon.signal(signal.SIGTERM) == 0
    local = cli("event", "trace", "2", "--json")
    assert local.exit_code == 0
    assert json.loads(remote.output) == json.loads(local.output)
    assert Trace.from_dict(json.loads(remote.output)).shown == 6


# -- the drawing, over hostile text -------------------------------------------------------


def _runs(text: st.SearchStrategy[str]) -> st.SearchStrategy[TraceRun]:
    leaf = st.builds(
        TraceEvent,
        id=st.integers(1, 10**6),
        type=text,
        status=text,
        source=text,
        offset=st.floats(-1e6, 1e6),
    )
    return st.builds(
        TraceRun,
        hook=text,
        status=text,
        offset=st.floats(-1e6, 1e6),
        duration_ms=st.floats(0, 1e7),
        trigger=text,
        attempt=st.integers(1, 10),
        error=st.none() | text,
        origin=st.none() | text,
        children=st.lists(leaf, max_size=3).map(tuple),
    )


@settings(max_examples=60, deadline=None)
@given(
    run=_runs(hostile_text(60)),
    root_type=hostile_text(60),
    asked=st.integers(1, 10**6),
)
def test_drawn_lines_stay_one_line_each_and_inert(
    run: TraceRun, root_type: str, asked: int
) -> None:
    root = TraceEvent(0, root_type, "completed", "cli", 0.0, runs=(run, run))
    lines = trace_text(Trace(0, asked, root))
    assert len(lines) == 1 + 2 * (1 + len(run.children))
    for line in lines:
        assert not _UNSAFE.search(line)
    assert lines[0].startswith("event 0 ")
    assert all(line.startswith(("├─ ", "│  ", "└─ ", "   ")) for line in lines[1:])
