"""Replay before save (engine/replay.py, model/replay.py) on a real engine: real hooks,
events dispatched for real, the edited code run in dry run beside the recorded runs,
and the store proven untouched (row counts and table contents before and after)."""

from __future__ import annotations

import hashlib
import sqlite3
import threading
from collections.abc import Callable, Iterator
from dataclasses import replace
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given
from hypothesis import settings as hsettings
from hypothesis import strategies as st

from sloth_tui.engine.engine import Engine
from sloth_tui.engine.replay import MAX_LAST, call_key, compare, replay_hook
from sloth_tui.model.errors import HookError, NotFound
from sloth_tui.model.policy import HookPolicy
from sloth_tui.model.records import Event, Execution, LogLine
from sloth_tui.model.replay import LineDiff, Outcome, ReplayReport, ReplayRow

LuaFile = Callable[..., Path]

OK = 'function on_event() log.info("seen " .. event.data.service) return true end'
TABLES = ("events", "executions", "state", "hooks", "http_marks")


def snapshot(home: Path) -> dict[str, tuple[int, str]]:
    """Each table's row count and a digest of every row: what the replay must not touch."""
    conn = sqlite3.connect(f"file:{home / 'sloth.db'}?mode=ro", uri=True, timeout=5)
    try:
        out = {}
        for table in TABLES:
            rows = sorted(map(repr, conn.execute(f"SELECT * FROM {table}").fetchall()))
            out[table] = (len(rows), hashlib.sha256(repr(rows).encode()).hexdigest())
        return out
    finally:
        conn.close()


async def settled(engine: Engine) -> None:
    assert await engine.wait_idle(30)
    await engine.store.flush()


async def seed(engine: Engine, lua_file: LuaFile, n: int = 3, code: str = OK) -> list[int]:
    """Hook `h` on deploy.*, and n events it ran on for real."""
    await engine.add_hook("h", ["deploy.*"], lua_file(code))
    ids = []
    for i in range(n):
        event, runs = await engine.dispatch_and_run("deploy.started", {"service": f"s{i}"})
        assert [r.status for r in runs] == ["success"]
        ids.append(event.id)
    await settled(engine)
    return ids


async def test_same_code_is_all_same_and_writes_nothing(engine: Engine, lua_file: LuaFile) -> None:
    ids = await seed(engine, lua_file)
    home = engine.settings.home
    before = snapshot(home)
    report = await engine.replay("h")
    await settled(engine)
    assert snapshot(home) == before
    assert (report.matched, report.replayed, report.stopped) == (3, 3, None)
    assert (report.same, report.changed, report.worse) == (3, 0, 0)
    assert [r.event_id for r in report.rows] == sorted(ids, reverse=True)  # newest first
    for row in report.rows:
        assert row.recorded is not None and row.recorded.status == "success"
        assert row.recorded.execution_id is not None
        assert row.new.status == "success" and row.new.execution_id is None
        assert row.what_changed() == "" and row.duration_delta_ms is not None
    assert "3 same, 0 changed, 0 worse" in report.summary
    assert not report.edited


async def test_code_that_now_fails_is_worse_and_comes_first(
    engine: Engine, lua_file: LuaFile
) -> None:
    await seed(engine, lua_file)
    edited = """
function on_event()
  if event.data.service == "s1" then error("boom on " .. event.data.service) end
  log.info("seen " .. event.data.service)
  return true
end
"""
    report = await engine.replay("h", code=edited)
    assert (report.same, report.changed, report.worse) == (2, 1, 1)
    first = report.rows[0]
    assert first.worse and first.status_changed
    assert first.new.status == "error" and "boom on s1" in (first.new.error or "")
    assert first.logs.removed == ("info: seen s1",) and first.logs.n_added == 0
    assert first.what_changed().startswith("success -> error")
    assert report.edited and "the edited code" in report.summary


async def test_added_http_post_is_recorded_and_never_sent(
    engine: Engine, lua_file: LuaFile, http_server: Server
) -> None:
    await seed(engine, lua_file, n=2)
    before = snapshot(engine.settings.home)
    edited = f"""
function on_event()
  log.info("seen " .. event.data.service)
  http.post("{http_server.url}/alert", {{service = event.data.service}})
  event.dispatch("myapp.replayed", {{service = event.data.service}})
  state.set("last", event.data.service)
  state.incr("count", 1)
  return true
end
"""
    report = await engine.replay("h", code=edited)
    await settled(engine)
    assert http_server.received == []  # dry run: recorded, never sent
    assert snapshot(engine.settings.home) == before  # no event, no state, no execution
    assert await engine.count_events() == 2
    assert report.changed == 2 and report.worse == 0
    for row in report.rows:
        assert row.calls.added[:2] == (
            f"http.post {http_server.url}/alert",
            "event.dispatch myapp.replayed",
        )
        assert row.calls.n_removed == 0 and not row.logs
        assert "+4 calls" in row.what_changed()


async def test_code_that_does_not_compile_is_every_rows_error(
    engine: Engine, lua_file: LuaFile
) -> None:
    await seed(engine, lua_file)
    report = await engine.replay("h", code="function on_event( return end end")
    assert report.replayed == 3 and report.worse == 3
    assert {r.new.status for r in report.rows} == {"error"}
    assert all(r.new.error for r in report.rows)


async def test_zero_matching_events_is_an_empty_report(engine: Engine, lua_file: LuaFile) -> None:
    await engine.add_hook("h", ["deploy.*"], lua_file(OK))
    await engine.dispatch_and_run("myapp.ping", {})
    report = await engine.replay("h")
    assert report.rows == [] and report.matched == 0 and report.worse == 0
    assert "no stored event matches" in report.summary


async def test_unknown_hook_and_bad_last_are_one_line_errors(
    engine: Engine, lua_file: LuaFile
) -> None:
    with pytest.raises(NotFound, match="nope"):
        await engine.replay("nope")
    await engine.add_hook("h", ["deploy.*"], lua_file(OK))
    for bad in (0, -1, MAX_LAST + 1):
        with pytest.raises(HookError, match="--last") as info:
            await engine.replay("h", last=bad)
        assert "\n" not in str(info.value)


async def test_last_takes_the_newest_and_events_before_the_hook_are_not_run(
    engine: Engine, lua_file: LuaFile
) -> None:
    early, _ = await engine.dispatch_and_run("deploy.done", {"service": "early"})
    ids = await seed(engine, lua_file, n=3)
    report = await engine.replay("h", last=10)
    assert report.matched == 4
    not_run = [r for r in report.rows if r.recorded is None]
    assert [r.event_id for r in not_run] == [early.id]
    assert report.rows[0].event_id == early.id  # changed rows first
    assert not not_run[0].worse and not_run[0].what_changed() == "not run -> success; +1 log line"
    report = await engine.replay("h", last=2)
    assert [r.event_id for r in report.rows] == sorted(ids, reverse=True)[:2]


async def test_condition_and_stack_leave_other_events_out(
    engine: Engine, lua_file: LuaFile
) -> None:
    await engine.add_hook("h", ["deploy.*", "myapp.*"], lua_file(OK))
    await engine.update_hook("h", policy=HookPolicy(when="service=payments"))
    pay, _ = await engine.dispatch_and_run("deploy.started", {"service": "payments"})
    await engine.dispatch_and_run("deploy.started", {"service": "search"})
    app, _ = await engine.dispatch_and_run("myapp.ping", {"service": "payments"})
    await engine.dispatch_and_run("other.thing", {"service": "payments"})
    report = await engine.replay("h")
    assert sorted(r.event_id for r in report.rows) == [pay.id, app.id]
    odd = "p[r]od*?"  # glob characters in a stack name are its own characters
    await engine.update_hook("h", policy=HookPolicy(), stack=odd)
    for stack in (odd, "prod", "p[r]od*?2", "pod*?"):
        await engine.dispatch("deploy.started", {"service": "x"}, stack=stack)
    await settled(engine)
    report = await engine.replay("h")
    assert report.matched == 1


async def test_time_budget_stops_and_says_how_many(engine: Engine, lua_file: LuaFile) -> None:
    await seed(engine, lua_file, n=4)
    ticks = iter(range(100))  # each clock reading is one second later
    report = await replay_hook(
        engine, engine._registry, "h", code=None, last=50, budget=2.5,
        clock=lambda: float(next(ticks)),
    )  # fmt: skip
    assert report.matched == 4 and report.replayed < 4 and report.stopped
    assert len(report.rows) == report.replayed
    assert f"stopped after {report.replayed} of 4" in report.summary


async def test_report_round_trips_through_its_dict(engine: Engine, lua_file: LuaFile) -> None:
    await seed(engine, lua_file)
    report = await engine.replay("h", code='function on_event() log.warn("x") end')
    again = ReplayReport.from_dict(report.to_dict())
    assert again.to_dict() == report.to_dict()


# -- pure parts, with hostile text -------------------------------------------------


def _exec(status: str, logs: list[str], calls: list[dict[str, object]]) -> Execution:
    return Execution("h", 1, status, 0.0, logs=[LogLine("info", 0.0, m) for m in logs], calls=calls)


def test_call_keys_compare_real_and_dry_records() -> None:
    real = {"fn": "http.post", "url": "http://x/a", "status": 200, "dry_run": False}
    dry = {"fn": "http.post", "url": "http://x/a", "status": 200, "dry_run": True}
    assert call_key(real) == call_key(dry) == "http.post http://x/a"
    assert call_key({"fn": "event.dispatch", "type": "a.b", "data": {}}) == "event.dispatch a.b"
    assert call_key({"fn": "state.lock", "key": ["k"]}) == 'state.lock ["k"]'
    assert call_key({}) == "?"


hostile = st.text(st.characters(codec="utf-8"), max_size=300) | st.sampled_from(
    ["[bold]x[/]", "\x1b]0;title\x07", "\u202eevil", "x" * 5000, "line\nbreak"]
)


@hsettings(max_examples=60, suppress_health_check=[HealthCheck.too_slow], deadline=None)
@given(old=st.lists(hostile, max_size=15), new=st.lists(hostile, max_size=15))
def test_log_diff_is_a_multiset_difference(old: list[str], new: list[str]) -> None:
    event = Event(1, "t.x", "t", {})
    row = compare(event, _exec("success", old, []), _exec("failed", new, []))
    before = [f"info: {m}" for m in old]
    after = [f"info: {m}" for m in new]
    assert row.logs.n_added == sum(max(0, after.count(x) - before.count(x)) for x in set(after))
    assert row.logs.n_removed == sum(max(0, before.count(x) - after.count(x)) for x in set(before))
    assert len(row.logs.added) <= 10 and all(len(x) <= 160 for x in row.logs.added)
    assert row.worse and row.changed
    assert ReplayRow.from_dict(row.to_dict()) == row


def test_derived_flags() -> None:
    ok = Outcome("success")
    assert not ReplayRow(1, "t", 0.0, ok, Outcome("success")).changed
    assert ReplayRow(1, "t", 0.0, Outcome("skipped"), Outcome("timeout")).worse
    assert not ReplayRow(1, "t", 0.0, Outcome("error"), Outcome("failed")).worse
    assert ReplayRow(1, "t", 0.0, Outcome("error"), Outcome("failed")).changed
    assert not ReplayRow(1, "t", 0.0, None, Outcome("error")).worse
    assert ReplayRow(1, "t", 0.0, ok, ok, calls=LineDiff.of(["a"], [])).changed


# -- a real HTTP server that records what reaches it ---------------------------------


class Server:
    def __init__(self, url: str) -> None:
        self.url = url
        self.received: list[tuple[str, str]] = []


@pytest.fixture
def http_server() -> Iterator[Server]:
    holder: list[Server] = []

    class Handler(BaseHTTPRequestHandler):
        def _any(self) -> None:
            holder[0].received.append((self.command, self.path))
            self.send_response(200)
            self.end_headers()

        do_GET = do_POST = do_PUT = do_DELETE = _any

        def log_message(self, *args: object) -> None:
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    holder.append(Server(f"http://127.0.0.1:{httpd.server_address[1]}"))
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield holder[0]
    httpd.shutdown()
    httpd.server_close()
    thread.join(5)


async def test_recorded_is_the_latest_real_run_not_a_dry_one(
    engine: Engine, lua_file: LuaFile
) -> None:
    (event_id,) = await seed(engine, lua_file, n=1)
    event = await engine.get_event(event_id)
    tried = await engine.test_hook("h", event=event, code='error("tried")')  # stored, dry
    assert tried.dry_run and tried.status == "error"
    await settled(engine)
    (row,) = (await engine.replay("h")).rows
    assert row.recorded is not None and row.recorded.status == "success" and not row.changed


def test_the_largest_report_fits_one_socket_line() -> None:
    from sloth_tui.engine.replay import _fit
    from sloth_tui.remote.protocol import MAX_LINE, encode

    worst = "\U0001f600\u202e\x1b" * 2000  # 4-, 3- and escaped 1-byte characters, long
    logs = [f"{worst}{i}" for i in range(50)]
    calls = [{"fn": "http.post", "url": f"{worst}{i}"} for i in range(50)]
    rows = []
    for i in range(MAX_LAST):
        old = replace(_exec("success", logs, calls), error=worst, duration_ms=1.5)
        new = replace(_exec("error", logs[::-2], calls[::-3]), error=worst[::-1])
        rows.append(compare(Event(2**62 + i, "category_x." + "y" * 100, "c", {}), old, new))
    report = ReplayReport("h" * 200, _fit(rows), MAX_LAST, MAX_LAST, MAX_LAST, "stopped " * 10)
    line = encode({"id": 2**62, "ok": True, "replay": report.to_dict()})
    assert len(line) < MAX_LINE
    assert report.rows[0].logs.removed and not report.rows[-1].logs.removed  # first rows keep lines
    assert report.worse == MAX_LAST  # and the counts hold for every row
