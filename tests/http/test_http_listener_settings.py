"""[http] and --http: parsed into HttpSettings, or a one-line ConfigError naming the file."""

from __future__ import annotations

import ipaddress
from pathlib import Path

import pytest
from hostile import hostile_text
from hypothesis import given
from hypothesis import strategies as st

from sloth_tui.config import ConfigError, load_settings
from sloth_tui.http.settings import HttpSettings, http_settings, parse_listen
from sloth_tui.sources.http_listener import http_sources
from sloth_tui.sources.options import SourceOptions

TOKEN = "t0ken-of-at-least-16-chars"


def settings_with(home: Path, text: str):  # type: ignore[no-untyped-def]
    (home / "config.toml").write_text(text)
    return load_settings(home)


def test_off_unless_asked(home: Path) -> None:
    assert http_settings(load_settings(home), None) is None
    s = settings_with(home, "[http]\nmax_body_kb = 10\n")
    assert http_settings(s, None) is None  # numbers alone do not switch it on


def test_flag_overrides_listen_and_defaults_hold(home: Path) -> None:
    s = settings_with(home, '[http]\nlisten = "127.0.0.1:9000"\n')
    assert http_settings(s, None) == HttpSettings(host="127.0.0.1", port=9000)
    got = http_settings(s, "[::1]:9001")
    assert got is not None and (got.host, got.port) == ("::1", 9001)
    assert got.url == "http://[::1]:9001"


def test_every_key(home: Path) -> None:
    (home / "http.token").write_text(TOKEN + "\n")
    s = settings_with(
        home,
        '[http]\nlisten = "0.0.0.0:8080"\ntoken_file = "http.token"\nmax_body_kb = 64\n'
        "request_timeout = 2.5\nmax_connections = 10\n",
    )
    assert http_settings(s, None) == HttpSettings(
        host="0.0.0.0",
        port=8080,
        token=TOKEN,
        max_body_bytes=64 * 1024,
        request_timeout=2.5,
        max_connections=10,
    )


@pytest.mark.parametrize(
    ("toml", "words"),
    [
        ('listen = "127.0.0.1:80"\nport = 1', "unknown setting 'port'"),
        ('listen = "nohost"', "expected HOST:PORT"),
        ('listen = "127.0.0.1:99999"', "port"),
        ('listen = "::1:80"', "brackets"),
        ("listen = 8080", "expected text"),
        ('listen = "127.0.0.1:80"\nmax_body_kb = 0', "max_body_kb = 0 is out of range"),
        ('listen = "127.0.0.1:80"\nmax_body_kb = true', "is not a whole number"),
        ('listen = "127.0.0.1:80"\nrequest_timeout = nan', "out of range"),
        ('listen = "127.0.0.1:80"\nrequest_timeout = "5"', "not a number of seconds"),
        ('listen = "127.0.0.1:80"\nmax_connections = 1000000', "out of range"),
        ('listen = "127.0.0.1:80"\ntoken_file = "missing.token"', "cannot read the token file"),
        ('listen = "10.1.2.3:80"', "needs a token"),
        ('listen = "example.org:80"', "needs a token"),
    ],
)
def test_bad_values_are_one_line_naming_file_and_table(home: Path, toml: str, words: str) -> None:
    s = settings_with(home, f"[http]\n{toml}\n")
    with pytest.raises(ConfigError) as info:
        http_settings(s, None)
    message = str(info.value)
    assert words in message
    assert "\n" not in message
    assert str(s.config_file) in message and "[http]" in message


def test_short_token_and_bad_flag(home: Path) -> None:
    (home / "short.token").write_text("short")
    s = settings_with(home, '[http]\ntoken_file = "short.token"\n')
    with pytest.raises(ConfigError, match="shorter than 16"):
        http_settings(s, "127.0.0.1:80")
    with pytest.raises(ConfigError, match="--http 'nonsense'"):
        http_settings(load_settings(home / "x"), "nonsense")


def test_off_loopback_needs_the_flag_and_a_token(home: Path) -> None:
    s = load_settings(home)
    with pytest.raises(ConfigError, match="needs a token"):
        http_settings(s, "0.0.0.0:8080")
    for loopback in ("127.0.0.1:1", "127.9.9.9:1", "[::1]:1", "localhost:1"):
        assert http_settings(s, loopback) is not None


def test_only_serve_listens(home: Path) -> None:
    s = load_settings(home)
    assert len(http_sources(s, SourceOptions(http="127.0.0.1:0"))) == 1
    assert http_sources(s, SourceOptions(role="dashboard", http="127.0.0.1:0")) == []
    assert http_sources(s, SourceOptions()) == []


hosts = st.one_of(
    st.ip_addresses(v=4).map(str),
    st.ip_addresses(v=6).map(lambda a: f"[{a}]"),
    st.sampled_from(["localhost", "example.org", "a", "host-1.lan"]),
)


@given(hosts, st.integers(0, 65535))
def test_listen_round_trips(host: str, port: int) -> None:
    got = parse_listen(f"{host}:{port}")
    assert got.port == port
    assert got.host == host.strip("[]")
    if got.host not in ("localhost", "example.org", "a", "host-1.lan"):
        assert got.loopback == ipaddress.ip_address(got.host).is_loopback


@given(st.one_of(hostile_text(60), st.binary(max_size=40).map(lambda b: b.decode("latin-1"))))
def test_listen_parser_takes_anything(text: str) -> None:
    """Hostile text is parsed or refused with ValueError; nothing else escapes."""
    try:
        got = parse_listen(text)
    except ValueError as exc:
        assert "\n" not in str(exc)
    else:
        assert 0 <= got.port <= 65535 and got.host
