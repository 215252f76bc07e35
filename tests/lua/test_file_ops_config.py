"""`[sandbox] file_roots`: the default (files/ in the data dir and the system temp
dir), roots resolved at load, and one-line errors for what cannot be a root."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import pytest

from sloth_tui.config import ConfigError, load_settings
from sloth_tui.engine.bus import Bus
from sloth_tui.engine.hook_admin import HookRegistry


def write_config(home: Path, text: str) -> None:
    home.mkdir(exist_ok=True)
    (home / "config.toml").write_text(text, encoding="utf-8")


def test_the_default_roots(tmp_path: Path) -> None:
    settings = load_settings(home=tmp_path)
    assert settings.file_roots == (
        str(tmp_path.resolve() / "files"),
        os.path.realpath(tempfile.gettempdir()),
    )


def test_configured_roots_replace_the_default_and_are_resolved(tmp_path: Path) -> None:
    real = tmp_path / "real"
    real.mkdir()
    (tmp_path / "alias").symlink_to(real, target_is_directory=True)
    write_config(tmp_path, f'[sandbox]\nfile_roots = ["{tmp_path}/alias", "{tmp_path}/later"]\n')
    settings = load_settings(home=tmp_path)
    assert settings.file_roots == (str(real.resolve()), str((tmp_path / "later").resolve()))


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ('file_roots = "/srv"', "file_roots must be a list of paths"),
        ('file_roots = ["relative/dir"]', "is not an absolute path"),
        ('file_roots = ["/"]', "would open the whole filesystem"),
        ('file_roots = ["{file}"]', "is not a directory"),
        ('roots = ["/srv"]', "unknown setting 'roots'"),
    ],
)
def test_bad_roots_are_one_line_errors(tmp_path: Path, value: str, message: str) -> None:
    a_file = tmp_path / "a_file"
    a_file.write_text("x")
    write_config(tmp_path, "[sandbox]\n" + value.replace("{file}", str(a_file)) + "\n")
    with pytest.raises(ConfigError) as info:
        load_settings(home=tmp_path)
    assert message in str(info.value) and "\n" not in str(info.value)
    assert "[sandbox]" in str(info.value)


def test_the_engine_gives_hook_runs_the_configured_roots(tmp_path: Path) -> None:
    write_config(tmp_path, f'[sandbox]\nfile_roots = ["{tmp_path}/files-here"]\n')
    settings = load_settings(home=tmp_path)
    registry = HookRegistry(settings, None, Bus(), readonly=True)  # type: ignore[arg-type]
    assert registry.limits.file_roots == (str(tmp_path.resolve() / "files-here"),)
