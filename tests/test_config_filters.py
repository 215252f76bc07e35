"""`[filters]` in config.toml: named filters, each checked at load with a one-line error."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hostile import hostile_text
from hypothesis import given, settings
from hypothesis import strategies as st

from sloth_tui.config import ConfigError, load_settings


def _load(home: Path, toml: str) -> tuple[tuple[str, str], ...]:
    home.mkdir(parents=True, exist_ok=True)
    (home / "config.toml").write_text(toml, encoding="utf-8")
    return load_settings(home).filters


def test_saved_filters_load_in_order(tmp_path: Path) -> None:
    toml = '[filters]\nfailed = "status:failed"\nrecent-deploys = "since:1h type:deploy.*"\n'
    assert _load(tmp_path, toml) == (
        ("failed", "status:failed"),
        ("recent-deploys", "since:1h type:deploy.*"),
    )


@pytest.mark.parametrize(
    ("toml", "says"),
    [
        ('[filters]\nbad = "type:"\n', "[filters]: bad: incomplete term 'type:'"),
        ('[filters]\nbad = "since:soon"\n', "[filters]: bad: since: 'soon' is not"),
        ("[filters]\nbad = 3\n", "bad must be a string"),
        ('[filters]\n"a b" = "x"\n', "'a b' is not a filter name"),
        ('filters = "x"\n', "[filters]: must be a table"),
    ],
)
def test_bad_saved_filters_are_one_line_errors(tmp_path: Path, toml: str, says: str) -> None:
    with pytest.raises(ConfigError) as caught:
        _load(tmp_path, toml)
    assert says in str(caught.value) and "\n" not in str(caught.value)


@settings(max_examples=80, deadline=None)
@given(st.one_of(hostile_text(30), st.just("x")), hostile_text(60))
def test_hostile_saved_filters_load_or_refuse_in_one_line(
    tmp_path_factory: pytest.TempPathFactory, name: str, text: str
) -> None:
    home = tmp_path_factory.mktemp("cfg")
    try:
        toml = f"[filters]\n{json.dumps(name)} = {json.dumps(text)}\n"
    except ValueError:
        return
    try:
        saved = _load(home, toml)
    except ConfigError as exc:
        assert "\n" not in str(exc)
    else:
        assert saved == ((name, text),)
