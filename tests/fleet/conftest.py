from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from natskit import NatsServer


@pytest.fixture
def nats_server(tmp_path: Path) -> Iterator[NatsServer]:
    """A real JetStream server on a free loopback port, stopped by PID afterwards."""
    server = NatsServer(tmp_path / "nats-store").start()
    try:
        yield server
    finally:
        server.stop()
