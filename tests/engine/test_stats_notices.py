"""The engine's figures notices (issue 19, idle CPU): sent while they change, never the
same figures twice in a row, and none at all from an engine with nothing going on; the
bus wakes the figures loop when anything happens."""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import AsyncIterator

import pytest
from waiting import eventually

from sloth_tui.config import Settings
from sloth_tui.engine import engine as engine_module
from sloth_tui.engine.bus import Bus, Notice, Subscription
from sloth_tui.engine.engine import Engine
from sloth_tui.model.stats import EngineStats


async def test_a_publish_to_a_subscriber_stirs_the_bus() -> None:
    bus = Bus()
    waiter = asyncio.ensure_future(bus.wait_stirred())
    await eventually(lambda: bus.awaiting_stir)
    bus.publish("event", 1)  # nobody listens: no news for anyone
    await asyncio.sleep(0)
    assert not waiter.done() and bus.awaiting_stir
    sub = bus.subscribe()  # a subscriber comes
    await asyncio.wait_for(waiter, 5)
    assert not bus.awaiting_stir

    waiter = asyncio.ensure_future(bus.wait_stirred())
    await eventually(lambda: bus.awaiting_stir)
    bus.publish("event", 2)
    await asyncio.wait_for(waiter, 5)
    assert sub.get_nowait() == Notice("event", 2)

    waiter = asyncio.ensure_future(bus.wait_stirred())
    await eventually(lambda: bus.awaiting_stir)
    sub.close()  # and goes
    await asyncio.wait_for(waiter, 5)


async def test_a_cancelled_wait_leaves_nothing_behind() -> None:
    bus = Bus()
    waiter = asyncio.ensure_future(bus.wait_stirred())
    await eventually(lambda: bus.awaiting_stir)
    waiter.cancel()
    with pytest.raises(asyncio.CancelledError):
        await waiter
    assert not bus.awaiting_stir
    bus.subscribe()
    bus.publish("event", 1)  # no waiter: nothing to wake, nothing raised


@pytest.fixture
async def quick_engine(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[Engine]:
    monkeypatch.setattr(engine_module, "STATS_EVERY", 0.05)
    eng = await Engine.open(settings)
    yield eng
    await eng.close()


def _stats(sub: Subscription) -> list[EngineStats]:
    return [n.payload for n in sub.drain() if n.kind == "stats"]


async def test_figures_come_while_they_change_and_stop_when_they_do_not(
    quick_engine: Engine,
) -> None:
    engine = quick_engine
    sub = engine.subscribe()
    seen: list[EngineStats] = []

    def quiet() -> bool:
        seen.extend(_stats(sub))
        return engine.bus.awaiting_stir

    # The subscriber itself changed the figures: they come, then the loop goes quiet.
    await eventually(quiet)
    assert seen and seen[-1].subscribers == 1
    assert all(a != b for a, b in itertools.pairwise(seen)), seen
    settled = seen[-1]

    # An event stirs it: its figures come once, with the event counted, then quiet again.
    seen.clear()
    await engine.dispatch("deploy.started", {"service": "api"}, source="test")

    def counted() -> bool:
        seen.extend(_stats(sub))
        return any(s.events_total > settled.events_total for s in seen)

    await eventually(counted)
    await eventually(quiet)
    assert seen[-1].events_total == settled.events_total + 1
    assert all(a != b for a, b in itertools.pairwise(seen)), seen
    sub.close()


async def test_nobody_subscribed_nothing_is_sent(quick_engine: Engine) -> None:
    engine = quick_engine
    await eventually(lambda: engine.bus.awaiting_stir)  # no subscriber: asleep on the bus
    await engine.dispatch("deploy.started", {"service": "api"}, source="test")
    assert engine.bus.awaiting_stir  # nobody to tell: still asleep
    sub = engine.subscribe()
    await eventually(lambda: any(n.kind == "stats" for n in sub.drain()))
    sub.close()
