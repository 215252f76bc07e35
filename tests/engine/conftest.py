"""Fixtures shared by tests/engine."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from gatekit import Gate, gate_server


@pytest.fixture
def gate(monkeypatch: pytest.MonkeyPatch) -> Iterator[Gate]:
    """gatekit's loopback HTTP server, reached directly (no proxy from the environment)."""
    for name in ("http_proxy", "HTTP_PROXY", "all_proxy", "ALL_PROXY"):
        monkeypatch.delenv(name, raising=False)
    with gate_server() as holder:
        yield holder
