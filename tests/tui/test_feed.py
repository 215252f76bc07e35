"""EventFeed, LiveStats and the table layout: the models under the Events screen, no app."""

from __future__ import annotations

from sloth_tui.engine.bus import Notice
from sloth_tui.model.filters import parse_filter
from sloth_tui.model.records import Event, Execution
from sloth_tui.tui.feed import EventFeed
from sloth_tui.tui.format import summary
from sloth_tui.tui.live import Batch, LiveStats
from sloth_tui.tui.widgets.event_table import fit, layout_for


def ev(i: int, type_: str = "deploy.failed", status: str = "completed", **data: object) -> Event:
    return Event(
        i, type_, type_.split(".")[0], dict(data), source="demo", ts=1000.0 + i, status=status
    )


def batch(
    *events: Event, statuses: tuple[Event, ...] = (), execs: tuple[Execution, ...] = ()
) -> Batch:
    notices = [Notice("event", e) for e in events]
    notices += [Notice("execution", x) for x in execs]
    notices += [Notice("event_status", e) for e in statuses]
    return Batch.from_notices(notices)


def test_following_trims_to_the_cap_and_remembers_older_rows() -> None:
    feed = EventFeed(cap=10)
    feed.finish_load([], 0, 100)
    feed.ingest(batch(*(ev(i) for i in range(1, 26))))
    assert [e.id for e in feed.rows] == list(range(16, 26))
    assert feed.has_older and feed.total == 25


def test_paused_rows_keep_coming_below_and_are_counted() -> None:
    feed = EventFeed(cap=10)
    feed.finish_load([ev(1), ev(0)][:1], 1, 100)
    feed.pause()
    feed.ingest(batch(*(ev(i) for i in range(2, 8))))
    assert feed.new_count == 6 and len(feed) == 7  # nothing trimmed while paused
    assert feed.resume() is False
    assert feed.new_count == 0 and feed.following


def test_paused_past_the_bound_leaves_a_gap_that_resume_reloads() -> None:
    feed = EventFeed(cap=2)
    feed.finish_load([], 0, 100)
    feed.pause()
    feed.ingest(batch(*(ev(i) for i in range(1, 11))))
    assert not feed.at_tail and feed.new_count == 10
    assert feed.resume() is True  # the screen reloads the tail from the store


def test_filter_matches_live_and_late_on_status_and_hooks() -> None:
    feed = EventFeed()
    feed.set_filter(parse_filter("status:failed hook:alert"))
    feed.finish_load([], 0, 100)
    pending = ev(1, status="pending")
    feed.ingest(batch(pending, ev(2)))
    assert feed.rows == [] and 1 in feed.undecided
    pending.status = "failed"
    run = Execution("alert", 1, "failed", 1001.0)
    feed.ingest(batch(execs=(run,), statuses=(pending,)))
    assert [e.id for e in feed.rows] == [1]
    assert (feed.marks[1].ok, feed.marks[1].bad) == (0, 1)


def test_out_of_order_ids_are_inserted_in_place() -> None:
    feed = EventFeed()
    feed.finish_load([], 0, 100)
    feed.ingest(batch(ev(1), ev(3)))
    feed.ingest(batch(ev(2)))
    assert [e.id for e in feed.rows] == [1, 2, 3]


def test_load_merges_live_events_that_arrived_meanwhile() -> None:
    feed = EventFeed()
    feed.set_filter(parse_filter("type:deploy.*"))
    feed.ingest(batch(ev(5), ev(6, "file.created")))
    feed.finish_load([ev(5), ev(4)], 2, 100)  # newest first, as query_events returns
    assert [e.id for e in feed.rows] == [4, 5]
    feed.ingest(batch(ev(7)))
    assert [e.id for e in feed.rows] == [4, 5, 7]


def test_prepend_and_dropped_notices() -> None:
    feed = EventFeed()
    feed.finish_load([ev(10)], 1, 1)
    assert feed.prepend([ev(9), ev(8)], 2) == 2 and feed.has_older
    assert [e.id for e in feed.rows] == [8, 9, 10]
    feed.ingest(Batch(dropped=3))
    assert feed.needs_reload and not feed.at_tail


def test_live_stats_rates_and_counts() -> None:
    live = LiveStats()
    live.seed({"categories": {"deploy": 5}, "types": {"deploy.failed": 5}})
    live.apply(batch(*(ev(i) for i in range(1, 4))))
    assert live.categories["deploy"] == 8 and live.last_event_id == 3
    assert live.series(1004.0, 3) == [1.0, 1.0, 1.0]


def test_summary_layout_and_fit() -> None:
    text = summary(
        "deploy.failed", {"error": "x", "service": "api", "deploy_id": "d1", "extra": [1, 2]}
    )
    assert text.startswith("deploy_id=d1 service=api error=x") and "extra=[2]" in text
    assert summary("agent.connected", {"agent": {"name": "a1"}}) == "agent.name=a1"
    assert fit("abcdef", 4) == "abc…" and fit("ab", 4) == "ab  "
    wide, narrow = layout_for(120), layout_for(40)
    assert wide.id and wide.source and wide.time == 12
    assert not narrow.source and not narrow.time and narrow.summary >= 0


def test_live_notices_of_rows_already_loaded_are_not_doubled() -> None:
    feed = EventFeed()
    feed.begin_load()
    feed.finish_load([ev(2), ev(1)], 2, 100)  # the page already holds 2 ...
    feed.ingest(batch(ev(2), ev(3)))  # ... whose notice comes a tick later
    assert [e.id for e in feed.rows] == [1, 2, 3] and feed.total == 3


def test_store_outcomes_never_overwrite_live_ones() -> None:
    feed = EventFeed()
    feed.finish_load([ev(1)], 1, 100)
    assert feed.missing_marks(feed.rows) == [1]  # a lazy fetch starts ...
    feed.ingest(batch(ev(1), execs=(Execution("h", 1, "failed", 1.0),)))  # ... live wins
    feed.set_marks(1, [])  # the fetch read the store before the run was written
    assert feed.marks[1].bad == 1
