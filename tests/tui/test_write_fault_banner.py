"""A store that refuses writes (the disk is full) is a line under the tabs for as long as
it lasts: toasts go after 10 s, and the condition does not. The engine's figures carry
it (EngineStats.write_fault), so an attached dashboard shows the daemon's the same way."""

from __future__ import annotations

import contextlib
from pathlib import Path

import pytest
from test_hostile_screens import assert_clean
from tui_helpers import screen_text, wait_for

from sloth_tui.config import load_settings
from sloth_tui.engine import store as store_module
from sloth_tui.engine.engine import Engine
from sloth_tui.model.errors import EventRefused
from sloth_tui.model.stats import EngineStats
from sloth_tui.remote.ops import stats_from_dict

DATA = {"name": "n", "message": "m" * 2000}


async def _max_pages(engine: Engine, pages: int | None) -> None:
    """SQLITE_FULL for real: the writer's file may grow no more (None: it may again)."""
    writer = engine.store._writer
    assert writer is not None

    def cap(conn: object) -> None:
        if pages is None:
            conn.execute("PRAGMA max_page_count = 2147483646")  # type: ignore[attr-defined]
        else:
            count = conn.execute("PRAGMA page_count").fetchone()[0]  # type: ignore[attr-defined]
            conn.execute(f"PRAGMA max_page_count = {count}")  # type: ignore[attr-defined]

    await store_module._in_thread(writer, cap)


def _flowing(app: object) -> str:
    """The screen's text with its lines joined and runs of spaces as one."""
    return " ".join(screen_text(app).split())


async def _refused_until_shown(pilot: object, app: object, engine: Engine, said: str) -> None:
    """Events refused until the banner says `said`. A small row (the db.error recording
    the episode) can still fit the file's last free bytes: it ends that episode, and the
    next refusal starts another, until nothing fits. Bounded."""
    for _ in range(200):
        with contextlib.suppress(EventRefused):
            await engine.dispatch("custom", DATA, source="dashboard")
        await pilot.pause(0.05)  # type: ignore[attr-defined]
        if said in _flowing(app):
            return
    raise AssertionError(f"never shown: {said!r}; the screen: {screen_text(app)}")


async def test_a_full_disk_is_a_banner_until_space_returns(engine: Engine, make_app) -> None:
    app = make_app(engine)
    async with app.run_test(size=(120, 30)) as pilot:
        await _max_pages(engine, 0)
        said = f"⚠ the disk holding {engine.settings.home} is full: new events are refused"
        await _refused_until_shown(pilot, app, engine, said)  # a long home wraps the line

        await _max_pages(engine, None)  # space returns: the next write clears it
        await engine.dispatch("custom", DATA, source="dashboard")
        await wait_for(pilot, lambda: "is full" not in _flowing(app))


async def test_a_hostile_home_in_the_banner_is_text(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, make_app
) -> None:
    """The banner quotes the data dir's path: markup and control characters in it are
    drawn as text, never acted on."""
    monkeypatch.setenv("HOME", str(tmp_path))
    home = tmp_path / "[bold red]x[/] \x1b]0;PWNED\x07 \u202e"
    engine = await Engine.open(load_settings(home), lifecycle=True)
    try:
        app = make_app(engine)
        async with app.run_test(size=(160, 30)) as pilot:
            await _max_pages(engine, 0)
            await _refused_until_shown(pilot, app, engine, "is full: new events are refused")
            assert "[bold red]x[/] ␛]0;PWNED␇" in _flowing(app)  # as typed, pictures for controls
            assert_clean(app)
    finally:
        await engine.close()


def test_the_figures_from_another_daemon_are_taken_with_care() -> None:
    """An older daemon sends no write_fault; another program may send anything."""
    assert stats_from_dict({"events_total": 3}).write_fault == ""
    odd = stats_from_dict({"write_fault": ["x"], "events_total": "3", "commits": True})
    assert (odd.write_fault, odd.events_total, odd.commits) == ("", 0, 0)
    back = stats_from_dict(EngineStats(1.0, 2, 3, 4, 5, 6, 7, 8, "the disk is full").to_dict())
    assert back == EngineStats(1.0, 2, 3, 4, 5, 6, 7, 8, "the disk is full")
