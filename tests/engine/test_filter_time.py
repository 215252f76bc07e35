"""Time in the filter language: `since:` / `until:` ages and ISO dates, incomplete terms."""

from __future__ import annotations

import math
from datetime import UTC, datetime

import pytest
from hostile import hostile_text
from hypothesis import given, settings
from hypothesis import strategies as st

from sloth_tui.model.filters import (
    FilterError,
    IncompleteFilter,
    Term,
    parse_filter,
    parse_time,
)
from sloth_tui.model.records import Event

NOW = 1_796_040_000.0  # 2026-11-30T12:00:00Z


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("10s", 10),
        ("10m", 600),
        ("2h", 7200),
        ("1d", 86400),
        ("1w", 604800),
        ("1h30m", 5400),
        ("2.5m", 150),
        ("0s", 0),
    ],
)
def test_ages_count_back_from_the_parse_time(text: str, seconds: float) -> None:
    assert parse_filter(f"since:{text}", now=NOW).terms == (Term("since", NOW - seconds),)
    assert parse_filter(f"!until:{text}", now=NOW).terms == (Term("until", NOW - seconds, True),)


def test_iso_times_are_local_unless_they_say_otherwise() -> None:
    assert parse_time("2026-11-30T12:00Z") == NOW
    assert parse_time("2026-11-30T13:00+01:00") == NOW
    local = datetime(2026, 11, 30, 12, 0).astimezone().timestamp()  # naive: local time
    assert parse_time("2026-11-30T12:00") == local
    assert parse_time("2026-11-30 12:00:00") == local
    assert parse_time("2026-11-30") == datetime(2026, 11, 30).astimezone().timestamp()


def test_a_time_term_compares_with_the_event_time() -> None:
    flt = parse_filter("since:2026-11-30T12:00Z until:2026-11-30T12:10Z")
    at = [Event(1, "x.y", "x", {}, "cli", ts=NOW + d) for d in (-0.001, 0, 599.999, 600)]
    assert [flt.matches(e) for e in at] == [False, True, True, False]


def test_every_term_of_one_filter_counts_from_the_same_moment() -> None:
    flt = parse_filter("since:10m until:10m")
    assert flt.terms[0].value == flt.terms[1].value


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("since:10", "'10' is not an age like 10m"),
        ("since:10x", "since: '10x' is not"),
        ("until:yesterday", "until: 'yesterday' is not"),
        ("since:2026-13-01", "not a valid date"),
        ("since:2026-11-30T25:00", "not a valid date"),
        ("since:99999999999w", "too long ago"),
        ("since:-5m", "is not an age"),
        ("since:nan", "is not an age"),
    ],
)
def test_bad_times_name_the_term(text: str, says: str) -> None:
    with pytest.raises(FilterError) as caught:
        parse_filter(text)
    assert says in str(caught.value) and "\n" not in str(caught.value)
    assert not isinstance(caught.value, IncompleteFilter)


@pytest.mark.parametrize("text", ["type:", "since:", "until:", "!", "x !", "src:demo 'ab", "a\\"])
def test_unfinished_terms_are_reported_as_incomplete(text: str) -> None:
    with pytest.raises(IncompleteFilter, match="incomplete"):
        parse_filter(text)


@settings(max_examples=300, deadline=None)
@given(hostile_text(40))
def test_hostile_times_give_one_line_errors_or_finite_bounds(text: str) -> None:
    for key in ("since", "until"):
        try:
            flt = parse_filter(f"{key}:{text}")
        except FilterError as exc:
            assert "\n" not in str(exc)
            continue
        for term in flt.terms:
            if term.kind == key:
                assert math.isfinite(term.value)


@given(st.floats(0, 4e9))
def test_a_time_written_as_utc_iso_reads_back(ts: float) -> None:
    stamp = datetime.fromtimestamp(round(ts, 6), UTC).isoformat()
    assert parse_time(stamp) == pytest.approx(round(ts, 6), abs=1e-6)
