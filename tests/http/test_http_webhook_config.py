"""[[webhooks]] in config.toml: each bad value is one ConfigError line naming the file,
the entry and the key; hostile config never crashes the parser (issue 18)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from webhookkit import CONFIG, write_config

from sloth_tui.config import ConfigError
from sloth_tui.http.app import build_app
from sloth_tui.http.context import HttpContext
from sloth_tui.http.replies import Refusals
from sloth_tui.http.settings import HttpSettings
from sloth_tui.http.webhook_config import PRESETS, is_loopback, load_preset, parse_webhooks
from sloth_tui.http.webhook_mapping import SpecError, lookup, parse_path

WHERE = "/etc/sloth/config.toml"


def parse(raw: Any, host: str = "127.0.0.1", config_dir: Path = Path("/nonexistent")) -> Any:
    return parse_webhooks(raw, WHERE, config_dir=config_dir, listener_host=host)


def error_of(raw: Any, host: str = "127.0.0.1", config_dir: Path = Path("/nonexistent")) -> str:
    with pytest.raises(ConfigError) as info:
        parse(raw, host, config_dir)
    message = str(info.value)
    assert "\n" not in message and message.startswith(WHERE)
    return message


def test_the_shipped_presets_parse() -> None:
    for name in PRESETS:
        assert load_preset(name)  # the package data is there
        (hook,) = parse([{"name": name, "preset": name}])
        assert hook.source == f"webhook:{name}" and hook.mapping.cases


@pytest.mark.parametrize(
    ("entry", "expected"),
    [
        ({"name": "a/b", "event": "custom"}, "entry 1: name must be"),
        ({"name": "a\n", "event": "custom"}, "entry 1: name must be"),
        ({"name": "x", "event": "custom", "data": {"a\n": "payload.a"}}, "field name 'a\\n'"),
        ({"name": "x", "event": "custom", "colour": 1}, "entry 1 (x): unknown key 'colour'"),
        ({"name": "x", "preset": "gitlab"}, "entry 1 (x): preset must be one of alertmanager"),
        ({"name": "x"}, 'entry 1 (x): give event = "TYPE"'),
        ({"name": "x", "event": "deploy.faild"}, "event: unknown type deploy.faild: did you mean"),
        ({"name": "x", "event": "Bad Type"}, "event: invalid event type"),
        (
            {"name": "x", "event": "custom", "data": {"a": "body.a"}},
            "data.a: path 'body.a' must start with payload., item. or headers.",
        ),
        (
            {"name": "x", "event": "custom", "data": {"a": "item.a"}},
            "uses item, which needs each",
        ),
        ({"name": "x", "event": "custom", "data": {"a": "payload..a"}}, "has an empty key"),
        ({"name": "x", "event": "custom", "data": {"a": 3}}, "data.a: write a path"),
        (
            {"name": "x", "event": "custom", "data": {"a": {"path": "payload.a", "deflt": 1}}},
            "data.a: unknown key 'deflt'",
        ),
        ({"name": "x", "event": "custom", "data": {"a-b": "payload.a"}}, "field name 'a-b'"),
        ({"name": "x", "event": "custom", "each": "headers.x"}, "each: must be a path into"),
        ({"name": "x", "event": "custom", "source": "a\nb"}, "source must be one line"),
        (
            {"name": "x", "cases": [{"when": {"payload.a": {"b": 1}}, "event": "custom"}]},
            "cases[1].when: payload.a must equal",
        ),
        (
            {"name": "x", "cases": [{"ignore": True, "event": "custom"}]},
            "cases[1].ignore: a case that ignores takes no event",
        ),
        ({"name": "x", "event": "custom", "secret_file": "missing"}, "secret_file: cannot read"),
    ],
)
def test_a_bad_entry_is_one_line_naming_file_entry_and_key(entry: Any, expected: str) -> None:
    assert expected in error_of([entry])


def test_duplicate_names_and_a_table_instead_of_a_list() -> None:
    twice = [{"name": "a", "event": "custom"}, {"name": "a", "event": "custom"}]
    assert "entry 2 (a): another webhook has this name" in error_of(twice)
    assert "write each webhook as [[webhooks]]" in error_of({"name": "a"})


def test_off_loopback_a_webhook_needs_a_secret_or_a_token(tmp_path: Path) -> None:
    open_hook = [{"name": "open", "event": "custom"}]
    message = error_of(open_hook, host="0.0.0.0")
    assert "entry 1 (open): the listener is on 0.0.0.0, not loopback" in message
    assert parse(open_hook, host="::1") and parse(open_hook, host="localhost")
    (tmp_path / "token").write_text("0123456789abcdef-token\n")
    guarded = [{"name": "guarded", "event": "custom", "token_file": "token"}]
    (hook,) = parse(guarded, host="0.0.0.0", config_dir=tmp_path)  # relative: config dir
    assert hook.token == "0123456789abcdef-token"
    (tmp_path / "short").write_text("short\n")
    short = [{"name": "s", "event": "custom", "secret_file": str(tmp_path / "short")}]
    assert "shorter than 16 characters" in error_of(short)
    assert is_loopback("127.0.0.2") and not is_loopback("10.0.0.1")


def test_entry_keys_override_the_preset() -> None:
    entry = {
        "name": "am",
        "preset": "alertmanager",
        "source": "prometheus",
        "data": {"team": {"path": "item.labels.team", "default": "ops"}},
    }
    (hook,) = parse([entry])
    assert hook.source == "prometheus"
    (case,) = hook.mapping.cases
    names = [name for name, _ in case.data]
    assert names[0] == "name" and names[-1] == "team"  # the preset's fields, and the entry's


async def test_a_bad_entry_stops_build_app_before_anything_listens(engine: Any, home: Path) -> None:
    settings = write_config(home, CONFIG + '\n[[webhooks]]\nname = "bad"\nevent = "deploy.faild"\n')
    ctx = HttpContext(engine, settings, HttpSettings(), Refusals())
    with pytest.raises(ConfigError) as info:
        build_app(ctx)
    assert str(info.value).startswith(f"{home / 'config.toml'} [[webhooks]] entry 4 (bad): event:")


# Hostile config: any TOML-shaped value, anywhere, is a ConfigError or a parsed webhook.
_scalars = st.one_of(
    st.text(max_size=30),
    st.sampled_from(["payload", "item.x", "headers.X-A", "payload.a.0", "custom", "deploy.x"]),
    st.integers(),
    st.floats(),
    st.booleans(),
)
_values = st.recursive(
    _scalars,
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.dictionaries(
            st.sampled_from(["path", "default", "value", "a", "when", "event", "data", "x.y"])
            | st.text(max_size=8),
            inner,
            max_size=4,
        )
    ),
    max_leaves=12,
)
_keys = st.sampled_from(
    ["name", "preset", "source", "each", "event", "data", "cases", "secret_file", "token_file"]
) | st.text(max_size=8)
_entries = st.dictionaries(_keys, _values, max_size=6)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(raw=st.one_of(_values, st.lists(_entries, max_size=3)))
def test_hostile_config_is_a_config_error_or_a_webhook(raw: Any) -> None:
    try:
        hooks = parse(raw, host="0.0.0.0")
    except ConfigError as exc:
        assert "\n" not in str(exc)
    else:
        assert all(hook.secret or hook.token for hook in hooks)


@settings(max_examples=500, deadline=None)
@given(text=st.text(max_size=40) | st.from_regex(r"(payload|item|headers)(\.[^.]{0,6}){0,4}"))
def test_hostile_paths_parse_or_say_why_in_one_line(text: str) -> None:
    try:
        path = parse_path(text, allow_item=True)
    except SpecError as exc:
        assert "\n" not in str(exc)
    else:
        assert path.root in ("payload", "item", "headers") and all(path.keys)
        assert all(c >= " " and c != "\x7f" for c in path.text)
        lookup(path, {"a": [1]}, [2], {})  # looks up, never raises
