"""Queries at scale (issue 19): the two-step page and migration 8 (events_failed).

The store answers a filtered page in two steps (the newest SCAN_WINDOW ids by id, then
the rest through the indexes). That may not change what a filter means: the same
hypothesis events and filters as test_filter_parity are checked here with a window of a
few ids (so both steps run), with pages of every size and from several starting ids.
"""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from test_filter_parity import (
    EXAMPLES,
    INSERT_RUN,
    _matrix_events,
    _matrix_filters,
    _row,
    _storable,
    events,
    terms,
)

from sloth_tui.engine import store as store_module
from sloth_tui.engine.filter_sql import filter_sql
from sloth_tui.engine.schema import INSERT_EVENT, MIGRATIONS, SCHEMA_VERSION
from sloth_tui.engine.store import Store
from sloth_tui.model.filters import Filter, parse_filter
from sloth_tui.model.records import Event

WINDOW = 3  # ids the first step scans in these tests: small, so the second step runs


async def _check(
    store: Store,
    evs: list[Event],
    runs: dict[int, list[tuple[str, bool]]],
    ascii_json: list[bool],
    filters: list[Filter],
) -> None:
    await store.write(("DELETE FROM events", ()), ("DELETE FROM executions", ()))
    ops = [(INSERT_EVENT, _row(e, a)) for e, a in zip(evs, ascii_json, strict=True)]
    ops += [
        (INSERT_RUN, (_storable(hook), i, int(dry)))
        for i, hooks in runs.items()
        for hook, dry in hooks
    ]
    await store.write(*ops)
    real = {i: {_storable(h) for h, dry in hooks if not dry} for i, hooks in runs.items()}
    stored = {e.id: e for e in await store.query_events(limit=len(evs))}
    for flt in filters:
        live = sorted((i for i, e in stored.items() if flt.matches(e, real[i])), reverse=True)
        # Pages of every size, and from every starting point: the newest first, as one
        # query over the whole store would give them.
        for limit in (1, 2, len(evs) + 1):
            page = await store.query_events(flt, limit=limit)
            assert [e.id for e in page] == live[:limit], (flt, limit)
        for before in (len(evs), len(evs) // 2 + 1):
            page = await store.query_events(flt, limit=2, before_id=before)
            assert [e.id for e in page] == [i for i in live if i < before][:2], (flt, before)


def test_two_steps_keep_the_filters_meaning(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(store_module, "SCAN_WINDOW", WINDOW)
    with asyncio.Runner() as runner:
        store = runner.run(Store.open(tmp_path / "sloth.db"))
        try:

            @settings(
                max_examples=EXAMPLES,
                deadline=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
                phases=[Phase.explicit, Phase.reuse, Phase.generate, Phase.shrink],
            )
            @given(st.data(), events())
            def check(
                data: st.DataObject,
                generated: tuple[list[Event], dict[int, list[tuple[str, bool]]], list[bool]],
            ) -> None:
                evs, runs, ascii_json = generated
                hooks = sorted({h for r in runs.values() for h, _dry in r})
                filters = [
                    Filter(tuple(data.draw(st.lists(terms(evs, hooks), min_size=1, max_size=3))))
                    for _ in range(data.draw(st.integers(3, 6)))
                ]
                runner.run(_check(store, evs, runs, ascii_json, filters))

            check()
        finally:
            runner.run(store.close())


def test_the_awkward_cases_through_both_steps(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(store_module, "SCAN_WINDOW", WINDOW)
    evs, ascii_json = _matrix_events()
    runs: dict[int, list[tuple[str, bool]]] = {e.id: [] for e in evs}
    # The matrix's filters are many: every third keeps the run short and still covers
    # each kind (text, field, source, type).
    filters = _matrix_filters()[::3]

    async def body() -> None:
        store = await Store.open(tmp_path / "sloth.db")
        try:
            await _check(store, evs, runs, ascii_json, filters)
        finally:
            await store.close()

    asyncio.run(body())


# -- migration 8 on a store written by the version before ---------------------------------


def _old_store(path: Path, rows: int) -> None:
    """A store as schema 7 left it (no events_fts), with events in it."""
    with contextlib.closing(sqlite3.connect(path, isolation_level=None)) as conn:
        conn.execute("PRAGMA journal_mode=WAL")
        for number, migration in enumerate(MIGRATIONS[:7]):
            conn.executescript(
                "BEGIN;" + migration + f"; PRAGMA user_version = {number + 1};COMMIT;"
            )
        conn.execute("BEGIN")
        for i in range(1, rows + 1):
            word = "zanzibar" if i == 7 else "plain"
            status = "failed" if i % 10 == 0 else "completed"
            conn.execute(
                "INSERT INTO events (id, type, category, source, ts, parent_id, depth, status, "
                "data, warnings, stack, agent, run_id) VALUES (?, 'deploy.failed', 'deploy', "
                "'cli', ?, NULL, 0, ?, ?, NULL, NULL, NULL, NULL)",
                (i, float(i), status, f'{{"service":"svc-{i}","note":"{word}"}}'),
            )
        conn.execute("COMMIT")


def test_an_old_store_migrates_and_its_events_are_found(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(store_module, "SCAN_WINDOW", WINDOW)
    path = tmp_path / "sloth.db"
    _old_store(path, 40)

    async def body() -> None:
        store = await Store.open(path)
        try:
            assert store.migrated == (7, list(range(8, SCHEMA_VERSION + 1)))
            assert [e.id for e in await store.query_events(parse_filter("zanzibar"))] == [7]
            found = await store.query_events(parse_filter("service=svc-12"))
            assert [e.id for e in found] == [12]
            failed = await store.query_events(parse_filter("status:failed"), limit=50)
            assert [e.id for e in failed] == [40, 30, 20, 10]
            # The index follows what is written after: a new failed event, a status
            # update to failed and back.
            await store.write_event(Event(41, "custom", "custom", {}, "cli", status="failed"))
            store.set_status_later(5, "failed")
            store.set_status_later(40, "completed")
            await store.flush()
            failed = await store.query_events(parse_filter("status:failed"), limit=50)
            assert [e.id for e in failed] == [41, 30, 20, 10, 5]
            assert await store.count_events(parse_filter("status:failed")) == 5
        finally:
            await store.close()

    asyncio.run(body())


def test_rare_match_queries_read_an_index(tmp_path: Path) -> None:
    """Plans, not times: the rare-match queries read an index, not every row."""
    path = tmp_path / "sloth.db"
    _old_store(path, 5)
    asyncio.run(_open_close(path))
    with contextlib.closing(sqlite3.connect(path)) as conn:
        from sloth_tui.engine.filter_sql import register_sql_functions

        register_sql_functions(conn)
        for text in ("status:failed", "type:deploy.*", "cat:deploy"):
            where, params = filter_sql(parse_filter(text))
            plan = [
                str(r[3])
                for r in conn.execute(
                    f"EXPLAIN QUERY PLAN SELECT id FROM events WHERE {where} AND +id <= 10 "
                    "ORDER BY id DESC LIMIT 50",
                    params,
                )
            ]
            assert "SCAN events" not in plan, (text, plan)  # a scan of every row


async def _open_close(path: Path) -> Any:
    store = await Store.open(path)
    await store.close()
