"""`--nats URL` and `[nats] url`: the servers an engine joins through (fleet/settings.py
parse_servers). Each refusal is one line an operator can act on, the URL shown escaped;
whatever the text, a tuple or ValueError, never another exception."""

from __future__ import annotations

from pathlib import Path

import pytest
from hostile import hostile_text
from hypothesis import given
from hypothesis import strategies as st

from sloth_tui.config import ConfigError, load_settings
from sloth_tui.fleet.settings import fleet_settings, parse_servers


@pytest.mark.parametrize(
    ("text", "servers"),
    [
        ("nats://127.0.0.1:4222", ("nats://127.0.0.1:4222",)),
        ("nats://h", ("nats://h:4222",)),  # the NATS port when none is named
        ("tls://h:7422/", ("tls://h:7422",)),
        ("nats://[::1]", ("nats://[::1]:4222",)),
        (" nats://a , nats://b:7 ", ("nats://a:4222", "nats://b:7")),
    ],
)
def test_servers_read(text: str, servers: tuple[str, ...]) -> None:
    assert parse_servers(text) == servers


@pytest.mark.parametrize(
    ("text", "said"),
    [
        ("nats://h:42[2", "brackets are for an IPv6 address only, as in nats://[::1]:4222"),
        ("nats://h:99999", "the port is a number from 1 to 65535"),
        ("nats://h:port", "the port is a number from 1 to 65535"),
        ("nats://h:0", "the port is a number from 1 to 65535"),
        ("nats://h:4222\x1b[2J", "a URL has no spaces or control characters"),
        ("nats://my host", "a URL has no spaces or control characters"),
        ("nats://h\u202e:4222", "a URL has no spaces or control characters"),
        ("http://h:4222", "the scheme is nats:// or tls://, as in nats://127.0.0.1:4222"),
        ("nats://:4222", "no host"),
        ("nats://h:4222/x", "a server URL has no path or query"),
        ("nats://a:1,,nats://b:2", "'': an empty server between commas"),
        ("nats://a:1,nats://b:0", "'nats://b:0': the port is a number from 1 to 65535"),
        ("", "expected a URL such as nats://127.0.0.1:4222"),
    ],
)
def test_each_refusal_says_what_to_change(text: str, said: str) -> None:
    with pytest.raises(ValueError) as refused:
        parse_servers(text)
    assert str(refused.value) == said


def test_the_flag_names_itself_and_shows_the_url_escaped() -> None:
    settings = load_settings(Path("/nonexistent-sloth-home"))
    with pytest.raises(ConfigError) as refused:
        fleet_settings(settings, "nats://h:4222\x1b[2J")
    assert str(refused.value) == (
        "--nats 'nats://h:4222\\x1b[2J': a URL has no spaces or control characters"
    )


@given(st.one_of(hostile_text(), st.builds("nats://{}:{}".format, hostile_text(), hostile_text())))
def test_any_text_is_servers_or_one_line(text: str) -> None:
    try:
        servers = parse_servers(text)
    except ValueError as exc:
        said = str(exc)
        assert said.isprintable() and len(said) < 4 * len(text) + 200
    else:
        assert servers and all(s.startswith(("nats://", "tls://")) for s in servers)
        assert all(s.isprintable() and " " not in s for s in servers)
