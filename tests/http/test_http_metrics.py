"""GET /metrics over a real loopback server and a real engine, parsed by prometheus_client's
own parser: exact counts by type, hook and status, histograms, store size, refusals,
source health, hostile label values, and the reader's lifecycle."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import aiohttp
from httpkit import context_for, served, served_engine
from prometheus_client.parser import text_string_to_metric_families

from sloth_tui.engine import store as store_module
from sloth_tui.engine.engine import Engine
from sloth_tui.http.app import build_app
from sloth_tui.http.metrics import METRICS, Metrics
from sloth_tui.http.metrics_scrape import store_bytes
from sloth_tui.model.errors import EventRefused
from sloth_tui.model.stats import SourceHealth

LuaFile = Callable[..., Path]
Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


@asynccontextmanager
async def served_metrics(engine: Engine) -> AsyncIterator[tuple[str, Metrics]]:
    """The whole listener app over `engine`, with its Metrics object."""
    app = build_app(context_for(engine))
    async with served(app) as base:
        yield base, app[METRICS]


async def scrape(base: str) -> tuple[str, str]:
    async with aiohttp.ClientSession() as http, http.get(f"{base}/metrics") as resp:
        assert resp.status == 200
        return resp.headers["Content-Type"], await resp.text()


def samples(text: str) -> Samples:
    """Every sample of a scrape: (name, labels) -> value, through the library's parser."""
    out: Samples = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            key = (s.name, frozenset(s.labels.items()))
            assert key not in out, f"duplicate series {key}"
            out[key] = s.value
    return out


def value(found: Samples, metric: str, /, **labels: str) -> float | None:
    return found.get((metric, frozenset(labels.items())))


def by_label(found: Samples, name: str, *keys: str) -> dict[tuple[str, ...], float]:
    return {
        tuple(dict(labels)[k] for k in keys): v for (n, labels), v in found.items() if n == name
    }


async def scrape_until(base: str, ok: Callable[[Samples], bool], timeout: float = 10.0) -> Samples:
    """Scrape until `ok` holds (the reader counts on its own task): bounded."""
    deadline = time.monotonic() + timeout
    while True:
        found = samples((await scrape(base))[1])
        if ok(found):
            return found
        if time.monotonic() > deadline:
            brief = {k: v for k, v in found.items() if not k[0].endswith(("_bucket", "_created"))}
            raise AssertionError(f"metrics never matched; last scrape: {brief}")
        await asyncio.sleep(0.05)


async def test_events_and_runs_are_counted_exactly(engine: Engine, lua_file: LuaFile) -> None:
    ok = lua_file("function on_event() return true end")
    bad = lua_file("function on_event() return false end")
    boom = lua_file('function on_event() error("boom") end')
    await engine.add_hook("ok", ["deploy.*"], ok)
    await engine.add_hook("bad", ["*.failed"], bad)
    await engine.add_hook("boom", ["backup.done"], boom)
    async with served_engine(engine) as (base, _ctx):
        for _ in range(3):
            await engine.dispatch("deploy.started", {"service": "api"})
        for _ in range(2):
            await engine.dispatch("deploy.failed", {"service": "api"})
        await engine.dispatch("backup.done", {"path": "/x"})
        for i in range(5):
            await engine.dispatch("myapp.ping", {"n": i})
        # A dry run is published too, and must not count as a run.
        await engine.test_hook("ok", "deploy.started", {"service": "api"})
        assert await engine.wait_idle(30)
        want_runs = {
            ("ok", "success"): 5,
            ("bad", "failed"): 2,
            ("boom", "error"): 1,
        }

        def settled(found: Samples) -> bool:
            return by_label(found, "sloth_executions_total", "hook", "status") == want_runs

        found = await scrape_until(base, settled)
        events = by_label(found, "sloth_events_total", "category", "type")
        assert events == {
            ("deploy", "deploy.started"): 3,
            ("deploy", "deploy.failed"): 2,
            ("backup", "backup.done"): 1,
            ("myapp", "myapp.ping"): 5,
        }
        # Final statuses only: never a pending or running one.
        statuses = {s for _h, s in by_label(found, "sloth_executions_total", "hook", "status")}
        assert statuses <= {"success", "failed", "error", "timeout", "skipped"}
        # One histogram observation per run, per hook; the +Inf bucket holds them all.
        counts = by_label(found, "sloth_execution_duration_seconds_count", "hook")
        assert counts == {("ok",): 5, ("bad",): 2, ("boom",): 1}
        for hook, n in counts.items():
            inf = value(found, "sloth_execution_duration_seconds_bucket", hook=hook[0], le="+Inf")
            assert inf == n
            total = value(found, "sloth_execution_duration_seconds_sum", hook=hook[0])
            assert total is not None and total >= 0
        # The engine's own counters, from stats(): every event, every run.
        stats = engine.stats()
        assert value(found, "sloth_engine_events_total") == stats.events_total >= 11
        assert value(found, "sloth_engine_executions_total") == stats.executions_total == 8
        assert value(found, "sloth_queue_depth") == 0
        assert value(found, "sloth_bus_dropped_notices_total") == 0
        assert value(found, "sloth_metrics_notices_lost_total") == 0
        assert value(found, "sloth_metrics_errors_total") == 0
        assert value(found, "sloth_engine_start_time_seconds") == stats.started


async def test_the_reply_is_prometheus_text(engine: Engine) -> None:
    async with served_engine(engine) as (base, _ctx):
        content_type, text = await scrape(base)
    assert content_type.startswith("text/plain; version=")
    names = {f.name for f in text_string_to_metric_families(text)}
    assert all(n.startswith("sloth_") for n in names), names
    for family in text_string_to_metric_families(text):
        assert family.documentation, f"{family.name} has no help text"


async def test_store_size_is_the_file_plus_its_wal(engine: Engine) -> None:
    async with served_engine(engine) as (base, _ctx):
        for i in range(50):
            await engine.dispatch("myapp.ping", {"n": i, "pad": "x" * 500})
        assert await engine.wait_idle(30)
        db = engine.settings.db_path
        wal = db.with_name(db.name + "-wal")

        def on_disk() -> int:
            return sum(p.stat().st_size for p in (db, wal) if p.exists())

        # The store may checkpoint between the scrape and the stat: compare until both
        # agree (bounded), and check the helper against the files independently.
        found = await scrape_until(base, lambda f: value(f, "sloth_store_size_bytes") == on_disk())
        size = value(found, "sloth_store_size_bytes")
        assert size is not None and size > 0
        assert store_bytes(db) == on_disk()
        assert db.stat().st_size > 0


async def test_a_full_disk_is_a_gauge_to_alert_on(engine: Engine) -> None:
    """SQLITE_FULL for real (max_page_count on the writer), then space again."""
    writer = engine.store._writer
    assert writer is not None

    async def cap(value: str) -> None:
        await store_module._in_thread(
            writer, lambda c: c.execute(f"PRAGMA max_page_count = {value}").fetchone()
        )

    async with served_engine(engine) as (base, _ctx):
        found = await scrape_until(base, lambda f: value(f, "sloth_store_writes_refused") == 0)
        await cap("1")
        with contextlib.suppress(EventRefused):
            for i in range(20):
                await engine.dispatch("myapp.ping", {"n": i, "pad": "x" * 2000})
        found = await scrape_until(base, lambda f: value(f, "sloth_store_writes_refused") == 1)
        await cap("2147483646")
        await engine.dispatch("myapp.ping", {"n": 0})
        found = await scrape_until(base, lambda f: value(f, "sloth_store_writes_refused") == 0)
        assert found


def test_store_size_of_a_missing_store_is_zero(tmp_path: Path) -> None:
    assert store_bytes(tmp_path / "nothing.db") == 0


async def test_refusals_are_exported_by_route_and_reason(engine: Engine) -> None:
    async with served_engine(engine) as (base, ctx):
        ctx.refusals.count("/webhooks/{name}", "unknown_webhook")
        ctx.refusals.count("/webhooks/{name}", "unknown_webhook")
        ctx.refusals.count("/events", "too_large")
        found = samples((await scrape(base))[1])
    assert by_label(found, "sloth_http_refusals_total", "route", "reason") == {
        ("/webhooks/{name}", "unknown_webhook"): 2,
        ("/events", "too_large"): 1,
    }


async def test_a_real_refusal_is_counted(engine: Engine) -> None:
    """Through the listener's own POST /events (H1): a body that is not JSON."""
    async with served_engine(engine) as (base, _ctx):
        async with (
            aiohttp.ClientSession() as http,
            http.post(
                f"{base}/events", data=b"{not json", headers={"Content-Type": "application/json"}
            ) as resp,
        ):
            assert resp.status == 400
            assert (await resp.json())["ok"] is False
        found = samples((await scrape(base))[1])
    refused = by_label(found, "sloth_http_refusals_total", "route", "reason")
    assert sum(n for (route, _r), n in refused.items() if route == "/events") == 1, refused


async def test_source_health_is_one_gauge_per_source(engine: Engine) -> None:
    lines = [
        SourceHealth("socket", "socket", "running", events=7, errors=1),
        SourceHealth("monitor", "monitor", "failed", "disk gone"),
        SourceHealth("bridge", "sloth-runner", "stopped"),
    ]
    engine.report_sources(lambda: lines)
    async with served_engine(engine) as (base, _ctx):
        found = samples((await scrape(base))[1])
    assert by_label(found, "sloth_source_up", "name", "kind", "state") == {
        ("socket", "socket", "running"): 1,
        ("monitor", "monitor", "failed"): 0,
        ("bridge", "sloth-runner", "stopped"): 0,
    }
    assert value(found, "sloth_source_events_total", name="socket", kind="socket") == 7
    assert value(found, "sloth_source_errors_total", name="socket", kind="socket") == 1


HOSTILE = [
    'quo"te',
    "new\nline",
    "back\\slash\\",
    "tab\tand\rreturn",
    "ünïcødé ✓ 🦥",
    "\x00nul\x1b[31mred",
    "} fake_metric 1\n# TYPE x counter",
    "lone \udc80 surrogate",
    "",
]


async def test_hostile_label_values_still_parse(engine: Engine, lua_file: LuaFile) -> None:
    # Hook names and event types are validated (model/rules.py, catalog): the hostile
    # ones they allow are dots, dashes, digits first and the longest lengths.
    name = "9" + "a.-_" * 15 + "zzz"
    await engine.add_hook(name, ["x_1.y_2"], lua_file("function on_event() return true end"))
    etype = "a" * 60 + "_0." + "b" * 60
    engine.report_sources(
        lambda: [SourceHealth(h, h, h) for h in HOSTILE] + [SourceHealth("ok", "ok", "running")]
    )
    async with served_engine(engine) as (base, ctx):
        for h in HOSTILE:
            ctx.refusals.count(h, h)
        await engine.dispatch("x_1.y_2", {})
        await engine.dispatch(etype, {})
        assert await engine.wait_idle(30)
        found = await scrape_until(
            base, lambda f: value(f, "sloth_executions_total", hook=name, status="success") == 1
        )
    assert value(found, "sloth_events_total", category="a" * 60 + "_0", type=etype) == 1
    up = by_label(found, "sloth_source_up", "name")
    # Every hostile name came back as it was, but a lone surrogate (not UTF-8): replaced.
    for h in HOSTILE:
        back = h.encode("utf-8", "replace").decode("utf-8")
        assert (back,) in up, (h, sorted(up))
        assert value(found, "sloth_http_refusals_total", route=back, reason=back) == 1
    # No label value made a series of its own: the fake one does not exist.
    assert not [n for n, _l in found if n.startswith("fake_metric")]


async def test_the_reader_survives_a_notice_it_cannot_count(engine: Engine, caplog: Any) -> None:
    async with served_metrics(engine) as (base, metrics):
        real = metrics.take
        failed: list[str] = []

        def flaky(notice: Any) -> None:
            if notice.kind == "event" and not failed:
                failed.append(notice.kind)
                raise RuntimeError("cannot count this one")
            real(notice)

        metrics.take = flaky
        for i in range(3):
            await engine.dispatch("myapp.ping", {"n": i})
        found = await scrape_until(
            base, lambda f: value(f, "sloth_events_total", category="myapp", type="myapp.ping") == 2
        )
        assert value(found, "sloth_metrics_errors_total") == 1
        assert metrics.reading
        assert "could not count a event notice" in caplog.text


async def test_a_failed_reader_is_logged_and_restarted_losing_nothing(
    engine: Engine, caplog: Any
) -> None:
    async with served_metrics(engine) as (base, metrics):
        metrics.restart_delay = 0.01
        sub = metrics._sub
        assert sub is not None
        real_get = sub.get
        broke: list[bool] = []

        async def get_once_broken() -> Any:
            if not broke:
                broke.append(True)
                raise RuntimeError("reader broke")
            return await real_get()

        sub.get = get_once_broken  # type: ignore[method-assign]
        for i in range(3):
            await engine.dispatch("myapp.ping", {"n": i})
        found = await scrape_until(
            base, lambda f: value(f, "sloth_events_total", category="myapp", type="myapp.ping") == 3
        )
        assert broke == [True]
        assert value(found, "sloth_metrics_errors_total") == 1
        assert metrics.reading
        assert "the notice reader failed; restarting it" in caplog.text


async def test_the_reader_ends_with_the_app(engine: Engine) -> None:
    before = engine.stats().subscribers
    async with served_metrics(engine) as (_base, metrics):
        assert metrics.reading
        assert engine.stats().subscribers == before + 1
    assert not metrics.reading
    assert engine.stats().subscribers == before


async def test_two_listeners_do_not_share_counters(engine: Engine) -> None:
    async with served_engine(engine) as (first, _c1):
        await engine.dispatch("myapp.ping", {})
        await scrape_until(
            first,
            lambda f: value(f, "sloth_events_total", category="myapp", type="myapp.ping") == 1,
        )
        async with served_engine(engine) as (second, _c2):
            await engine.dispatch("myapp.ping", {})
            await scrape_until(
                first,
                lambda f: value(f, "sloth_events_total", category="myapp", type="myapp.ping") == 2,
            )
            await scrape_until(
                second,
                lambda f: value(f, "sloth_events_total", category="myapp", type="myapp.ping") == 1,
            )


async def test_a_burst_past_any_bounded_queue_is_counted_exactly(engine: Engine) -> None:
    """One dispatch_batch publishes every notice in one loop turn, more than a default
    (10,000) subscription holds: the reader's unbounded one loses none."""
    n = 12_000
    async with served_engine(engine) as (base, _ctx):
        results = await engine.dispatch_batch(
            [("myapp.burst", {"i": i}, "test", None) for i in range(n)]
        )
        assert len(results) == n
        found = await scrape_until(
            base,
            lambda f: value(f, "sloth_events_total", category="myapp", type="myapp.burst") == n,
        )
    assert value(found, "sloth_metrics_notices_lost_total") == 0


async def test_a_scrape_runs_no_query_on_the_events(engine: Engine, lua_file: LuaFile) -> None:
    """Cheap on any store size (1M events included): a scrape reads the events and
    executions tables not at all, seen by SQLite's own trace of every statement."""
    await engine.add_hook("ok", ["myapp.*"], lua_file("function on_event() return true end"))
    async with served_engine(engine) as (base, _ctx):
        for i in range(20):
            await engine.dispatch("myapp.ping", {"n": i})
        assert await engine.wait_idle(30)
        await scrape(base)  # the first one, and whatever it may cache
        statements: list[str] = []
        store = engine.store
        for thread in (store._reader, store._writer):
            assert thread is not None
            await thread.call(lambda conn: conn.set_trace_callback(statements.append))
        try:
            await engine.store.count_events()  # the trace sees a query: it is on
            assert any("events" in s for s in statements), statements
            statements.clear()
            for _ in range(5):
                found = samples((await scrape(base))[1])
        finally:
            for thread in (store._reader, store._writer):
                assert thread is not None
                await thread.call(lambda conn: conn.set_trace_callback(None))
    assert value(found, "sloth_events_total", category="myapp", type="myapp.ping") == 20
    touched = [s for s in statements if "events" in s or "executions" in s]
    assert touched == [], touched


async def test_the_readme_lists_every_metric(engine: Engine, lua_file: LuaFile) -> None:
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    section = readme.split("<!-- section:metrics -->", 1)[1].split("<!-- section:", 1)[0]
    await engine.add_hook("ok", ["myapp.*"], lua_file("function on_event() return true end"))
    engine.report_sources(lambda: [SourceHealth("socket", "socket", "running")])
    async with served_engine(engine) as (base, ctx):
        ctx.refusals.count("/events", "bad_json")
        await engine.dispatch("myapp.ping", {})
        assert await engine.wait_idle(30)
        text = (await scrape(base))[1]
    exposed = set()
    for family in text_string_to_metric_families(text):
        suffix = "_total" if family.type == "counter" else ""
        exposed.add(family.name + suffix)
    assert len(exposed) >= 17
    # prometheus_client's `_created` series are said once, not per metric.
    assert "`_created`" in section
    missing = sorted(n for n in exposed if f"`{n}`" not in section and not n.endswith("_created"))
    assert missing == [], f"README's metrics section does not list {missing}"
