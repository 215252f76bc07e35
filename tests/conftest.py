"""Shared fixtures: every test gets its own home dir; nothing touches the user's real data."""

from __future__ import annotations

import sys
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest

from sloth_tui.config import Settings, load_settings

# tests/sources/sourcekit.py (a real `serve` in a subprocess, socket helpers) is shared by
# every test directory: `from sourcekit import DaemonProcess`. The test directories are
# not packages, so `tests.sources...` only imports where the repo root is on sys.path.
sys.path.append(str(Path(__file__).resolve().parent / "sources"))


@pytest.fixture(autouse=True)
def _isolated_home(
    tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Point HOME and XDG dirs at a temporary folder so platformdirs never finds real ones."""
    fake = tmp_path_factory.mktemp("userhome")
    monkeypatch.setenv("HOME", str(fake))
    monkeypatch.setenv("XDG_DATA_HOME", str(fake / "data"))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(fake / "config"))
    monkeypatch.delenv("SLOTH_TUI_HOME", raising=False)
    monkeypatch.delenv("NO_COLOR", raising=False)


@pytest.fixture
def home(tmp_path: Path) -> Path:
    path = tmp_path / "home"
    path.mkdir()
    return path


@pytest.fixture
def settings(home: Path) -> Settings:
    return load_settings(home)


@pytest.fixture
def lua_file(tmp_path: Path) -> Callable[[str, str], Path]:
    """Write a Lua hook file and return its path."""
    counter = iter(range(10_000))

    def write(code: str, name: str = "") -> Path:
        path = tmp_path / (name or f"hook{next(counter)}.lua")
        path.write_text(code)
        return path

    return write


@pytest.fixture
async def engine(settings: Settings) -> AsyncIterator[object]:
    from sloth_tui.engine.engine import Engine

    eng = await Engine.open(settings)
    yield eng
    await eng.close()
