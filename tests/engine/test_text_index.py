"""The text index (engine/text_index.py): a superset of every text and field match, and
always current for the ids it vouches for.

Real stores on real files. Hypothesis reuses test_filter_parity's hostile events and
filters, with the index caught up, so that a page comes through the index; the other
tests hold the index back (`paused`: the one seam) to check what it vouches for while
ids wait, and reopen the store the ways an operator can leave it.
"""

from __future__ import annotations

import asyncio
import logging
import os
import sqlite3
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import pytest
from hostile import hostile_text
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from test_filter_parity import EXAMPLES, _row, events, terms
from waiting import eventually

from sloth_tui.config import Settings
from sloth_tui.engine import store as store_module
from sloth_tui.engine import text_index as text_index_module
from sloth_tui.engine.engine import Engine
from sloth_tui.engine.filter_sql import text_index_match
from sloth_tui.engine.store import INSERT_EVENT, Store, event_row
from sloth_tui.engine.text_index import TextIndex, index_path
from sloth_tui.model.filters import Filter, Term, parse_filter
from sloth_tui.model.records import Event

WINDOW = 3  # ids the store's first step scans: small, so the index serves the rest


def _event(i: int, note: str, service: str = "api", type_: str = "task.completed") -> Event:
    data = {"service": service, "note": note, "seq": i}
    return Event(i, type_, type_.partition(".")[0], data, "cli", time.time(), None, 0, "completed")


async def _insert(store: Store, evs: list[Event]) -> None:
    await store.write(*[(INSERT_EVENT, event_row(e)) for e in evs])


async def _ids(store: Store, text: str, limit: int = 1000) -> list[int]:
    return [e.id for e in await store.query_events(parse_filter(text), limit=limit)]


@pytest.fixture(autouse=True)
def _small_window(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(store_module, "SCAN_WINDOW", WINDOW)


def test_hostile_filters_through_the_index(tmp_path: Path) -> None:
    """Whatever the events and the filter, the page through the index is the matches."""
    used: list[int] = []
    with asyncio.Runner() as runner:
        counter = iter(range(1_000_000))

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
            evs, _runs, ascii_json = generated
            flts = []
            for _ in range(4):
                chosen = data.draw(st.lists(terms(evs, []), min_size=1, max_size=2))
                # Mostly text and field terms (what the index serves), hostile ones too.
                extra = data.draw(
                    st.one_of(
                        st.builds(Term, st.just("text"), hostile_text(12)),
                        st.builds(
                            Term,
                            st.just("field"),
                            st.one_of(hostile_text(12), st.integers(), st.booleans()),
                            st.just(False),
                            st.tuples(st.sampled_from(["note", "service", "k", "o"])),
                        ),
                    )
                )
                flts.append(Filter((*chosen, extra)))
            used.append(runner.run(_check(tmp_path / f"s{next(counter)}", evs, ascii_json, flts)))

        check()
    assert sum(used) > 0  # the pages did come through the index


async def _check(home: Path, evs: list[Event], ascii_json: list[bool], flts: list[Filter]) -> int:
    """The pages of each filter against the live matcher; how many came through the index."""
    store = await Store.open(home / "sloth.db")
    try:
        assert store.text_index is not None
        await store.write(
            *[(INSERT_EVENT, _row(e, a)) for e, a in zip(evs, ascii_json, strict=True)]
        )
        await store.text_index.wait_indexed()
        stored = {e.id: e for e in await store.query_events(limit=len(evs))}
        for flt in flts:
            live = sorted((i for i, e in stored.items() if flt.matches(e)), reverse=True)
            for limit in (1, len(evs) + 1):
                page = await store.query_events(flt, limit=limit)
                assert [e.id for e in page] == live[:limit], (flt, limit)
        return store.text_index.queries
    finally:
        await store.close()


def test_rare_text_and_fields_come_through_the_index(tmp_path: Path) -> None:
    async def body() -> None:
        store = await Store.open(tmp_path / "sloth.db")
        index = store.text_index
        assert index is not None
        evs = [_event(i, f"request {i} ok") for i in range(1, 301)]
        evs[40] = _event(41, "routed via Zanzibar", service="billing-rare")
        evs[250] = _event(251, "ZANZIBAR again", service="Billing-Rare")
        await _insert(store, evs)
        await index.wait_indexed()
        used = index.queries
        assert await _ids(store, "zanzibar") == [251, 41]
        assert await _ids(store, "service=billing-rare") == [41]  # a field is exact
        assert await _ids(store, "service=Billing-Rare zanzibar") == [251]
        assert await _ids(store, "!zanzibar", limit=3) == [300, 299, 298]
        assert index.queries == used + 3  # the negated one cannot use it
        await store.close()

    asyncio.run(body())


def test_ids_not_indexed_yet_are_read_from_the_table(tmp_path: Path) -> None:
    """A hook's child commits after events with higher ids: until it is indexed, the
    index vouches only below it, and the query reads the rest from the table."""

    async def body() -> None:
        store = await Store.open(tmp_path / "sloth.db")
        index = store.text_index
        assert index is not None
        await _insert(store, [_event(i, "plain") for i in range(1, 101)])
        await _insert(store, [_event(i, "plain") for i in range(120, 201)])
        await index.wait_indexed()
        index.paused = True
        await _insert(store, [_event(105, "late needle")])  # the straggler
        await _insert(store, [_event(201, "new needle")])
        assert index.covered_to() == 104
        assert await _ids(store, "needle") == [201, 105]
        index.resume()
        await index.wait_indexed()
        assert index.covered_to() == text_index_module.EVERYTHING
        assert await _ids(store, "needle") == [201, 105]
        await store.close()

    asyncio.run(body())


def _meta(path: Path) -> dict[str, str]:
    with sqlite3.connect(index_path(path)) as conn:
        return dict(conn.execute("SELECT key, value FROM meta").fetchall())


def test_a_clean_close_is_picked_up_where_it_stopped(tmp_path: Path) -> None:
    db = tmp_path / "sloth.db"

    async def body() -> None:
        store = await Store.open(db)
        await _insert(store, [_event(i, f"first <{i}>") for i in range(1, 51)])
        await store.close()
        assert _meta(db)["clean"] == "1"
        assert _meta(db)["through"] == "50"
        store = await Store.open(db)
        assert store.text_index is not None and not store.text_index.fresh
        assert _meta(db)["clean"] == "0"  # open: a crash from here is not clean
        await _insert(store, [_event(i, f"second <{i}>") for i in range(51, 61)])
        await store.text_index.wait_indexed()
        assert store.text_index.indexed == 10  # only the new ones
        assert await _ids(store, "first <7>") == [7]
        assert await _ids(store, "second <55>") == [55]
        await store.close()

    asyncio.run(body())


@pytest.mark.parametrize("how", ["crash", "restored", "damaged", "deleted"])
def test_an_index_it_cannot_trust_is_made_anew(
    tmp_path: Path, how: str, caplog: pytest.LogCaptureFixture
) -> None:
    db = tmp_path / "sloth.db"

    async def body() -> None:
        store = await Store.open(db)
        await _insert(store, [_event(i, f"old <{i}>") for i in range(1, 51)])
        await store.close()
        if how == "crash":  # as a killed process leaves it
            with sqlite3.connect(index_path(db)) as conn:
                conn.execute("UPDATE meta SET value = '0' WHERE key = 'clean'")
        elif how == "restored":  # a backup put back, then other events under the same ids
            with sqlite3.connect(db) as conn:
                conn.execute("DELETE FROM events WHERE id > 40")
                conn.executemany(
                    "INSERT INTO events (id, type, category, source, ts, depth, status, data) "
                    "VALUES (?, 'task.done', 'task', 'cli', ?, 0, 'completed', ?)",
                    [(i, time.time(), f'{{"note":"swapped {i}"}}') for i in range(41, 51)],
                )
        elif how == "damaged":
            index_path(db).write_bytes(b"not a database at all" * 100)
        else:
            index_path(db).unlink()
        store = await Store.open(db)
        assert store.text_index is not None and store.text_index.fresh
        await store.text_index.wait_indexed()
        if how == "restored":
            assert await _ids(store, "swapped") == list(range(50, 40, -1))
            assert await _ids(store, "old <45>") == []
        else:
            assert await _ids(store, "old <45>") == [45]
        await store.close()

    asyncio.run(body())
    if how == "damaged":
        assert "text index unreadable" in caplog.text


def test_retention_drops_whole_partitions(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(text_index_module, "PART_BITS", 4)  # 16 ids per partition
    db = tmp_path / "sloth.db"

    def parts() -> list[str]:
        with sqlite3.connect(index_path(db)) as conn:
            rows = conn.execute(text_index_module._PARTS.format(schema="main")).fetchall()
        return sorted(r[0] for r in rows)

    async def body() -> None:
        store = await Store.open(db)
        await _insert(store, [_event(i, f"needle {i}") for i in range(1, 101)])
        assert store.text_index is not None
        await store.text_index.wait_indexed()
        assert parts() == sorted(f"p{k}" for k in range(7))
        await store.write(*store.cap_ops(40))  # retention: ids 1..40 go
        await store.close()
        store = await Store.open(db)
        assert parts() == sorted(f"p{k}" for k in range(2, 7))  # 32..47 keeps 41..47
        assert await _ids(store, "needle", limit=100) == list(range(100, 40, -1))
        await store.close()

    asyncio.run(body())


async def _twenty_needles_indexed(tmp_path: Path) -> tuple[Store, TextIndex]:
    store = await Store.open(tmp_path / "sloth.db")
    index = store.text_index
    assert index is not None
    await _insert(store, [_event(i, "a needle") for i in range(1, 21)])
    await index.wait_indexed()
    return store, index


def test_a_failing_index_leaves_queries_to_the_table(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    async def body() -> None:
        store, index = await _twenty_needles_indexed(tmp_path)
        # As a disk gone read-only would: the next batch fails.
        await index._conn.call(lambda c: c.execute("PRAGMA query_only = 1"))
        await _insert(store, [_event(21, "a needle")])
        await index.wait_indexed()
        assert index.failed is not None and index.covered_to() == -1
        assert await _ids(store, "needle", limit=5) == [21, 20, 19, 18, 17]
        await store.close()

    asyncio.run(body())
    assert caplog.text.count("text index failed") == 1


def test_a_full_disk_holds_the_index_back_and_it_catches_up(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Not a failure: until the next start, every filter would read every event."""
    monkeypatch.setattr(text_index_module, "FULL_RETRY", 0.05)
    caplog.set_level(logging.INFO, logger="sloth_tui")

    async def body() -> None:
        store, index = await _twenty_needles_indexed(tmp_path)
        pages = await index._conn.call(lambda c: c.execute("PRAGMA page_count").fetchone()[0])
        await index._conn.call(lambda c: c.execute(f"PRAGMA max_page_count = {pages}"))
        # Text of many trigrams: the index needs pages its file cannot have.
        await _insert(store, [_event(i, f"needle {os.urandom(600).hex()}") for i in range(21, 221)])
        await eventually(lambda: index._stalled, what="the index to meet the full disk")
        assert index.failed is None and index.covered_to() == 20
        assert await _ids(store, "needle", limit=3) == [220, 219, 218]  # from the table

        await index._conn.call(lambda c: c.execute("PRAGMA max_page_count = 2147483646"))
        await index.wait_indexed()
        assert index.covered_to() == text_index_module.EVERYTHING and not index._stalled
        used = index.queries
        assert len(await _ids(store, "needle")) == 220
        assert index.queries > used  # through the index again
        await store.close()

    asyncio.run(body())
    assert caplog.text.count("text index waits: the disk is full") == 1
    assert caplog.text.count("space returned, indexing again") == 1
    assert "text index failed" not in caplog.text


def test_the_option_leaves_no_index(tmp_path: Path) -> None:
    async def body() -> None:
        store = await Store.open(tmp_path / "sloth.db", text_index=False)
        await _insert(store, [_event(i, "needle") for i in range(1, 11)])
        assert store.text_index is None
        assert await _ids(store, "needle", limit=2) == [10, 9]
        await store.close()

    asyncio.run(body())
    assert not index_path(tmp_path / "sloth.db").exists()


@given(hostile_text(40), hostile_text(40))
@settings(max_examples=150, deadline=None)
def test_every_match_query_is_valid_fts5(text: str, value: str) -> None:
    """The query text_index_match writes never fails to parse, whatever the needle."""
    flt = Filter((Term("text", text), Term("field", value, False, ("k",))))
    match = text_index_match(flt)
    if match is None:
        return
    conn = sqlite3.connect(":memory:")
    conn.execute(
        "CREATE VIRTUAL TABLE p USING fts5(a, content='', "
        "tokenize='trigram case_sensitive 1', detail=none, columnsize=0)"
    )
    conn.execute("SELECT rowid FROM p(?)", (match,)).fetchall()


async def test_the_engine_feeds_the_index_children_included(
    settings: Settings, lua_file: Callable[..., Path]
) -> None:
    """The real engine: hooks' children commit after newer events (the index's out of
    order case), and every one is found by text, through the index once it caught up."""
    engine = await Engine.open(settings, lifecycle=True)
    try:
        index = engine.store.text_index
        assert index is not None
        chain = lua_file(
            'function on_event() event.dispatch("myapp.followup", '
            '{note = "child of " .. event.data.n .. " zanzibar"}) end'
        )
        await engine.add_hook("chain", ["task.failed"], chain)
        for n in range(30):
            await engine.dispatch("task.failed", {"n": n})
            await engine.dispatch("task.completed", {"n": n, "note": "filler"})
        await engine.wait_idle()
        await index.wait_indexed()
        found = await engine.query_events(parse_filter("zanzibar"), limit=100)
        assert sorted(e.data["note"] for e in found) == sorted(
            f"child of {n} zanzibar" for n in range(30)
        )
        assert index.queries > 0
    finally:
        await engine.close()


async def test_one_shot_engines_leave_the_index_alone(settings: Settings) -> None:
    """A one-shot command's engine neither opens nor waits on the index; a serving
    engine indexes what it wrote at its next start, and `text_index = false` has none."""
    engine = await Engine.open(settings)
    try:
        assert engine.store.text_index is None
        await engine.dispatch("task.completed", {"note": "one shot zanzibar"})
    finally:
        await engine.close()
    engine = await Engine.open(settings, lifecycle=True)
    try:
        index = engine.store.text_index
        assert index is not None
        await index.wait_indexed()
        assert [e.data for e in await engine.query_events(parse_filter("zanzibar"))] == [
            {"note": "one shot zanzibar"}
        ]
    finally:
        await engine.close()
    engine = await Engine.open(replace(settings, text_index=False), lifecycle=True)
    try:
        assert engine.store.text_index is None
    finally:
        await engine.close()


def test_a_long_burst_is_indexed_before_it_ends(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Indexing waits for a pause in the commits, but not past MAX_LAG waiting ids."""
    monkeypatch.setattr(text_index_module, "QUIET", 3600.0)  # no pause will come
    monkeypatch.setattr(text_index_module, "MAX_LAG", 50)

    async def body() -> None:
        store = await Store.open(tmp_path / "sloth.db")
        index = store.text_index
        assert index is not None
        for start in range(1, 200, 10):
            await _insert(store, [_event(i, "burst") for i in range(start, start + 10)])
        async with asyncio.timeout(60):
            while index.waiting >= 50:  # indexed as the lag passed 50, no pause needed
                await asyncio.sleep(0.01)
        assert index.indexed >= 150
        await store.close()

    asyncio.run(body())


def test_a_pause_in_the_writes_is_enough_to_index(tmp_path: Path) -> None:
    """Nobody asks (no wait_indexed): the first pause of QUIET in the commits indexes."""

    async def body() -> None:
        store = await Store.open(tmp_path / "sloth.db")
        index = store.text_index
        assert index is not None
        await _insert(store, [_event(i, "alone") for i in range(1, 31)])
        for more in range(31, 41):  # a second commit after the first pause
            async with asyncio.timeout(60):
                while index.waiting:
                    await asyncio.sleep(0.01)
            await _insert(store, [_event(more, "later")])
        async with asyncio.timeout(60):
            while index.waiting:
                await asyncio.sleep(0.01)
        assert index.indexed == 40 and index.covered_to() == text_index_module.EVERYTHING
        await store.close()

    asyncio.run(body())


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="a thread's own nice: Linux")
def test_the_indexing_thread_yields_the_cores(tmp_path: Path) -> None:
    """Its thread runs NICER than the process: the writes come first on a busy machine."""

    async def body() -> None:
        store = await Store.open(tmp_path / "sloth.db")
        index = store.text_index
        assert index is not None
        tid = await index._conn.call(lambda _c: threading.get_native_id())
        assert tid != threading.get_native_id()
        wanted = min(19, os.getpriority(os.PRIO_PROCESS, 0) + text_index_module.NICER)
        assert os.getpriority(os.PRIO_PROCESS, tid) == wanted
        await store.close()

    asyncio.run(body())


@given(
    st.lists(st.integers(-5, 40), max_size=30)
    | st.builds(lambda a, n: list(range(a, a + n)), st.integers(-5, 40), st.integers(0, 30))
)
def test_committed_ids_group_into_runs_of_consecutive_ids(ids: list[int]) -> None:
    """Any ids (unsorted, repeated, or the consecutive ones of a round, which take a fast
    path) group into the same (first, last) runs as one id at a time would."""
    expected: list[tuple[int, int]] = []
    for i in sorted(set(ids)):
        if expected and i == expected[-1][1] + 1:
            expected[-1] = (expected[-1][0], i)
        else:
            expected.append((i, i))
    assert text_index_module._runs(ids) == expected
