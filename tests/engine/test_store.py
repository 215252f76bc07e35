"""The store on a real SQLite file: migration from empty, queries, paging, retention."""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path

import pytest

from sloth_tui.engine.schema import SCHEMA_VERSION
from sloth_tui.engine.store import (
    INSERT_EVENT,
    INSERT_EXECUTION,
    Store,
    StoreError,
    event_row,
    execution_row,
)
from sloth_tui.model.errors import NotFound
from sloth_tui.model.filters import parse_filter
from sloth_tui.model.records import Event, Execution, LogLine


def make_event(i: int, type_: str = "deploy.failed", **kw: object) -> Event:
    category = type_.split(".")[0]
    base = dict(
        id=i,
        type=type_,
        category=category,
        data={"service": f"svc{i % 3}"},
        source="cli",
        ts=1000.0 + i,
        status="completed",
    )
    base.update(kw)
    return Event(**base)  # type: ignore[arg-type]


@pytest.fixture
async def store(tmp_path: Path):
    s = await Store.open(tmp_path / "sloth.db")
    yield s
    await s.close()


async def test_migrates_an_empty_file(tmp_path: Path) -> None:
    path = tmp_path / "sloth.db"
    path.touch()
    store = await Store.open(path)
    await store.close()
    conn = sqlite3.connect(path)
    assert conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    assert {"events", "hooks", "executions", "state"} <= tables
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


async def test_refuses_a_newer_schema(tmp_path: Path) -> None:
    path = tmp_path / "sloth.db"
    conn = sqlite3.connect(path)
    conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    conn.close()
    with pytest.raises(StoreError, match="newer than this sloth-tui"):
        await Store.open(path)


async def test_a_file_that_is_not_sqlite_is_a_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "sloth.db"
    path.write_bytes(b"this is not a database" * 100)
    with pytest.raises(StoreError, match=r"cannot open .*not a database"):
        await Store.open(path)
    assert path.read_bytes().startswith(b"this is not")  # left as it was


async def test_group_commit_batches_concurrent_writes(store: Store) -> None:
    import asyncio

    await asyncio.gather(
        *(store.write((INSERT_EVENT, event_row(make_event(i)))) for i in range(1, 501))
    )
    assert await store.max_event_id() == 500
    assert store.commits < 50  # batched, not one transaction per event


async def test_write_error_reaches_the_writer_and_the_store_lives_on(store: Store) -> None:
    await store.write((INSERT_EVENT, event_row(make_event(1))))
    with pytest.raises(sqlite3.IntegrityError):
        await store.write((INSERT_EVENT, event_row(make_event(1))))
    await store.write((INSERT_EVENT, event_row(make_event(2))))
    assert await store.max_event_id() == 2


async def test_a_round_with_one_bad_write_commits_all_the_others(store: Store) -> None:
    import asyncio

    await store.write((INSERT_EVENT, event_row(make_event(7))))
    # One round: 300 inserts widened into multi-row statements, one duplicate among them.
    writes = [store.write((INSERT_EVENT, event_row(make_event(i)))) for i in range(100, 400)]
    duplicate = store.write((INSERT_EVENT, event_row(make_event(7))))
    results = await asyncio.gather(*writes, duplicate, return_exceptions=True)
    assert results[:-1] == [None] * 300
    assert isinstance(results[-1], sqlite3.IntegrityError)
    assert await store.count_events() == 301
    event = await store.get_event(250)
    assert event == make_event(250)  # every column round-trips through the wide INSERT


async def test_buffered_writes_commit_in_a_round_of_their_own_in_order(store: Store) -> None:
    """What a gatherer buffers (hook runs' records, statuses) is gathered as the writer
    takes a round, and goes in the next round, alone: it commits while the loop answers
    the callers of the round before (issue 19). Writes keep their order, which
    durability rests on (a run's record before its event's status): those queued before
    the gather commit before the gathered ones, those queued after commit after them."""
    buffered: list[str] = []

    def run(hook: str) -> tuple[str, tuple[object, ...]]:
        return (INSERT_EXECUTION, execution_row(Execution(hook, 1, "success", 1.0)))

    def gather() -> None:
        if buffered:
            store.write_later(*(run(hook) for hook in buffered))
            buffered.clear()

    store.gather_before_rounds(gather)
    await store.write((INSERT_EVENT, event_row(make_event(1))))
    before = store.commits
    first = store.write(run("queued-before"))
    buffered.extend(["buffered-1", "buffered-2"])
    store.wake()
    await first  # the gathered round is with the writer now
    await store.write(run("queued-after"))
    assert store.commits - before == 3
    hooks = await store._fetchall("SELECT hook FROM executions ORDER BY id")
    assert [row[0] for row in hooks] == [
        "queued-before",
        "buffered-1",
        "buffered-2",
        "queued-after",
    ]


async def test_a_write_of_several_ops_is_all_or_nothing(store: Store) -> None:
    with pytest.raises(sqlite3.IntegrityError):
        await store.write(
            (INSERT_EVENT, event_row(make_event(1))),
            (INSERT_EVENT, event_row(make_event(2))),
            (INSERT_EVENT, event_row(make_event(1))),
        )
    assert await store.count_events() == 0


def test_wide_inserts_respect_the_variable_limit(tmp_path: Path) -> None:
    from sloth_tui.engine.schema import MIGRATIONS
    from sloth_tui.engine.store import _run_batch, _statements

    conn = sqlite3.connect(tmp_path / "x.db", isolation_level=None)
    for migration in MIGRATIONS:
        conn.executescript(migration)
    ops = [(INSERT_EVENT, event_row(make_event(i))) for i in range(1, 301)]
    width = len(event_row(make_event(1)))  # columns per event row
    rows_per_statement = [len(p) // width for _sql, p, _many in _statements(conn, ops)]
    assert rows_per_statement == [256, 32, 8, 4]
    conn.setlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER, 4 * width + 5)  # room for 4 rows
    statements = _statements(conn, ops)
    assert {len(p) // width for _sql, p, _many in statements} == {4}
    _run_batch(conn, ops)
    assert conn.execute("SELECT COUNT(*), MIN(id), MAX(id) FROM events").fetchone() == (300, 1, 300)


def test_widened_replacing_inserts_keep_their_order(tmp_path: Path) -> None:
    from sloth_tui.engine.schema import MIGRATIONS
    from sloth_tui.engine.store import UPSERT_STATE, _run_batch, _statements

    conn = sqlite3.connect(tmp_path / "x.db", isolation_level=None)
    conn.executescript(MIGRATIONS[0])
    ops = [(UPSERT_STATE, ("h", "k", str(n))) for n in range(5)]
    assert [len(p) // 3 for _sql, p, _many in _statements(conn, ops)] == [4, 1]
    _run_batch(conn, ops)
    assert conn.execute("SELECT value FROM state").fetchall() == [("4",)]  # the last one wins
    # An upsert clause after VALUES cannot be widened: it runs row by row.
    upsert = (
        "INSERT INTO state (hook, key, value) VALUES (?, ?, ?) "
        "ON CONFLICT (hook, key) DO UPDATE SET value = value || excluded.value"
    )
    ops = [(upsert, ("h", "k", str(n))) for n in range(3)]
    assert [many for _sql, _p, many in _statements(conn, ops)] == [True]
    _run_batch(conn, ops)
    assert conn.execute("SELECT value FROM state").fetchall() == [("4012",)]


async def seed(store: Store) -> None:
    types = ["deploy.failed", "deploy.started", "task.failed", "security.breach"]
    ops = [
        (
            INSERT_EVENT,
            event_row(make_event(i, types[i % 4], source="cli" if i % 2 else "watcher:etc")),
        )
        for i in range(1, 41)
    ]
    await store.write(*ops)


async def test_queries_by_each_dimension(store: Store) -> None:
    await seed(store)
    q = store.query_events
    assert len(await q(parse_filter("type:deploy.*"), limit=100)) == 20
    assert len(await q(parse_filter("cat:security"), limit=100)) == 10
    assert len(await q(parse_filter("src:watcher"), limit=100)) == 20
    assert len(await q(parse_filter("status:completed"), limit=100)) == 40
    assert len(await q(parse_filter("svc1"), limit=100)) == 14
    assert len(await q(parse_filter("service=svc2"), limit=100)) == 13
    assert len(await q(parse_filter("!type:deploy.*"), limit=100)) == 20
    assert [e.id for e in await q(parse_filter("id:5"))] == [5]
    assert len(await q(None, since=1010.0, until=1020.0, limit=100)) == 10


async def test_paging_by_id(store: Store) -> None:
    await seed(store)
    page1 = await store.query_events(limit=15)
    assert [e.id for e in page1] == list(range(40, 25, -1))
    page2 = await store.query_events(limit=15, before_id=page1[-1].id)
    assert [e.id for e in page2] == list(range(25, 10, -1))
    newer = await store.query_events(limit=5, after_id=30)
    assert [e.id for e in newer] == [31, 32, 33, 34, 35]


async def test_counts(store: Store) -> None:
    await seed(store)
    assert await store.counts_by_category() == {"deploy": 20, "task": 10, "security": 10}
    counts = {t: n for _, t, n in await store.counts_by_type()}
    assert counts["deploy.failed"] == 10
    assert await store.count_events(parse_filter("type:*.failed")) == 20


async def test_get_event_roundtrip_and_not_found(store: Store) -> None:
    event = make_event(1, warnings=["missing field error"], parent_id=None)
    await store.write((INSERT_EVENT, event_row(event)))
    assert await store.get_event(1) == event
    with pytest.raises(NotFound, match="no event with id 99"):
        await store.get_event(99)


async def test_hook_stats(store: Store) -> None:
    await seed(store)
    runs = []
    for i, ms in enumerate([1, 2, 3, 4, 100]):
        status = "success" if i < 4 else "error"
        runs.append(
            (
                INSERT_EXECUTION,
                execution_row(
                    Execution(
                        "h",
                        i + 1,
                        status,
                        time.time(),
                        duration_ms=ms,
                        logs=[LogLine("info", 1.0, "x")],
                    )
                ),
            )
        )
    runs.append(
        (
            INSERT_EXECUTION,
            execution_row(Execution("h", 9, "error", time.time(), duration_ms=999, dry_run=True)),
        )
    )
    await store.write(*runs)
    stats = (await store.hook_stats())["h"]
    assert (stats.runs, stats.failures) == (5, 1)
    assert stats.avg_ms == pytest.approx(22.0)
    assert stats.p50_ms == 3 and stats.p95_ms == 100
    assert stats.success_rate == 0.8
    failed = await store.executions(hook="h", only_failed=True, include_dry_runs=False)
    assert [e.event_id for e in failed] == [5]
    assert failed[0].logs == [LogLine("info", 1.0, "x")]


async def test_cleanup_and_cap(store: Store) -> None:
    await seed(store)
    await store.write(*Store.cleanup_ops(1011.0))  # ts = 1000 + id
    assert (await store.query_events(limit=1, after_id=0))[0].id == 11
    await store.write(*Store.cap_ops(30))
    assert await store.count_events() == 10


async def test_readonly_store_on_missing_db_reads_empty(tmp_path: Path) -> None:
    store = await Store.open(tmp_path / "new" / "sloth.db", readonly=True)
    assert await store.query_events() == []
    await store.close()


async def test_migrates_a_version_1_file_keeping_its_hooks(tmp_path: Path) -> None:
    from sloth_tui.engine.schema import MIGRATIONS

    path = tmp_path / "sloth.db"
    conn = sqlite3.connect(path)
    conn.executescript(MIGRATIONS[0] + "; PRAGMA user_version = 1;")
    conn.execute(
        "INSERT INTO hooks (name, events, file, created) VALUES ('old', '[\"*\"]', '/x.lua', 1.0)"
    )
    conn.commit()
    conn.close()
    store = await Store.open(path)
    (hook,) = await store.list_hooks()
    await store.close()
    assert hook.name == "old" and hook.events == ["*"]
    assert hook.max_instructions is None and hook.max_memory_mb is None
    conn = sqlite3.connect(path)
    assert conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION


async def test_migration_3_names_each_run_its_event_type(tmp_path: Path) -> None:
    from sloth_tui.engine.schema import MIGRATIONS

    path = tmp_path / "sloth.db"
    conn = sqlite3.connect(path)
    conn.executescript(";".join(MIGRATIONS[:2]) + "; PRAGMA user_version = 2;")
    conn.execute(
        "INSERT INTO events (id, type, category, source, ts, status, data) "
        "VALUES (5, 'deploy.failed', 'deploy', 'cli', 1.0, 'completed', '{}')"
    )
    run = (
        "INSERT INTO executions (hook, event_id, status, started, duration_ms, logs, calls) "
        "VALUES ('h', ?, 'success', 2.0, 1.0, '[]', '[]')"
    )
    conn.execute(run, (5,))
    conn.execute(run, (9,))  # its event was trimmed before the upgrade
    conn.commit()
    conn.close()
    store = await Store.open(path)
    runs = await store.executions()
    await store.close()
    assert [(r.event_id, r.event_type) for r in runs] == [(9, ""), (5, "deploy.failed")]


async def test_hook_outcomes_in_chunks(store: Store) -> None:
    runs = [
        Execution("a", 3, "success", 1.0),
        Execution("b", 3, "failed", 2.0),
        Execution("a", 900, "error", 3.0),
        Execution("a", 900, "success", 4.0, dry_run=True),
    ]
    await store.write(*((INSERT_EXECUTION, execution_row(r)) for r in runs))
    outcomes = await store.hook_outcomes(list(range(1, 1201)))  # three chunks of ids
    assert len(outcomes) == 1200
    assert outcomes[3] == [("a", "success"), ("b", "failed")]
    assert outcomes[900] == [("a", "error")]  # the dry run is not an outcome
    assert outcomes[4] == []
