"""retry, auto_disable and every execution's trigger, on a real engine."""

from __future__ import annotations

import asyncio
import logging
from collections import Counter

import pytest
from policy_kit import (
    HANG_GUARD,
    LuaFile,
    add,
    dispatch_many,
    eventually,
    open_engine,
    runs_of,
    settle,
    statuses,
)

from sloth_tui.config import Settings
from sloth_tui.engine.policy_after import FollowUps
from sloth_tui.model.policy import HookPolicy, Retry
from sloth_tui.model.records import Event, Execution, Hook

# Fails its first two attempts on each event (counted in its own state), then succeeds.
FLAKY = """
function on_event(event)
  local n = state.incr("tries:" .. event.id, 1)
  if n < 3 then error("flaky attempt " .. n) end
  return true
end
"""
ALWAYS_FAILS = 'function on_event(event) error("boom " .. event.id) end'
RETURNS_FALSE = "function on_event(event) return false end"


async def test_retry_until_success_under_concurrency(settings: Settings, lua_file: LuaFile) -> None:
    engine = await open_engine(settings, concurrency=4)
    try:
        await add(engine, lua_file, "flaky", FLAKY, HookPolicy(retry=Retry(3, 0.0, 1.0)))
        ids = await dispatch_many(engine, [{"n": i} for i in range(20)])
        await settle(engine)
        runs = await runs_of(engine, "flaky")
        assert len(runs) == 60
        for event_id in ids:
            mine = sorted((e for e in runs if e.event_id == event_id), key=lambda e: e.attempt)
            assert [(e.attempt, e.trigger, e.status) for e in mine] == [
                (1, "event", "error"),
                (2, "retry", "error"),
                (3, "retry", "success"),
            ]
            assert "flaky attempt 1" in (mine[0].error or "")
        assert await statuses(engine, ids) == {"completed": 20}  # follows the last attempt
    finally:
        await engine.close()


async def test_retry_gives_up_after_its_attempts_with_backoff(
    settings: Settings, lua_file: LuaFile
) -> None:
    engine = await open_engine(settings, concurrency=4)
    try:
        await add(engine, lua_file, "bad", ALWAYS_FAILS, HookPolicy(retry=Retry(2, 0.05, 4.0)))
        await add(engine, lua_file, "ok", "function on_event() return true end", HookPolicy())
        event = await engine.dispatch("deploy.failed", {}, source="test")
        await settle(engine)
        runs = sorted(await runs_of(engine, "bad"), key=lambda e: e.attempt)
        assert [(e.attempt, e.trigger, e.status) for e in runs] == [
            (1, "event", "error"),
            (2, "retry", "error"),
            (3, "retry", "error"),
        ]
        # 0.05 s before attempt 2, 0.2 s before attempt 3 (backoff 4).
        assert runs[1].started - runs[0].started >= 0.04
        assert runs[2].started - runs[1].started >= 0.18
        assert len(await runs_of(engine, "ok")) == 1  # only the failing hook is retried
        assert (await engine.get_event(event.id)).status == "failed"
    finally:
        await engine.close()


async def test_failed_is_retried_only_when_asked(settings: Settings, lua_file: LuaFile) -> None:
    engine = await open_engine(settings)
    try:
        await add(engine, lua_file, "no", RETURNS_FALSE, HookPolicy(retry=Retry(2, 0.0)))
        await add(
            engine, lua_file, "yes", RETURNS_FALSE, HookPolicy(retry=Retry(2, 0.0, on_failed=True))
        )
        await engine.dispatch("deploy.failed", {}, source="test")
        await settle(engine)
        assert [e.status for e in await runs_of(engine, "no")] == ["failed"]
        assert [e.attempt for e in await runs_of(engine, "yes")] == [1, 2, 3]
    finally:
        await engine.close()


async def test_pending_retry_is_dropped_at_stop(
    settings: Settings, lua_file: LuaFile, caplog: pytest.LogCaptureFixture
) -> None:
    engine = await open_engine(settings)
    await add(engine, lua_file, "bad", ALWAYS_FAILS, HookPolicy(retry=Retry(3, 3600.0)))
    event = await engine.dispatch("deploy.failed", {}, source="test", wait=True)
    assert engine._dispatcher is not None and engine._dispatcher.follow_ups.retries_due == 1
    (retry,) = engine._dispatcher.follow_ups._timers
    with caplog.at_level(logging.WARNING):
        # An hour to drain, and the retry is due in an hour: a close that waited for it
        # would outlast the hang guard.
        await asyncio.wait_for(engine.close(drain_timeout=3600), HANG_GUARD)
    assert retry.cancelled()  # dropped, not run...
    assert asyncio.get_running_loop().time() < retry.when()  # ...nor waited for
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING]
    engine = await open_engine(settings)
    try:
        await settle(engine)
        assert len(await engine.executions_of(event.id)) == 1  # nothing retries it later
        assert (await engine.get_event(event.id)).status == "failed"
    finally:
        await engine.close()


async def test_retry_of_a_hook_disabled_meanwhile_does_not_run(
    settings: Settings, lua_file: LuaFile
) -> None:
    engine = await open_engine(settings)
    try:
        await add(engine, lua_file, "bad", ALWAYS_FAILS, HookPolicy(retry=Retry(3, 0.3)))
        await engine.dispatch("deploy.failed", {}, source="test", wait=True)
        await engine.set_hook_enabled("bad", False)
        await settle(engine)
        assert len(await runs_of(engine, "bad")) == 1
    finally:
        await engine.close()


# -- auto_disable ---------------------------------------------------------------------


async def test_auto_disable_once_with_a_warning_and_enable_clears_it(
    settings: Settings, lua_file: LuaFile
) -> None:
    engine = await open_engine(settings, concurrency=4)
    try:
        await add(engine, lua_file, "bad", ALWAYS_FAILS, HookPolicy(auto_disable=3))
        await dispatch_many(engine, [{"n": i} for i in range(30)])
        await settle(engine)

        async def disabled() -> bool:
            return not (await engine.get_hook("bad")).enabled

        await eventually(disabled, what="the hook to be disabled")
        await settle(engine)
        hook = await engine.get_hook("bad")
        assert hook.disabled_reason is not None
        assert hook.disabled_reason.startswith("auto-disabled after 3 failures in a row; ")
        assert "last error: " in hook.disabled_reason and "boom" in hook.disabled_reason
        runs = await runs_of(engine, "bad")
        errors = [e for e in runs if e.status == "error"]
        assert len(errors) >= 3
        dropped = [e for e in runs if e.status == "skipped"]
        assert all("disabled" in (e.error or "") for e in dropped)
        assert len(errors) + len(dropped) == 30
        warnings = await engine.query_events(_flt("type:system.warning"))
        assert len(warnings) == 1  # once, though many runs failed at once
        (warning,) = warnings
        assert warning.source == "system"
        assert warning.data["component"] == "hook:bad"
        assert warning.data["severity"] == "warning"
        assert warning.data["hook"] == "bad" and "boom" in warning.data["last_error"]
        assert "auto-disabled after 3 failures" in warning.data["message"]

        enabled = await engine.set_hook_enabled("bad", True)
        assert enabled.enabled and enabled.disabled_reason is None
        # The count starts again at 0: two failures leave it enabled, a third disables it.
        for _ in range(2):
            await engine.dispatch("deploy.failed", {}, source="test", wait=True)
        await settle(engine)
        assert (await engine.get_hook("bad")).enabled
        await engine.dispatch("deploy.failed", {}, source="test", wait=True)
        await eventually(disabled, what="the second disable")
        await settle(engine)
        assert len(await engine.query_events(_flt("type:system.warning"))) == 2
    finally:
        await engine.close()


def _flt(text: str):  # type: ignore[no-untyped-def]
    from sloth_tui.model.filters import parse_filter

    return parse_filter(text)


async def test_skipped_runs_neither_count_nor_reset_failures() -> None:
    disabled: list[tuple[str, int, str]] = []

    async def disable(name: str, n: int, last: str) -> None:
        disabled.append((name, n, last))

    hook = Hook("h", ["x"], "/dev/null", policy=HookPolicy(auto_disable=3))
    follow = FollowUps(lambda e, h, a: True, lambda name: hook, disable)
    event = Event(1, "x", "x", {})
    for status in ("error", "skipped", "timeout", "skipped", "success", "error", "failed"):
        follow.ran(hook, event, Execution("h", 1, status, 0.0, error=status))
    await follow.settle()
    assert disabled == []  # the success reset the count: two failures since
    assert follow.failures_in_a_row("h") == 2
    follow.ran(hook, event, Execution("h", 1, "skipped", 0.0))
    follow.ran(hook, event, Execution("h", 1, "error", 0.0, error="third"))
    follow.ran(hook, event, Execution("h", 1, "error", 0.0, error="fourth"))  # once only
    await follow.settle()
    assert disabled == [("h", 3, "third")]
    follow.forget("h")  # enabled again
    assert follow.failures_in_a_row("h") == 0


# -- triggers ---------------------------------------------------------------------------


async def test_every_execution_records_its_trigger(settings: Settings, lua_file: LuaFile) -> None:
    engine = await open_engine(settings)
    try:
        await add(engine, lua_file, "h", FLAKY, HookPolicy(retry=Retry(2, 0.0)))
        event = await engine.dispatch("deploy.failed", {}, source="test", wait=True)
        await settle(engine)
        await engine.rerun(event.id, ["h"])
        await engine.test_hook("h", "deploy.failed")
        await settle(engine)
        runs = await runs_of(engine, "h")
        assert [(e.trigger, e.attempt, e.dry_run) for e in runs] == [
            ("event", 1, False),
            ("retry", 2, False),
            ("retry", 3, False),
            ("rerun", 1, False),
            ("test", 1, True),
        ]
        stored = await engine.store.executions(hook="h", limit=10)
        assert Counter(e.trigger for e in stored) == Counter(event=1, retry=2, rerun=1, test=1)
    finally:
        await engine.close()


async def test_recovery_runs_are_stamped_recovery(settings: Settings, lua_file: LuaFile) -> None:
    from sloth_tui.engine.engine import Engine
    from sloth_tui.engine.store import INSERT_EVENT, event_row

    engine = await Engine.open(settings)
    await engine.add_hook("h", ["deploy.failed"], lua_file("function on_event() end"))
    event_id = engine._next_id
    event = Event(event_id, "deploy.failed", "deploy", {}, status="pending")
    await engine.store.write((INSERT_EVENT, event_row(event)))
    await engine.close(drain_timeout=0)
    engine = await Engine.open(settings)
    try:
        await settle(engine)
        (run,) = await engine.executions_of(event_id)
        assert (run.trigger, run.attempt, run.status) == ("recovery", 1, "success")
    finally:
        await engine.close()


async def test_recovery_never_takes_an_event_of_this_start(
    settings: Settings, lua_file: LuaFile, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Recovery reads the unfinished events in the background; an event this start admits
    before that read is already queued, and must not run its hooks a second time as
    "recovery". (Seen under load: `event trace` showed on-a twice, event and recovery.)
    The read is held until the new event is stored, so the race happens every time."""
    from sloth_tui.engine.engine import Engine
    from sloth_tui.engine.store import Store

    engine = await Engine.open(settings)
    await engine.add_hook("h", ["deploy.failed"], lua_file("function on_event() end"))
    await engine.close()
    stored = asyncio.Event()
    read = Store.unfinished_events

    async def held(self: Store) -> list[Event]:
        await stored.wait()
        return await read(self)

    monkeypatch.setattr(Store, "unfinished_events", held)
    engine = await Engine.open(settings)
    try:
        event = await engine.dispatch("deploy.failed", {})  # committed, pending, queued
        stored.set()
        await settle(engine)
        runs = await engine.executions_of(event.id)
        assert [(r.trigger, r.status) for r in runs] == [("event", "success")]
        assert (await engine.get_event(event.id)).status == "completed"
    finally:
        await engine.close()


async def test_no_policy_runs_stay_plain(settings: Settings, lua_file: LuaFile) -> None:
    """The fast path: a hook without a policy is never gated or followed up."""
    engine = await open_engine(settings)
    try:
        await engine.add_hook("p", ["deploy.failed"], lua_file("function on_event() end"))
        hook = engine._registry.find("p")
        assert hook is not None and hook.policy.is_default
        from sloth_tui.model.policy import NO_POLICY

        assert hook.policy is NO_POLICY  # the dispatcher's one identity test
        await dispatch_many(engine, [{}] * 10)
        await settle(engine)
        assert engine._dispatcher is not None
        assert engine._dispatcher.gate._slots == {}
        assert {(e.trigger, e.attempt) for e in await runs_of(engine, "p")} == {("event", 1)}
    finally:
        await engine.close()
