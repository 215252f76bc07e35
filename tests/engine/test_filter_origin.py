"""`origin:` in the filter language (issue 15): the fleet engine an event came from.

`origin:NAME` / `origin:GLOB` match the origin; `origin:@local` is this engine's own
events (origin NULL). Live matcher and SQL agree (the property test in
test_filter_parity covers origin too); here: the meaning on fixed cases, the errors, and
that a plain name reads the partial index events_origin rather than every row.
"""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
from pathlib import Path

import pytest

from sloth_tui.engine.filter_sql import filter_sql, register_sql_functions
from sloth_tui.engine.store import Store
from sloth_tui.model.filters import LOCAL_ORIGIN, FilterError, parse_filter
from sloth_tui.model.records import Event

ORIGINS = [None, "web-1", "web-2", "db_1", None, "web-10", "[x]", "a\x00b", "Web-1"]
CASES = {
    "origin:web-1": {2},
    "origin:web-*": {2, 3, 6},
    "origin:web-?": {2, 3},
    "origin:@local": {1, 5},
    "!origin:@local": {2, 3, 4, 6, 7, 8, 9},
    "origin:*": {2, 3, 4, 6, 7, 8, 9},
    "!origin:*": {1, 5},
    "!origin:web-1": {1, 3, 4, 5, 6, 7, 8, 9},
    "origin:[[]x]": {7},
    "origin:[x]": set(),  # a class: one `x`, and the name is "[x]"
    "origin:a*": {8},
    "origin:nobody": set(),
    "origin:web-1 type:deploy.*": {2},
    "origin:@local origin:web-1": set(),
}


def events() -> list[Event]:
    return [
        Event(i, "deploy.failed", "deploy", {"n": i}, "socket", origin=origin, ts=float(i))
        for i, origin in enumerate(ORIGINS, start=1)
    ]


@pytest.mark.parametrize(("text", "want"), sorted(CASES.items()))
def test_live_and_store_agree_on_origin(tmp_path: Path, text: str, want: set[int]) -> None:
    flt = parse_filter(text)
    evs = events()
    assert {e.id for e in evs if flt.matches(e)} == want

    async def body() -> set[int]:
        store = await Store.open(tmp_path / "sloth.db")
        try:
            for ev in evs:
                await store.write_event(ev)
            found = {e.id for e in await store.query_events(flt, limit=100)}
            assert await store.count_events(flt) == len(found)
            return found
        finally:
            await store.close()

    assert asyncio.run(body()) == want


def test_origin_terms_parse() -> None:
    assert parse_filter("origin:web-1").terms[0].kind == "origin"
    assert parse_filter("origin:@local").terms[0].value == LOCAL_ORIGIN
    with pytest.raises(FilterError, match="origin:"):
        parse_filter("origin:")
    with pytest.raises(FilterError, match="origin"):
        parse_filter("orign:web-1")  # the unknown key's message lists origin


def test_a_plain_origin_reads_its_index(tmp_path: Path) -> None:
    path = tmp_path / "sloth.db"

    async def make() -> None:
        store = await Store.open(path)
        await store.close()

    asyncio.run(make())
    with contextlib.closing(sqlite3.connect(path)) as conn:
        register_sql_functions(conn)
        where, params = filter_sql(parse_filter("origin:web-1"))
        plan = " ".join(
            str(r[3])
            for r in conn.execute(
                f"EXPLAIN QUERY PLAN SELECT id FROM events WHERE {where} ORDER BY id DESC LIMIT 50",
                params,
            )
        )
        assert "events_origin" in plan, plan
