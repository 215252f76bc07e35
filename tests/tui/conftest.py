"""Fixtures for the dashboard tests: tmp homes, real engines, a frozen clock for snapshots."""

from __future__ import annotations

import asyncio
import sys
import time
import types
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from tui_helpers import T0, fake_sysinfo

# tests/sources/sourcekit.py: the real-daemon helpers, for the attach tests.
sys.path.append(str(Path(__file__).resolve().parent.parent / "sources"))
from sourcekit import DaemonProcess

from sloth_tui.config import Settings, load_settings
from sloth_tui.engine import engine as engine_module
from sloth_tui.engine.engine import Engine
from sloth_tui.remote.client import RemoteEngine
from sloth_tui.tui.app import SlothApp


@pytest.fixture
def settings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Settings:
    monkeypatch.delenv("SLOTH_TUI_HOME", raising=False)
    monkeypatch.delenv("NO_COLOR", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))  # the top bar reads "embedded ~/home"
    return load_settings(tmp_path / "home")


@pytest.fixture
async def engine(settings: Settings) -> AsyncIterator[Engine]:
    eng = await Engine.open(settings, lifecycle=True)  # stands in for the embedded engine
    try:
        yield eng
    finally:
        await eng.close(reason="test finished")


@pytest.fixture
def make_app() -> Callable[..., SlothApp]:
    """SlothApp with test defaults: no psutil figures, a quick tick."""

    def build(engine: Engine | Settings, **kwargs: Any) -> SlothApp:
        kwargs.setdefault("sysinfo", fake_sysinfo)
        kwargs.setdefault("tick", 0.05)
        return SlothApp(engine, **kwargs)

    return build


@pytest.fixture
def frozen_time(monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[[], float]]:
    """Deterministic event times for snapshots: the engine's clock ticks 0.25 s per call,
    the app's clock stands still, and local time is UTC. Returns the app clock."""
    step = iter(range(1_000_000))
    fake = types.SimpleNamespace(
        time=lambda: T0 + next(step) * 0.25,
        strftime=time.strftime,
        gmtime=time.gmtime,
        monotonic=time.monotonic,
    )
    monkeypatch.setattr(engine_module, "time", fake)
    monkeypatch.setenv("TZ", "UTC")
    time.tzset()
    yield lambda: T0 + 30.0
    monkeypatch.undo()
    time.tzset()


# -- a real daemon, and a client attached to it ------------------------------------------


@pytest.fixture
def daemon(settings: Settings) -> Iterator[DaemonProcess]:
    """`sloth-tui serve` on the test home (started by the test); always killed at the end."""
    settings.home.mkdir(parents=True, exist_ok=True)
    proc = DaemonProcess(settings.home)
    try:
        yield proc
    finally:
        proc.kill()


@pytest.fixture
async def attached(settings: Settings, daemon: DaemonProcess) -> AsyncIterator[RemoteEngine]:
    """The daemon started (no monitor, no watchers), and a RemoteEngine on its socket."""
    await asyncio.to_thread(daemon.start, "--no-monitor", "--no-watchers")
    remote = await RemoteEngine.open(settings, daemon.socket)
    try:
        yield remote
    finally:
        await remote.close()
