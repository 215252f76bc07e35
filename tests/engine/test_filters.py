"""The filter language: parsing, in-memory matching, and SQL that agrees with it."""

from __future__ import annotations

import pytest

from sloth_tui.engine.filters import FilterError, parse_filter
from sloth_tui.engine.records import Event


def ev(**kw: object) -> Event:
    base = dict(
        id=7,
        type="deploy.failed",
        category="deploy",
        source="watcher:etc",
        status="failed",
        data={"service": "api", "n": 3, "ok": True, "agent": {"name": "a1"}},
    )
    base.update(kw)
    return Event(**base)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("type:deploy.*", True),
        ("type:task.*", False),
        ("cat:deploy", True),
        ("cat:security", False),
        ("src:watcher", True),
        ("src:watcher:etc", True),
        ("src:watch", False),
        ("status:failed", True),
        ("status:completed", False),
        ("service=api", True),
        ("service=web", False),
        ("n=3", True),
        ("ok=true", True),
        ("agent.name=a1", True),
        ("missing=1", False),
        ("api", True),
        ("zzz", False),
        ("!type:deploy.*", False),
        ("!cat:security", True),
        ("type:deploy.* service=api", True),
        ("type:deploy.* service=web", False),
        ("id:7", True),
        ("hook:alert", True),
        ("hook:other", False),
        ("", True),
    ],
)
def test_matches(text: str, expected: bool) -> None:
    assert parse_filter(text).matches(ev(), hooks={"alert"}) is expected


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("status:weird", "unknown status"),
        ("type:", "needs a value"),
        ("!", "must be followed"),
        ("color:red", "unknown filter key"),
        ("'unclosed", "filter:"),
        ("id:abc", "needs a number"),
        ("=3", "bad field name"),
    ],
)
def test_malformed_filters_explain_themselves(text: str, message: str) -> None:
    with pytest.raises(FilterError, match=message):
        parse_filter(text)


def test_empty_filter_sql() -> None:
    assert parse_filter("").to_sql() == ("1", [])
