"""[[checks]] in config.toml: good entries parse with their defaults, each bad one is one
ConfigError line naming the file, the entry and the setting, and no string in the file
(control characters, unicode, huge) ever ends in a traceback."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import pytest
from hostile import SAMPLES, hostile_text
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sloth_tui.config import ConfigError, load_settings
from sloth_tui.sources.check_config import (
    CheckSettings,
    check_host,
    check_url,
    load_checks,
    parse_checks,
)
from sloth_tui.sources.checks import check_sources
from sloth_tui.sources.options import SourceOptions
from sloth_tui.sources.watchconf import toml_string

WHERE = "/etc/sloth/config.toml"


def one(**entry: Any) -> CheckSettings:
    return parse_checks([entry], WHERE)[0]


def error_of(*entries: Any) -> str:
    with pytest.raises(ConfigError) as caught:
        parse_checks(list(entries), WHERE)
    message = str(caught.value)
    assert "\n" not in message and "\r" not in message
    assert message.startswith(f"{WHERE} [[checks]]")
    return message


def test_each_kind_parses_with_its_defaults() -> None:
    http = one(name="api", kind="http", url="http://127.0.0.1:8080/healthz")
    assert (http.kind, http.service, http.interval, http.timeout, http.failures) == (
        "http",
        "api",
        30.0,
        5.0,
        1,
    )
    assert http.expect_status == 200 and not http.follow_redirects and http.body_contains == ""
    assert http.slow_ms == 2500  # half the timeout
    tcp = one(name="db", kind="tcp", host="::1", port=5432, service="postgres", slow_ms=0)
    assert (tcp.target, tcp.service, tcp.slow_ms) == ("[::1]:5432", "postgres", 0)
    dns = one(name="n", kind="dns", host="localhost", timeout=2)
    assert (dns.target, dns.slow_ms) == ("localhost", 1000)
    assert parse_checks(None, WHERE) == ()


def test_as_dict_holds_only_the_settings_of_its_kind() -> None:
    tcp = one(name="db", kind="tcp", host="db.internal", port=5432).as_dict()
    assert "url" not in tcp and "expect_status" not in tcp
    assert tcp["target"] == "db.internal:5432" and tcp["port"] == 5432


@pytest.mark.parametrize(
    ("entry", "expected"),
    [
        ({"name": "a", "kind": "ping", "host": "x"}, "(a): kind = 'ping' is unknown (known: http"),
        ({"name": "a", "host": "x"}, "(a): kind is missing"),
        ({"kind": "dns", "host": "x"}, "entry 1: name is missing"),
        ({"name": "a b", "kind": "dns", "host": "x"}, "name = 'a b' is not valid"),
        ({"name": "a", "kind": "http", "url": "ftp://x/"}, "must start with http:// or https://"),
        ({"name": "a", "kind": "http", "url": "http:///path"}, "has no host"),
        ({"name": "a", "kind": "http", "url": "http://h:99999/"}, "is not a valid URL"),
        ({"name": "a", "kind": "http", "url": "http://h:x/"}, "is not a valid URL"),
        ({"name": "a", "kind": "http", "url": "http://u:p@h/"}, "must not hold credentials"),
        ({"name": "a", "kind": "http", "url": "http://h/a b"}, "spaces or control characters"),
        ({"name": "a", "kind": "http", "url": "http://h/\x1b[2J"}, "spaces or control"),
        ({"name": "a", "kind": "http", "url": "http://héllo/"}, "must be ASCII"),
        ({"name": "a", "kind": "http", "url": 5}, "url = 5 must be a string"),
        ({"name": "a", "kind": "http"}, "(a): a http check needs url"),
        ({"name": "a", "kind": "tcp", "host": "h"}, "a tcp check needs port"),
        ({"name": "a", "kind": "tcp", "host": "h", "port": 0}, "port = 0 must be a number from 1"),
        ({"name": "a", "kind": "tcp", "host": "h", "port": 70000}, "port = 70000 must be"),
        ({"name": "a", "kind": "tcp", "host": "h", "port": 80.5}, "port = 80.5 must be a whole"),
        ({"name": "a", "kind": "tcp", "host": "h", "port": "80"}, "port = '80' must be a number"),
        ({"name": "a", "kind": "tcp", "host": "h", "port": True}, "port = True must be a number"),
        ({"name": "a", "kind": "tcp", "host": "a..b", "port": 1}, "is not a valid host name"),
        ({"name": "a", "kind": "dns", "host": "-x.example"}, "is not a valid host name"),
        ({"name": "a", "kind": "dns", "host": ""}, "host = '' is empty"),
        ({"name": "a", "kind": "dns", "host": "x" * 300}, "is longer than 253 characters"),
        ({"name": "a", "kind": "dns", "host": "h", "interval": -5}, "interval = -5 must be"),
        ({"name": "a", "kind": "dns", "host": "h", "interval": 0}, "interval = 0 must be"),
        ({"name": "a", "kind": "dns", "host": "h", "interval": math.nan}, "interval = nan"),
        ({"name": "a", "kind": "dns", "host": "h", "timeout": 0}, "timeout = 0 must be"),
        ({"name": "a", "kind": "dns", "host": "h", "failures": 0}, "failures = 0 must be"),
        ({"name": "a", "kind": "dns", "host": "h", "slow_ms": -1}, "slow_ms = -1 must be"),
        ({"name": "a", "kind": "dns", "host": "h", "slow_ms": 5000}, "must be below the timeout"),
        ({"name": "a", "kind": "dns", "host": "h", "enabled": "yes"}, "must be true or false"),
        ({"name": "a", "kind": "dns", "host": "h", "service": ""}, "must be one line of text"),
        ({"name": "a", "kind": "dns", "host": "h", "service": "a\nb"}, "must be one line"),
        ({"name": "a", "kind": "dns", "host": "h", "hots": 1}, "'hots' is an unknown setting"),
        ({"name": "a", "kind": "dns", "host": "h", "port": 53}, "'port' is not a setting of a dns"),
        ({"name": "a", "kind": "tcp", "host": "h", "port": 1, "url": "http://h/"}, "of a tcp"),
        (
            {"name": "a", "kind": "http", "url": "http://h/", "expect_status": 99},
            "expect_status = 99 must be a number from 100 to 599",
        ),
    ],
)
def test_a_bad_entry_is_one_line_naming_entry_and_setting(
    entry: dict[str, Any], expected: str
) -> None:
    assert expected in error_of(entry)


def test_duplicate_names_and_a_plain_table_are_refused() -> None:
    dns = {"name": "a", "kind": "dns", "host": "h"}
    assert "entry 2 (a): another check has this name" in error_of(dns, dict(dns))
    with pytest.raises(ConfigError, match=r"write each check as \[\[checks\]\]"):
        parse_checks({"name": "a"}, WHERE)
    assert "entry 2: must be a table" in error_of(dns, "oops")


def test_a_huge_or_hostile_value_stays_a_short_line() -> None:
    message = error_of({"name": "a", "kind": "dns", "host": "h", "service": "\x1b[2J" * 5000})
    assert len(message) < 300 and "\x1b" not in message
    message = error_of({"name": "a", "kind": "\u202e" + "x" * 100_000, "host": "h"})
    assert len(message) < 300 and "\u202e" not in message


def test_the_config_file_is_read_and_named(tmp_path: Path) -> None:
    home = tmp_path / "home"
    home.mkdir()
    (home / "config.toml").write_text(
        '[[checks]]\nname = "web"\nkind = "http"\nurl = "http://127.0.0.1/"\n\n'
        '[[checks]]\nname = "db"\nkind = "tcp"\nhost = "127.0.0.1"\nport = 5432\n'
        "enabled = false\n"
    )
    settings = load_settings(home)
    assert [c.name for c in load_checks(settings)] == ["web", "db"]
    # serve runs the enabled ones; a dashboard's embedded engine runs none (as the monitor).
    serve = check_sources(settings, SourceOptions())
    assert [s.name for s in serve] == ["check:web"]
    assert check_sources(settings, SourceOptions.dashboard({}, None, None)) == []
    (home / "config.toml").write_text('[[checks]]\nname = "web"\nkind = "htp"\n')
    with pytest.raises(ConfigError) as caught:
        check_sources(load_settings(home), SourceOptions())
    assert str(caught.value).startswith(f"{home / 'config.toml'} [[checks]] entry 1 (web): kind")


# -- hostile strings ---------------------------------------------------------------------

_FIELDS = st.sampled_from(["name", "kind", "url", "host", "service", "body_contains", "port"])


@given(field=_FIELDS, value=st.one_of(hostile_text(), st.sampled_from(SAMPLES)))
@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_no_string_in_an_entry_is_a_traceback(field: str, value: str) -> None:
    base: dict[str, Any] = {
        "http": {"name": "a", "kind": "http", "url": "http://localhost/"},
        "dns": {"name": "a", "kind": "dns", "host": "localhost"},
    }["http" if field in ("url", "body_contains") else "dns"]
    try:
        parse_checks([{**base, field: value}], WHERE)
    except ConfigError as exc:
        assert "\n" not in str(exc) and len(str(exc)) < 400


@given(text=st.one_of(hostile_text(300), st.sampled_from(SAMPLES)))
@settings(max_examples=300, deadline=None)
def test_host_and_url_checks_answer_for_any_text(text: str) -> None:
    for problem in (check_host(text), check_url(text), check_url("http://" + text + "/")):
        assert problem is None or "\n" not in problem


@given(
    url=st.builds(
        lambda host, port, path: f"http://{host}:{port}/{path}",
        hostile_text(40),
        st.integers(-5, 70_000),
        hostile_text(40),
    )
)
@settings(max_examples=200, deadline=None)
def test_urls_built_from_hostile_parts_parse_or_are_refused(url: str) -> None:
    try:
        check = one(name="a", kind="http", url=url)
    except ConfigError as exc:
        assert "\n" not in str(exc)
        return
    assert check.url.isascii() and " " not in check.url  # what a request line can carry


def _encodable(text: str) -> bool:
    return not any(0xD800 <= ord(c) <= 0xDFFF for c in text)  # a file holds no surrogates


@given(value=hostile_text(80).filter(_encodable))
@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
def test_hostile_text_in_the_toml_file_is_one_line_too(tmp_path: Path, value: str) -> None:
    home = tmp_path / "h"
    home.mkdir(exist_ok=True)
    (home / "config.toml").write_text(
        f'[[checks]]\nname = {toml_string(value)}\nkind = "dns"\nhost = {toml_string(value)}\n',
        encoding="utf-8",
    )
    try:
        load_checks(load_settings(home))
    except ConfigError as exc:
        assert "\n" not in str(exc)
