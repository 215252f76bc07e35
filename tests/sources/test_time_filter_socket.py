"""since:/until: over the socket: the terms travel as numbers and mean what `since=` does."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from sloth_tui.config import Settings
from sloth_tui.engine.engine import Engine
from sloth_tui.model.filters import Filter, Term, parse_filter
from sloth_tui.remote.client import RemoteEngine
from sloth_tui.remote.protocol import ProtocolError, filter_from_wire
from sloth_tui.remote.server import SocketServer


@pytest.fixture
async def remote(server: SocketServer, settings: Settings) -> AsyncIterator[RemoteEngine]:
    eng = await RemoteEngine.open(settings)
    yield eng
    await eng.close()


async def test_time_terms_and_the_since_until_arguments_agree(
    remote: RemoteEngine, engine: Engine
) -> None:
    events = [await engine.dispatch("custom", {"i": i}, source="cli") for i in range(4)]
    cut = events[2].ts  # an event exactly at the bound: since keeps it, until does not
    for kind in ("since", "until"):
        flt = Filter((Term(kind, cut),))
        by_term = await remote.query_events(flt, limit=100)
        by_arg = await remote.query_events(None, limit=100, **{kind: cut})
        assert by_term == by_arg == await engine.query_events(flt, limit=100)
        assert await remote.count_events(flt) == len(by_term)
    since = [e.id for e in await remote.query_events(Filter((Term("since", cut),)))]
    assert events[2].id in since and events[1].id not in since
    # Text filters are parsed by the daemon, ages counting back from its clock.
    assert await remote.query_events(parse_filter("!since:1h src:cli")) == []


@pytest.mark.parametrize("value", ["10m", True, None, [1], 10**400])
def test_a_time_term_from_the_wire_needs_a_number(value: object) -> None:
    with pytest.raises(ProtocolError, match="since"):
        filter_from_wire([{"kind": "since", "value": value}])
