"""The data dir holds every event, every hook's state and every log line: it is created
0700 and its database files 0600 whatever the umask; looser modes are reported at start."""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from sloth_tui.config import load_settings
from sloth_tui.engine.engine import Engine


@pytest.fixture
def lax_umask() -> Iterator[None]:
    old = os.umask(0o002)  # group-writable, world-readable: a common desktop default
    try:
        yield
    finally:
        os.umask(old)


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


async def test_a_new_home_is_private_whatever_the_umask(tmp_path: Path, lax_umask: None) -> None:
    home = tmp_path / "new-home"
    engine = await Engine.open(load_settings(home), lifecycle=True)
    try:
        await engine.dispatch("custom", {"name": "n", "message": "m"}, source="cli")
        await engine.store.flush()
        assert mode(home) == 0o700
        for suffix in ("", "-wal", "-shm"):
            assert mode(Path(f"{home / 'sloth.db'}{suffix}")) == 0o600, suffix
        assert engine.warnings == []
    finally:
        await engine.close()


async def test_a_read_only_look_at_an_empty_home_is_private(
    tmp_path: Path, lax_umask: None
) -> None:
    home = tmp_path / "empty"
    engine = await Engine.open(load_settings(home), readonly=True)
    await engine.close()
    assert mode(home) == 0o700 and mode(home / "sloth.db") == 0o600


async def test_an_existing_loose_home_is_reported_not_changed(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    home = tmp_path / "old-home"
    home.mkdir()
    (home / "sloth.db").touch()
    os.chmod(home, 0o755)
    os.chmod(home / "sloth.db", 0o644)
    engine = await Engine.open(load_settings(home), lifecycle=True)
    try:
        assert mode(home) == 0o755  # the operator's choice stays
        joined = "\n".join(engine.warnings)
        assert f"{home} is mode 0755" in joined and "chmod 700" in joined
        assert f"{home / 'sloth.db'} is mode 0644" in joined and "chmod 600" in joined
        assert "other users can read" in caplog.text
    finally:
        await engine.close()
    quiet = await Engine.open(load_settings(home))  # a one-shot command does not nag
    try:
        assert quiet.warnings == []
    finally:
        await quiet.close()
