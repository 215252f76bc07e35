"""model/policy.py: the one place a hook's policy is checked. Its dict round-trips, each
bad value is one PolicyError line naming the setting, and the parsers take hostile text
(markup, control characters, huge, unicode) without any other exception."""

from __future__ import annotations

import json
import math
from types import SimpleNamespace
from typing import Any

import pytest
from hostile import SAMPLES, hostile_text
from hypothesis import given, settings
from hypothesis import strategies as st

from sloth_tui.model.policy import (
    MAX_ATTEMPTS,
    MISSING_KEY,
    NO_POLICY,
    HookPolicy,
    PolicyError,
    Retry,
    Throttle,
    check_key,
    format_seconds,
    parse_seconds,
    parse_throttle,
    parse_when,
)
from sloth_tui.model.records import Hook

FULL = {
    "when": "service=payments !src:demo",
    "mode": "single",
    "key": "data.service",
    "retry": {"attempts": 3, "delay": 2.0, "backoff": 1.5, "on_failed": True},
    "throttle": {"count": 5, "window": 60.0},
    "dedupe": 600.0,
    "auto_disable": 20,
}


def test_round_trip_full_and_empty() -> None:
    policy = HookPolicy.from_dict(FULL)
    assert policy.to_dict() == FULL
    assert HookPolicy.from_dict(json.loads(json.dumps(policy.to_dict()))) == policy
    assert policy.retry == Retry(3, 2.0, 1.5, True)
    assert policy.throttle == Throttle(5, 60.0)
    assert policy.condition is not None and len(policy.condition.terms) == 2
    assert not policy.is_default and policy.gated
    assert HookPolicy.from_dict({}) is not None and HookPolicy.from_dict({}).is_default
    assert HookPolicy.from_dict(None) is NO_POLICY and NO_POLICY.to_dict() == {}
    assert NO_POLICY.describe() == [] and not NO_POLICY.gated


def test_text_durations_and_defaults() -> None:
    policy = HookPolicy.from_dict(
        {
            "retry": {"attempts": 1, "delay": "1m30s"},
            "throttle": {"count": 2, "window": "10m"},
            "dedupe": "1h",
        }
    )
    assert policy.retry == Retry(1, 90.0, 2.0, False)
    assert policy.throttle == Throttle(2, 600.0)
    assert policy.dedupe == 3600.0
    assert policy.to_dict()["retry"] == {
        "attempts": 1, "delay": 90.0, "backoff": 2.0, "on_failed": False
    }  # fmt: skip


def test_hook_record_carries_the_policy() -> None:
    hook = Hook("h", ["a.b"], "/x.lua", policy=HookPolicy.from_dict(FULL), disabled_reason="r")
    back = Hook.from_dict(json.loads(json.dumps(hook.to_dict())))
    assert back.policy == hook.policy and back.disabled_reason == "r"
    assert Hook.from_dict(Hook("h", ["a.b"], "/x.lua").to_dict()).policy.is_default


def test_describe_lines() -> None:
    lines = HookPolicy.from_dict(FULL).describe()
    assert lines == [
        "when service=payments !src:demo",
        "mode single per data.service",
        "retry 3x after 2s, x1.5, failed too",
        "throttle 5/1m per data.service",
        "dedupe 10m per data.service",
        "auto-disable after 20 failures in a row",
    ]


def test_retry_delays_and_statuses() -> None:
    retry = Retry(5, 1.0, 2.0)
    assert [retry.delay_before(n) for n in (2, 3, 4)] == [1.0, 2.0, 4.0]
    assert Retry(10, 3000.0, 10.0).delay_before(10) == 3600.0  # capped
    assert retry.retries("error") and retry.retries("timeout")
    assert not retry.retries("failed") and Retry(1, on_failed=True).retries("failed")
    assert not retry.retries("success") and not retry.retries("skipped")


def test_key_value_and_failing_term() -> None:
    policy = HookPolicy(when="service=payments", key="data.svc.name")
    event = SimpleNamespace(
        data={"svc": {"name": "pay"}, "service": "payments"}, type="a.b", source="x"
    )
    assert policy.key_value(event) == "pay"
    assert policy.key_value(SimpleNamespace(data={"svc": "flat"})) == MISSING_KEY
    assert HookPolicy(key="data.n").key_value(SimpleNamespace(data={"n": [1, 2]})) == "[1,2]"
    assert HookPolicy().key_value(event) == ""


# Every refusal: the setting's name in one line.
REFUSED: list[tuple[Any, str]] = [
    ([], "a hook's policy is a table of settings, not a list"),
    ("single", "not text"),
    ({"bogus": 1}, "unknown policy setting 'bogus'"),
    ({"when": 3}, "when: a condition is text, not int"),
    ({"when": "since:1h"}, "when: since: is about the moment"),
    ({"when": "status:failed"}, "when: status:"),
    ({"when": "hook:x"}, "when: hook:"),
    ({"when": "id:4"}, "when: id:"),
    ({"when": "x" * 1001}, "when: a condition is at most 1000 characters"),
    ({"mode": 1}, "mode: one of parallel"),
    ({"mode": "serial"}, "mode: 'serial' is not a mode"),
    ({"key": 1}, "key: a data path like data.service, not int"),
    ({"key": "service"}, "key: 'service' is not a data path"),
    ({"key": "data."}, "is not a data path"),
    ({"key": "data"}, "is not a data path"),
    ({"key": "data.a b"}, "has spaces or control characters"),
    ({"key": "data.a\x1b"}, "has spaces or control characters"),
    ({"key": "data." + "a" * 300}, "key: a data path is at most 200 characters"),
    ({"retry": 3}, "retry: a table (attempts, delay, backoff), not int"),
    ({"retry": {}}, "retry: attempts is missing"),
    ({"retry": {"attempts": 0}}, "retry attempts: a whole number from 1 to 10, not 0"),
    ({"retry": {"attempts": 11}}, "retry attempts: a whole number from 1 to 10, not 11"),
    ({"retry": {"attempts": 1.5}}, "retry attempts: a whole number"),
    ({"retry": {"attempts": True}}, "retry attempts: a number, not true/false"),
    ({"retry": {"attempts": "3"}}, "retry attempts: a number, not text"),
    ({"retry": {"attempts": math.nan}}, "retry attempts: a finite number"),
    ({"retry": {"attempts": 1, "delay": -1}}, "retry delay: from 0 to 1h"),
    ({"retry": {"attempts": 1, "delay": 3601}}, "retry delay: from 0 to 1h"),
    ({"retry": {"attempts": 1, "delay": "soon"}}, "retry delay: 'soon' is not a duration"),
    ({"retry": {"attempts": 1, "backoff": 0.5}}, "retry backoff: a factor from 1 to 10"),
    ({"retry": {"attempts": 1, "backoff": 11}}, "retry backoff: a factor from 1 to 10"),
    ({"retry": {"attempts": 1, "on_failed": "yes"}}, "retry on_failed: true or false"),
    ({"throttle": "5/1m"}, "throttle: a table (count, window), not text"),
    ({"throttle": {"count": 5}}, "throttle: needs count and window"),
    ({"throttle": {"count": 0, "window": 60}}, "throttle count: a whole number from 1"),
    ({"throttle": {"count": 5, "window": 0}}, "throttle window: a window from 1ms to 7d"),
    ({"throttle": {"count": 5, "window": 8 * 86400}}, "throttle window: a window"),
    ({"dedupe": -1}, "dedupe: a window from 1ms to 7d"),
    ({"dedupe": "1e999"}, "dedupe: a finite number"),
    ({"dedupe": [1]}, "dedupe: a number, not a list"),
    ({"auto_disable": 0}, "auto_disable: a whole number from 1 to 1000000, not 0"),
    ({"auto_disable": 10**7}, "auto_disable: a whole number from 1 to 1000000"),
    ({"auto_disable": None, "dedupe": math.inf}, "dedupe: a finite number, not inf"),
]


@pytest.mark.parametrize(("value", "message"), REFUSED)
def test_every_refusal_is_one_line(value: Any, message: str) -> None:
    with pytest.raises(PolicyError) as caught:
        HookPolicy.from_dict(value)
    text = str(caught.value)
    assert message in text and "\n" not in text


def test_dataclass_checks_mode_key_and_when() -> None:
    with pytest.raises(PolicyError, match="mode"):
        HookPolicy(mode="later")
    with pytest.raises(PolicyError, match="key"):
        HookPolicy(key="nope")
    with pytest.raises(PolicyError, match="when"):
        HookPolicy(when="until:1h")


def test_parse_throttle_and_seconds() -> None:
    assert parse_throttle("5/1m") == Throttle(5, 60.0)
    assert parse_throttle(" 1/30 ") == Throttle(1, 30.0)
    assert parse_throttle("off") is None and parse_throttle("") is None
    for bad, message in (
        ("5", "is not COUNT/WINDOW"),
        ("x/1m", "is not a whole number"),
        ("5/", "throttle window: .. is not a duration"),
        ("5/0", "a window"),
    ):
        with pytest.raises(PolicyError, match=message):
            parse_throttle(bad)
    assert parse_seconds("d", "1.5") == 1.5 and parse_seconds("d", 2) == 2.0
    assert parse_seconds("d", "1h30m") == 5400.0 and parse_seconds("d", " 10m ") == 600.0
    assert check_key("") == "" and parse_when("  ") is None


def test_format_seconds() -> None:
    assert [format_seconds(s) for s in (0.25, 1, 30, 1.5, 60, 90, 3600, 86400 + 60)] == [
        "250ms", "1s", "30s", "1.5s", "1m", "1m30s", "1h", "1d1m"
    ]  # fmt: skip


def test_long_text_is_cut_in_messages() -> None:
    with pytest.raises(PolicyError) as caught:
        HookPolicy.from_dict({"mode": "\x1b[2J" + "m" * 5000})
    text = str(caught.value)
    assert len(text) < 200 and "\x1b" not in text and "…" in text


# -- hostile input: a value or one PolicyError line, never another exception ----------------


def _one_line_or_value(fn: Any, *args: Any) -> Any:
    try:
        return fn(*args)
    except PolicyError as exc:
        text = str(exc)
        assert text and "\n" not in text and "\x1b" not in text, text
        return None


@settings(max_examples=300, deadline=None)
@given(hostile_text())
def test_parse_when_hostile(text: str) -> None:
    _one_line_or_value(parse_when, text)


@settings(max_examples=300, deadline=None)
@given(hostile_text())
def test_check_key_hostile(text: str) -> None:
    key = _one_line_or_value(check_key, text)
    if key:  # accepted: a printable data path
        assert key.startswith("data.") and key.isprintable()
    _one_line_or_value(check_key, "data." + text)


@settings(max_examples=300, deadline=None)
@given(st.one_of(hostile_text(), st.from_regex(r"\A-?[0-9]{0,400}(/[0-9.e+-]{0,30}[smhdw]?)?\Z")))
def test_parse_throttle_hostile(text: str) -> None:
    throttle = _one_line_or_value(parse_throttle, text)
    if throttle is not None:
        assert throttle.count >= 1 and 0 < throttle.window <= 7 * 86400


@settings(max_examples=300, deadline=None)
@given(
    st.one_of(
        hostile_text(),
        st.from_regex(r"\A[0-9.eE+-]{0,400}[smhdw]?\Z"),
        st.floats(allow_nan=True, allow_infinity=True),
        st.integers(),
        st.booleans(),
        st.none(),
        st.lists(st.integers(), max_size=2),
    )
)
def test_parse_seconds_hostile(value: Any) -> None:
    seconds = _one_line_or_value(parse_seconds, "delay", value)
    if seconds is not None:
        assert math.isfinite(seconds)


@settings(max_examples=200, deadline=None)
@given(
    st.dictionaries(
        st.sampled_from(["when", "mode", "key", "retry", "throttle", "dedupe", "auto_disable"]),
        st.one_of(
            hostile_text(40),
            st.integers(-5, 50),
            st.floats(allow_nan=True),
            st.none(),
            st.booleans(),
            st.dictionaries(
                st.sampled_from(["attempts", "delay", "backoff", "on_failed", "count", "window"]),
                st.one_of(st.integers(-2, 20), hostile_text(10), st.floats(allow_nan=True)),
            ),
        ),
    )
)
def test_from_dict_hostile_round_trips_when_accepted(value: dict[str, Any]) -> None:
    policy = _one_line_or_value(HookPolicy.from_dict, value)
    if policy is not None:
        assert HookPolicy.from_dict(json.loads(json.dumps(policy.to_dict()))) == policy
        assert all("\n" not in line or "when" in line for line in policy.describe())


def test_hostile_samples_whole() -> None:
    for sample in SAMPLES:
        for fn in (parse_when, check_key, parse_throttle):
            _one_line_or_value(fn, sample)
        _one_line_or_value(parse_seconds, "delay", sample)
    assert MAX_ATTEMPTS == 10
