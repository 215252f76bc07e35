"""An empty --home is refused in one line: Path("") would be the current directory."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from click.testing import CliRunner

from sloth_tui.cli import main


@pytest.mark.parametrize(
    "args",
    [
        ["--home", "", "event", "list"],
        ["doctor", "--home", ""],
        ["serve", "--home", "", "--no-monitor"],
    ],
)
def test_an_empty_home_is_refused(
    args: list[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 2, result.output
    assert result.output.strip().splitlines() == [
        "error: --home is empty: name a data dir, or leave it out for the default"
    ]
    assert os.listdir(tmp_path) == []  # nothing was created in the current directory
