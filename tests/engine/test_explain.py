"""`explain`: why each hook ran on an event, or why not, from a real engine and store."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest

from sloth_tui.config import Settings
from sloth_tui.engine.engine import Engine
from sloth_tui.model.errors import NotFound
from sloth_tui.model.explain import HookVerdict
from sloth_tui.model.policy import HookPolicy, Throttle
from sloth_tui.model.records import Execution
from sloth_tui.remote import ops

LuaFile = Callable[..., Path]
OK = "function on_event() end"
BOOM = 'function on_event() error("boom") end'


@pytest.fixture
async def eng(settings: Settings) -> AsyncIterator[Engine]:
    engine = await Engine.open(dataclasses.replace(settings, max_depth=1))
    yield engine
    await engine.close()


def by_name(verdicts: list[HookVerdict]) -> dict[str, HookVerdict]:
    return {v.hook: v for v in verdicts}


def row(v: HookVerdict, label: str) -> tuple[str, bool | None]:
    (found,) = [(text, ok) for name, text, ok in v.rows() if name == label]
    return found


async def test_every_check_says_why(eng: Engine, lua_file: LuaFile) -> None:
    ok, boom = lua_file(OK), lua_file(BOOM)
    await eng.add_hook("runs", ["task.*", "deploy.*"], ok)
    await eng.add_hook("fails", ["deploy.started"], boom)
    await eng.add_hook("other-type", ["task.*"], ok)
    await eng.add_hook("on-prod", ["deploy.*"], ok, stack="prod")
    await eng.add_hook("off", ["deploy.*"], ok, enabled=False)
    await eng.add_hook("payments", ["deploy.*"], ok)
    await eng.update_hook("payments", policy=HookPolicy(when="service=payments !src:demo"))
    await eng.add_hook("web", ["deploy.*"], ok)
    await eng.update_hook("web", policy=HookPolicy(when="service=web", mode="single",
                                                    key="data.service"))  # fmt: skip
    event = await eng.dispatch("deploy.started", {"service": "web"}, stack="dev")
    assert await eng.wait_idle()

    verdicts = await eng.explain(event.id)
    assert [v.hook for v in verdicts] == sorted(v.hook for v in verdicts)
    v = by_name(verdicts)
    assert set(v) == {"runs", "fails", "other-type", "on-prod", "off", "payments", "web"}

    assert v["runs"].would_run and v["runs"].matched == "deploy.*"
    assert v["runs"].outcome == "ran: success"
    assert row(v["runs"], "pattern") == ("deploy.* matches deploy.started", True)
    assert v["fails"].would_run and v["fails"].outcome == "ran: error"
    (run,) = v["fails"].runs
    assert run.status == "error" and "boom" in (run.error or "") and run.trigger == "event"

    assert not v["other-type"].would_run
    assert v["other-type"].outcome == "not run: no pattern of the hook matches deploy.started"
    assert row(v["other-type"], "pattern") == ("none of task.* matches deploy.started", False)

    assert not v["on-prod"].would_run
    assert v["on-prod"].outcome == "not run: the hook runs only on stack prod"
    assert row(v["on-prod"], "stack") == ("only prod; the event has stack dev", False)

    assert not v["off"].would_run and v["off"].outcome == "not run: disabled"
    assert row(v["off"], "enabled") == ("no: disabled by hand", False)

    pay = v["payments"]
    assert not pay.would_run and pay.failing_term == "service=payments"
    assert pay.outcome == "not run: the condition fails at service=payments"
    assert row(pay, "condition") == (
        "fails at service=payments (of service=payments !src:demo)",
        False,
    )

    web = v["web"]
    assert web.would_run and web.outcome == "ran: success"
    assert row(web, "condition") == ("holds: service=web", True)
    assert row(web, "mode") == ("single per data.service (this event: web)", None)
    assert web.key_value == "web"
    assert row(web, "depth") == ("0 of at most 1", None)


async def test_one_named_hook_and_not_found(eng: Engine, lua_file: LuaFile) -> None:
    await eng.add_hook("a", ["*"], lua_file(OK))
    await eng.add_hook("b", ["*"], lua_file(OK))
    event = await eng.dispatch("custom.thing", {})
    assert await eng.wait_idle()
    (only,) = await eng.explain(event.id, "b")
    assert only.hook == "b" and only.would_run
    with pytest.raises(NotFound, match="no hook named 'nope'"):
        await eng.explain(event.id, "nope")
    with pytest.raises(NotFound, match="no event with id 999"):
        await eng.explain(999)
    with pytest.raises(NotFound, match="no event with id 999"):
        await eng.explain(999, "a")


async def test_a_hook_added_after_the_event_did_not_run_on_it(
    eng: Engine, lua_file: LuaFile
) -> None:
    event = await eng.dispatch("custom.thing", {})
    await eng.add_hook("late", ["*"], lua_file(OK))
    (v,) = await eng.explain(event.id)
    assert not v.would_run and not v.existed
    assert v.outcome == "not run: the hook was added after the event came"


async def test_chain_depth_at_the_limit(eng: Engine, lua_file: LuaFile) -> None:
    chain = lua_file('function on_event() event.dispatch("chain.next", {}) end')
    await eng.add_hook("chain", ["chain.*"], chain)
    root = await eng.dispatch("chain.start", {})
    assert await eng.wait_idle()
    (child,) = await eng.child_events(root.id)
    (v,) = await eng.explain(child.id)
    assert v.depth == 1 and v.max_depth == 1
    text, _ = row(v, "depth")
    assert text == "1 of at most 1: at the limit, events its runs dispatch are refused"
    (root_v,) = await eng.explain(root.id)
    assert row(root_v, "depth") == ("0 of at most 1", None)


async def test_recorded_skips_and_retries_are_the_outcome(eng: Engine, lua_file: LuaFile) -> None:
    """What the engine records for a run held back (skipped, with the reason) and for a
    retry is read back as the outcome, each run's status named."""
    await eng.add_hook("h", ["*"], lua_file(BOOM))
    first = await eng.dispatch("custom.thing", {}, wait=True)
    second = await eng.dispatch("custom.thing", {}, wait=True)
    assert await eng.wait_idle()
    skip = "throttle 5/1m: 5 runs in the last 1m"
    await eng.store.record_execution(
        Execution("h", first.id, "success", 1.0, trigger="retry", attempt=2)
    )
    await eng.store.record_execution(Execution("h", second.id, "skipped", 1.0, error=skip))
    (v,) = await eng.explain(first.id)
    assert v.outcome == "ran 2 times: error, success (retry, attempt 2)"
    (other,) = await eng.explain(second.id)
    assert other.outcome == "ran 2 times: error, skipped"
    assert any(text.endswith(f"skipped: {skip}") for name, text, _ in other.rows() if name == "run")


async def test_throttle_and_dedupe_state_from_the_runs_before(
    eng: Engine, lua_file: LuaFile
) -> None:
    await eng.add_hook("t", ["*"], lua_file(OK))
    await eng.update_hook("t", policy=HookPolicy(throttle=Throttle(2, 3600)))
    await eng.add_hook("d", ["*"], lua_file(OK))
    await eng.update_hook("d", policy=HookPolicy(dedupe=3600, key="data.service"))
    events = []
    for service in ("web", "web", "db"):
        events.append(await eng.dispatch("custom.thing", {"service": service}, wait=True))
    assert await eng.wait_idle()

    t0 = by_name(await eng.explain(events[0].id))["t"]
    assert t0.limit == "throttle 2/1h: 0 runs in the 1h before"
    t2 = by_name(await eng.explain(events[2].id))["t"]
    assert t2.limit == "throttle 2/1h: 2 runs in the 1h before: at the limit"

    d1 = by_name(await eng.explain(events[1].id))["d"]
    assert d1.limit.startswith("dedupe 1h: ran for data.service=web at ")
    assert d1.limit.endswith(f"(event {events[0].id}), within the window")
    d2 = by_name(await eng.explain(events[2].id))["d"]
    assert d2.limit == "dedupe 1h: no run in the window before for data.service=db"
    assert row(d2, "limit") == (d2.limit, None)


async def test_verdicts_cross_the_socket_codec_unchanged(eng: Engine, lua_file: LuaFile) -> None:
    await eng.add_hook("a", ["*"], lua_file(BOOM))
    await eng.update_hook("a", policy=HookPolicy(when="!n=2", throttle=Throttle(1, 60)))
    await eng.add_hook("b", ["zzz"], lua_file(OK), enabled=False)
    event = await eng.dispatch("custom.thing", {"n": 1}, wait=True)
    verdicts = await eng.explain(event.id)
    wire: dict[str, Any] = ops.EXPLAIN.result.encode(verdicts)
    back = ops.EXPLAIN.result.decode(json.loads(json.dumps(wire)))
    assert back == verdicts
    newer = dict(verdicts[0].to_dict(), something_new=1)  # a newer daemon's extra field
    assert HookVerdict.from_dict(newer) == verdicts[0]


async def test_a_hook_changed_since_is_explained_as_it_is_now(
    eng: Engine, lua_file: LuaFile
) -> None:
    await eng.add_hook("h", ["*"], lua_file(OK))
    await eng.update_hook("h", policy=HookPolicy(throttle=Throttle(3, 60)))
    event = await eng.dispatch("custom.thing", {}, wait=True)
    await eng.set_hook_enabled("h", False)
    (v,) = await eng.explain(event.id)
    assert not v.would_run and v.outcome == "ran: success"
    assert row(v, "note") == ("it ran then: the hook was changed since", None)
    assert v.limit == "throttle 3/1m"  # not reached now: the setting alone
