"""The demo source: stories over every category, a paced stream, sample hooks that chain."""

from __future__ import annotations

import random
import time

import pytest
from waiting import eventually

from sloth_tui import catalog
from sloth_tui.engine.engine import Engine
from sloth_tui.engine.events import catalog_warnings
from sloth_tui.sources.demo import DemoGenerator, Step, Stories, install_demo_hooks

STORIES = ("deploy", "workflow", "health", "agent", "security", "files", "system", "data_plane",
           "ops", "burst")  # fmt: skip


def test_stories_cover_every_category_with_catalog_data() -> None:
    stories, seen, warned = Stories(random.Random(7)), set(), set()
    for _ in range(60):
        for name in STORIES:
            for _delay, type_name, data in getattr(stories, name)():
                assert catalog.get(type_name) is not None, type_name
                seen.add(catalog.category_of(type_name))
                if catalog_warnings(type_name, data):
                    warned.add(type_name)
    assert seen == {c.name for c in catalog.categories()}
    assert warned == {"system.cpu_high"}  # the one deliberate catalog mismatch


async def test_generator_streams_at_about_the_rate(
    engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Paced: it streams on until 300 are out (at 200/s, 1.5 s; one that stalls fails at
    the hang guard, 20 times that), and never faster than its own clock (time.monotonic)
    allows: the Poisson arrivals in the time it ran, plus the bursts, which are not
    rate-bound. A slow machine only makes the run longer: that bound grows with it, so
    it cannot fail from load; a generator that floods fails it. (How close to its rate
    it keeps on a busy machine is a speed: the bench's business, not a test's.)"""
    demo = DemoGenerator(engine, rate=200, seed=3)
    burst_steps: list[int] = []
    real_burst = demo.stories.burst

    def counted_burst() -> list[Step]:
        steps = real_burst()
        burst_steps.append(len(steps))
        return steps

    monkeypatch.setattr(demo.stories, "burst", counted_burst)
    began = time.monotonic()
    demo.start()
    await eventually(lambda: demo.sent >= 300, timeout=30, what="300 demo events")
    await demo.stop()
    ran = time.monotonic() - began
    # Arrivals in `ran` s are Poisson(200 * ran), at least 200 here: 1.5 times the mean
    # is more than 7 standard deviations above it.
    assert demo.sent - sum(burst_steps) <= 1.5 * 200 * ran + 10, (demo.sent, burst_steps, ran)
    counts = await engine.counts()
    assert len(counts["categories"]) >= 8
    [ev] = await engine.query_events(None, limit=1)
    assert ev.source in ("demo", "system")


async def test_sample_hooks_chain_and_count(engine: Engine) -> None:
    names = await install_demo_hooks(engine, engine.settings.hooks_dir)
    assert set(names) == {"deploy-alert", "security-counter", "failure-triage", "health-escalation"}
    data = {"deploy_id": "d-1", "service": "api", "error": "x", "rollback_needed": True}
    failed = await engine.dispatch("deploy.failed", data, source="demo")
    for _ in range(3):
        await engine.dispatch("security.login_failed", {"user": "root"}, source="demo")
    await engine.wait_idle()
    [child] = await engine.child_events(failed.id)
    assert (child.type, child.parent_id, child.source) == (
        "deploy.rollback",
        failed.id,
        "hook:deploy-alert",
    )
    runs = {ex.hook: ex for ex in await engine.executions_of(failed.id)}
    assert runs["deploy-alert"].status == "success"
    assert runs["failure-triage"].status in ("success", "error")
    assert await engine.store.state_get("security-counter", "count:security.login_failed") == 3
