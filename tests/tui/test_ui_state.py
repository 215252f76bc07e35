"""The dashboard's state file: atomic, 0600, forgiving of a mangled file, keeps unknown keys."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import pytest
from hostile import hostile_json, hostile_text
from hypothesis import given, settings
from hypothesis import strategies as st

from sloth_tui.tui.ui_state import (
    MAX_HISTORY,
    STATE_FILE,
    UiState,
    load_state,
    remember_filter,
    save_state,
    update_state,
)


def test_round_trip_is_0600_whatever_the_umask(tmp_path: Path) -> None:
    old = os.umask(0)
    try:
        save_state(tmp_path, UiState(filter_history=["a", "b"], theme="sloth-light", split=True))
    finally:
        os.umask(old)
    path = tmp_path / STATE_FILE
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    state = load_state(tmp_path)
    assert state.filter_history == ["a", "b"] and state.theme == "sloth-light" and state.split
    assert [p.name for p in tmp_path.iterdir()] == [STATE_FILE]  # no temporary left


def test_update_changes_only_what_it_is_given(tmp_path: Path) -> None:
    (tmp_path / STATE_FILE).write_text(json.dumps({"theme": "x", "future_key": [1, 2]}))
    update_state(tmp_path, filter_history=["cat:file"])
    raw = json.loads((tmp_path / STATE_FILE).read_text())
    assert raw["theme"] == "x" and raw["future_key"] == [1, 2]
    assert raw["filter_history"] == ["cat:file"]


@pytest.mark.parametrize(
    "text",
    ["", "{", "[]", "null", '{"filter_history": "x"}', '{"split": 1, "theme": 3}', "\xff"],
)
def test_a_mangled_file_gives_defaults(tmp_path: Path, text: str) -> None:
    (tmp_path / STATE_FILE).write_text(text, encoding="latin-1")
    state = load_state(tmp_path)
    assert state.filter_history == [] and state.split is None and state.theme is None


@settings(max_examples=60, deadline=None)
@given(st.dictionaries(hostile_text(20), hostile_json(), max_size=6))
def test_hostile_state_files_load(tmp_path_factory: pytest.TempPathFactory, raw: dict) -> None:
    home = tmp_path_factory.mktemp("state")
    (home / STATE_FILE).write_text(json.dumps(raw))
    state = load_state(home)
    assert all(isinstance(h, str) for h in state.filter_history)
    save_state(home, state)  # whatever was read can be written back
    assert load_state(home) == state


def test_history_moves_repeats_to_the_end_and_is_bounded() -> None:
    history: list[str] = []
    for i in range(MAX_HISTORY + 10):
        history = remember_filter(history, f"f{i}")
    history = remember_filter(history, f"f{MAX_HISTORY}")
    assert len(history) == MAX_HISTORY and history[-1] == f"f{MAX_HISTORY}"
    assert history.count(f"f{MAX_HISTORY}") == 1
    assert remember_filter(["a"], "   ") == ["a"]
