"""A producer's refused events are said once per run of one reason, then counted: a busy
watcher on a full disk wrote one warning per file event (session 21, seen in a serve on a
full 6 MB tmpfs)."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import pytest
from sourcekit import async_wait_for

from sloth_tui.config import Settings, WatcherSettings
from sloth_tui.engine import store as store_module
from sloth_tui.engine.engine import Engine
from sloth_tui.model.errors import DiskFull, EventRefused
from sloth_tui.refusal_log import RefusalLog
from sloth_tui.sources.watchers import FileWatchers

log = logging.getLogger("sloth_tui.test_refusals")


def _said(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == log.name]


def test_a_run_of_one_reason_is_one_line_then_a_count(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger=log.name)
    now = [0.0]
    refusals = RefusalLog("watcher:w", log, every=60.0, clock=lambda: now[0])
    full = DiskFull("the disk holding /h is full: the event was not stored")
    for _ in range(5):
        refusals.refused("file.created", full)
    assert _said(caplog) == [f"watcher:w: file.created refused: {full}"]
    refusals.taken()  # the run is over: its count is said
    refusals.taken()  # and only once
    assert _said(caplog)[1:] == [f"watcher:w: 4 more events refused: {full}"]

    caplog.clear()
    strict = EventRefused("file.created does not match\nthe catalog")  # said on one line
    refusals.refused("file.created", full)
    refusals.refused("file.created", full)
    refusals.refused("file.modified", strict)  # another reason: the count, then it
    assert _said(caplog) == [
        f"watcher:w: file.created refused: {full}",
        f"watcher:w: 1 more events refused: {full}",
        "watcher:w: file.modified refused: file.created does not match the catalog",
    ]

    caplog.clear()
    for _ in range(1, 200):  # a refusal a second for 200 s: a count a minute
        now[0] += 1.0
        refusals.refused("file.modified", strict)
    counts = _said(caplog)
    assert len(counts) == 3 and all("more events refused" in line for line in counts)
    assert counts[0].startswith("watcher:w: 60 more events refused")


async def _cap(engine: Engine, pages: int | None) -> int:
    """The writer's file capped at `pages` (None: uncapped): SQLITE_FULL for real."""
    writer = engine.store._writer
    assert writer is not None
    sql = "PRAGMA page_count" if pages == 0 else f"PRAGMA max_page_count = {pages or 2147483646}"
    row = await store_module._in_thread(writer, lambda c: c.execute(sql).fetchone())
    return int(row[0])


async def test_a_watcher_on_a_full_disk_says_it_once_and_counts_the_rest(
    settings: Settings, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="sloth_tui")
    watched = tmp_path / "watched"
    watched.mkdir()
    engine = await Engine.open(settings)
    refused: list[Exception] = []

    async def dispatch(event_type: str, data: dict[str, Any], *, source: str) -> Any:
        try:  # the real engine's door; the refusals counted to wait on them
            # Pages of its own (overflow pages are whole pages): no event can fit in the
            # free room of the capped file's last page, so every one is refused.
            return await engine.dispatch(event_type, data | {"pad": "x" * 20_000}, source=source)
        except Exception as exc:
            refused.append(exc)
            raise

    fw = FileWatchers(dispatch, (WatcherSettings(name="w", path=str(watched)),), window=0.01)
    try:
        fw.start()
        # watchdog adds its inotify watches in its own thread, after start() returns: a
        # first event, stored, says they are in place.
        (watched / "probe").mkdir()
        await async_wait_for(lambda: engine.stats().events_total, what="the watcher's first")
        await engine.store.flush()
        await _cap(engine, await _cap(engine, 0))  # the disk is full
        for i in range(20):
            (watched / f"d{i}").mkdir()  # one event each: dir events are not coalesced
        await async_wait_for(lambda: len(refused) == 20, what="20 refusals")
        assert all(isinstance(exc, DiskFull) for exc in refused)
        await _cap(engine, None)  # space returns
        (watched / "after").mkdir()
        await async_wait_for(
            lambda: any("more events refused" in r.getMessage() for r in caplog.records),
            what="the count",
        )
    finally:
        await fw.stop(timeout=2)
        await engine.close()
    said = [r.getMessage() for r in caplog.records if "refused" in r.getMessage()]
    said = [line for line in said if line.startswith("watcher:w: ")]
    assert len(said) == 2, said
    assert said[0].startswith("watcher:w: dir.created refused: the disk holding")
    assert said[1].startswith("watcher:w: 19 more events refused: the disk holding"), said
