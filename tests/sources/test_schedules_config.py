"""[[schedules]] in config.toml: each bad entry is one ConfigError line naming the file,
the table and the entry; hostile names and cron strings never raise anything else."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given
from hypothesis import settings as hsettings
from hypothesis import strategies as st
from sourcekit import write_config

from sloth_tui.config import ConfigError, load_settings
from sloth_tui.sources.options import SourceOptions
from sloth_tui.sources.schedule_spec import (
    ScheduleSpec,
    check_cron,
    check_name,
    check_timezone,
    fires_after,
    parse_entry,
)
from sloth_tui.sources.schedules import schedule_sources


def sources_for(home: Path, toml: str) -> Any:
    write_config(home, toml)
    return schedule_sources(load_settings(home), SourceOptions())


def error_for(home: Path, toml: str) -> str:
    with pytest.raises(ConfigError) as caught:
        sources_for(home, toml)
    message = str(caught.value)
    assert "\n" not in message
    assert str(home / "config.toml") in message and "[[schedules]]" in message
    return message


GOOD = """
[[schedules]]
name = "nightly-backup"
cron = "0 2 * * *"
timezone = "Europe/Berlin"
workflow_name = "backup-databases"

[[schedules]]
name = "ping"
cron = "*/5 * * * *"
enabled = false
event = "custom"
data = { name = "ping", tags = ["a", "b"] }
"""


def test_a_good_table_is_read_with_its_defaults(home: Path) -> None:
    [source] = sources_for(home, GOOD)
    nightly, ping = source.config
    assert (nightly.name, nightly.cron, nightly.timezone) == (
        "nightly-backup",
        "0 2 * * *",
        "Europe/Berlin",
    )
    assert nightly.enabled and nightly.event is None and nightly.workflow_name == "backup-databases"
    assert (ping.enabled, ping.event, ping.data) == (
        False,
        "custom",
        {"name": "ping", "tags": ["a", "b"]},
    )
    assert ping.timezone == "UTC"


@pytest.mark.parametrize(
    ("entry", "expected"),
    [
        (
            'name = "a"\ncron = "61 * * * *"',
            "entry 1 ('a'): invalid cron expression '61 * * * *': Bad minute",
        ),
        ('name = "a"\ncron = "* * *"', "invalid cron expression '* * *': Wrong number of fields"),
        ('name = "a"\ncron = "0 0 30 2 *"', "invalid cron expression '0 0 30 2 *'"),
        (
            'name = "a"\ncron = "0 2 * * *"\ntimezone = "Mars/Olympus"',
            "unknown timezone 'Mars/Olympus'",
        ),
        ('name = "a"\ncron = "0 2 * * *"\ntimezone = "../../etc/passwd"', "unknown timezone"),
        ('name = "a"\ncron = "0 2 * * *"\ncolour = "red"', "unknown key 'colour'"),
        ('name = "a"\ncron = "0 2 * * *"\nenabled = "yes"', "enabled must be true or false"),
        ('name = "a"\ncron = "0 2 * * *"\nevent = "Not A Type"', "event: invalid event type"),
        ('name = "a"\ncron = "0 2 * * *"\ndata = { a = 1 }', "data needs an event type"),
        (
            'name = "a"\ncron = "0 2 * * *"\nevent = "custom"\ndata = { when = 1979-05-27 }',
            "JSON values only",
        ),
        ('name = "bad name!"\ncron = "0 2 * * *"', "invalid schedule name 'bad name!'"),
        ('cron = "0 2 * * *"', "entry 1: needs a name"),
        ('name = "a"', "needs a cron"),
    ],
)
def test_each_bad_entry_is_one_line(home: Path, entry: str, expected: str) -> None:
    assert expected in error_for(home, f"[[schedules]]\n{entry}\n")


def test_a_duplicate_name_is_refused(home: Path) -> None:
    twice = '[[schedules]]\nname = "a"\ncron = "0 2 * * *"\n' * 2
    assert "entry 2: duplicate name 'a'" in error_for(home, twice)


def test_the_second_bad_entry_is_named(home: Path) -> None:
    text = GOOD + '\n[[schedules]]\nname = "third"\ncron = "0 25 * * *"\n'
    assert "entry 3 ('third'): invalid cron expression '0 25 * * *': Bad hour" in error_for(
        home, text
    )


def test_schedules_must_be_an_array_of_tables(home: Path) -> None:
    assert "array of tables" in error_for(home, '[schedules]\nname = "a"\n')


# -- hostile input: never anything but a one-line ConfigError -------------------------------

CRON_PIECES = st.sampled_from(
    [
        "*",
        "*/5",
        "0",
        "59",
        "60",
        "1-5",
        "5-1",
        "L",
        "LW",
        "MON#5",
        "5L",
        "JAN",
        "?",
        ",",
        "-",
        "/",
        "#",
        "W",
        "0-59/0",
        "99999999999999999999",
        "\x00",
        "\u0663",
        "ß",
        " ",
        "\t",
        "\n",
        "[b]",
    ]
)
CRONS = st.one_of(
    st.text(max_size=80),
    st.lists(CRON_PIECES, min_size=1, max_size=8).map(" ".join),
    st.lists(
        st.lists(CRON_PIECES, min_size=1, max_size=3).map("".join), min_size=5, max_size=6
    ).map(" ".join),
)


@hsettings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(CRONS)
def test_any_cron_string_is_accepted_or_one_line(expr: str) -> None:
    try:
        check_cron(expr)
    except ConfigError as exc:
        assert "\n" not in str(exc)
        return
    # Accepted: it fires, in UTC and in a zone with DST.
    for zone in ("UTC", "Europe/Berlin"):
        assert next(fires_after(ScheduleSpec("x", expr, timezone=zone), 1.8e9), None) is not None


@hsettings(max_examples=300, deadline=None)
@given(st.one_of(st.text(max_size=100), st.integers(), st.none(), st.lists(st.text(max_size=3))))
def test_any_name_or_timezone_is_accepted_or_one_line(value: Any) -> None:
    for check in (check_name, check_timezone):
        try:
            check(value)
        except ConfigError as exc:
            assert "\n" not in str(exc)


@hsettings(max_examples=200, deadline=None)
@given(
    st.dictionaries(
        st.sampled_from(
            ["name", "cron", "timezone", "enabled", "event", "data", "workflow_name", "x"]
        ),
        st.one_of(
            st.text(max_size=30),
            st.booleans(),
            st.integers(),
            st.none(),
            st.dictionaries(st.text(max_size=5), st.integers(), max_size=2),
        ),
    )
)
def test_any_entry_is_accepted_or_one_line(raw: dict[str, Any]) -> None:
    try:
        parse_entry(raw, "/x/config.toml", 1)
    except ConfigError as exc:
        assert "\n" not in str(exc) and str(exc).startswith("/x/config.toml [[schedules]] entry 1")
