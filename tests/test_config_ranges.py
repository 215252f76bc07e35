"""Every number in config.toml (and the environment) is checked against its range at load:
one line naming the key, the value and the range; nothing starts on a bad value."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from sloth_tui.cli import main
from sloth_tui.config import RANGES, ConfigError, load_settings

BAD = [
    ("concurrency = 0", "concurrency"),
    ("concurrency = -1", "concurrency"),
    ("queue_size = 0", "queue_size"),
    ("max_depth = -1", "max_depth"),
    ("hook_timeout = 0", "hook_timeout"),
    ("hook_timeout = nan", "hook_timeout"),
    ("hook_timeout = inf", "hook_timeout"),
    ("hook_memory_mb = 0", "hook_memory_mb"),
    ("[retention]\nmax_events = 0", "max_events"),
    ("[retention]\nmax_events = -5", "max_events"),
]


@pytest.mark.parametrize(("toml", "key"), BAD)
def test_a_value_out_of_range_is_one_line(home: Path, toml: str, key: str) -> None:
    (home / "config.toml").write_text(toml + "\n")
    with pytest.raises(ConfigError, match=f"{key} = .* is out of range"):
        load_settings(home)
    result = CliRunner().invoke(main, ["--home", str(home), "event", "list"])
    assert result.exit_code == 1
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and key in lines[0]


def test_the_environment_is_checked_too(home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SLOTH_TUI_CONCURRENCY", "0")
    with pytest.raises(ConfigError, match="environment: concurrency = 0 is out of range"):
        load_settings(home)


def test_the_defaults_are_in_range(home: Path) -> None:
    settings = load_settings(home)
    for key in RANGES:
        value = getattr(settings, key)
        low, high = RANGES[key]
        assert low <= value <= high, key
