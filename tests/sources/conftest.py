"""Fixtures for the producer tests (helpers live in sourcekit.py)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
from sourcekit import daemons  # noqa: F401 (a fixture for this directory)

from sloth_tui.config import Settings
from sloth_tui.engine.engine import Engine
from sloth_tui.remote.server import SocketServer


@pytest.fixture
async def engine(settings: Settings) -> AsyncIterator[Engine]:
    """The engine behind a socket server stands in for serve's: it records its lifecycle."""
    eng = await Engine.open(settings, lifecycle=True)
    yield eng
    await eng.close()


@pytest.fixture
async def server(engine: Any) -> AsyncIterator[SocketServer]:
    """An in-process server on the test engine's default socket path."""
    srv = SocketServer(engine, engine.settings.socket_path)
    await srv.start()
    yield srv
    await srv.stop_intake(timeout=2)
    await srv.close(timeout=0.2)  # subscribers never get `shutdown` here: do not wait long
