"""secret.rotation_needed and secret.expired: each once per secret and due state, on a
real engine and real vault files, with a clock the test drives (no day is waited)."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from sourcekit import async_wait_for, events_of

from sloth_tui.config import Settings
from sloth_tui.secret_vault import DAY, Vault
from sloth_tui.sources.options import SourceOptions
from sloth_tui.sources.registry import build_sources
from sloth_tui.sources.secret_due import SecretDueSource, secret_due_sources

T0 = 1_800_000_000.0  # the tests' "now" at creation


class Clock:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def due_events(engine: Any) -> list[tuple[str, dict[str, Any]]]:
    return [
        (e["type"], e["data"])
        for e in events_of(engine.settings.home, "secret.*")
        if e["source"] == "secrets"
    ]


async def test_each_due_state_is_announced_once(settings: Settings, engine: Any) -> None:
    vault = Vault.for_settings(settings)
    vault.put("slack", "value-of-slack-1", rotate_after_days=30, now=T0)
    vault.put("db", "value-of-db-123", expires=T0 + 10 * DAY, now=T0)
    vault.put("calm", "value-of-calm-1", now=T0)
    clock = Clock(T0 + DAY)
    source = SecretDueSource(vault, clock=clock)
    await source.start(engine)
    try:
        # The start's own pass must be over before the clock moves, or it would be the
        # one to announce what the test's passes expect to.
        await async_wait_for(lambda: source.passes >= 1, what="the start's pass")
        assert source.health().detail.startswith("0 due")
        assert await source.check() == []  # nothing due yet

        clock.now = T0 + 11 * DAY  # db expired
        assert await source.check() == ["secret.expired"]
        assert await source.check() == []  # once
        clock.now = T0 + 31 * DAY  # slack's rotation is due too
        assert await source.check() == ["secret.rotation_needed"]
        assert await source.check() == []
        assert source.health().state == "running"
        assert source.health().detail == "2 due, 2 announced"
    finally:
        await source.stop()
    await engine.store.flush()
    got = due_events(engine)
    assert got == [
        ("secret.expired", {"secret_name": "db", "expired_at": "2027-01-25T08:00:00Z"}),
        (
            "secret.rotation_needed",
            {
                "secret_name": "slack",
                "last_rotated": "2027-01-15T08:00:00Z",
                "rotation_policy": "every 30 days",
            },
        ),
    ]

    # A restart does not repeat them; a rotation makes the next one news again.
    again = SecretDueSource(vault, clock=clock)
    await again.start(engine)
    try:
        await async_wait_for(lambda: again.passes >= 1, what="the restart's pass")
        assert await again.check() == []
        vault.rotate("slack", "rotated-value-22", now=T0 + 32 * DAY)
        clock.now = T0 + 40 * DAY
        assert await again.check() == []  # rotated 8 days ago: not due
        clock.now = T0 + 63 * DAY
        assert await again.check() == ["secret.rotation_needed"]
    finally:
        await again.stop()


async def test_overlapping_passes_announce_once(settings: Settings, engine: Any) -> None:
    """A pass the operator asks for while the periodic one runs: one announcement."""
    vault = Vault.for_settings(settings)
    vault.put("db", "value-of-db-123", expires=T0 + DAY, now=T0)
    source = SecretDueSource(vault, clock=Clock(T0 + 2 * DAY))
    await source.start(engine)
    try:
        sent = await asyncio.gather(*(source.check() for _ in range(4)))
        await async_wait_for(lambda: source.passes >= 5, what="the start's pass too")
    finally:
        await source.stop()
    assert sorted(t for got in sent for t in got) in ([], ["secret.expired"])
    await engine.store.flush()
    assert [etype for etype, _ in due_events(engine)] == ["secret.expired"]


async def test_on_start_and_then_every_period(settings: Settings, engine: Any) -> None:
    """The loop: a check at start, then one per period (a short one here)."""
    vault = Vault.for_settings(settings)
    vault.put("soon", "value-of-soon-1", expires=T0 + DAY, now=T0)
    clock = Clock(T0 + 2 * DAY)  # already expired at start
    source = SecretDueSource(vault, clock=clock, every=0.01)
    await source.start(engine)
    try:
        await async_wait_for(lambda: source.emitted == 1, what="expired at start")
        vault.put("later", "value-of-later1", expires=T0 + 3 * DAY, now=T0)
        clock.now = T0 + 4 * DAY
        await async_wait_for(lambda: source.emitted == 2, what="expired later")
        seen = source.checks
        await async_wait_for(lambda: source.checks >= seen + 3, what="more periods")
        emitted = source.emitted  # a few more periods change nothing
    finally:
        await source.stop()
    assert emitted == 2
    await engine.store.flush()
    assert [d["secret_name"] for _, d in due_events(engine)] == ["soon", "later"]


async def test_a_broken_vault_fails_the_source_not_the_engine(
    settings: Settings, engine: Any
) -> None:
    vault = Vault.for_settings(settings)
    vault.path.parent.mkdir(parents=True, exist_ok=True)
    vault.path.write_text("{not json")
    source = SecretDueSource(vault, clock=Clock(T0))
    await source.start(engine)
    try:
        assert await source.check() == []
        health = source.health()
        assert health.state == "failed" and "not a vault file" in health.detail
        vault.path.write_text("{}")  # repaired: the next check runs again
        assert await source.check() == []
        assert source.health().state == "running"
    finally:
        await source.stop()
    assert (await engine.dispatch("custom", {"name": "n", "message": "m"})).id > 0


def test_the_registry_builds_it_for_serve_and_for_a_dashboard_with_a_vault(
    settings: Settings, tmp_path: Path
) -> None:
    serve = build_sources(settings, SourceOptions(), kinds={"secrets"})
    assert [s.name for s in serve] == ["secrets"]
    dash = SourceOptions.dashboard({}, None, None)
    assert secret_due_sources(settings, dash) == []  # no vault in this home
    Vault.for_settings(settings).put("x", "value-of-x-123")
    assert [s.name for s in secret_due_sources(settings, dash)] == ["secrets"]
