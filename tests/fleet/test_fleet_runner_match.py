"""The runner's early skip (HookSlot.matches) says what the engine's own matcher says:
it may not drop an event the engine would run (that run would be lost fleet-wide)."""

from __future__ import annotations

import time

from hypothesis import given
from hypothesis import strategies as st

from sloth_tui.engine.hooks import Matcher
from sloth_tui.fleet.runner import slot_for
from sloth_tui.model.policy import HookPolicy
from sloth_tui.model.records import Event, Hook

PART = st.sampled_from(["deploy", "task", "agent", "dep", "x_1", "custom"])
GLOB = st.sampled_from(["*", "deploy", "dep*", "?ask", "[dt]*", "x_1", "de[!x]loy"])
PATTERN = st.one_of(
    st.tuples(GLOB, GLOB).map(".".join), st.sampled_from(["custom", "*", "deploy.*"])
)
TYPE = st.one_of(st.tuples(PART, PART).map(".".join), st.just("custom"))
STACK = st.sampled_from([None, "prod", "dev"])
WHEN = st.sampled_from(["", "service=api", "!service=api"])


@given(
    patterns=st.lists(PATTERN, min_size=1, max_size=3),
    event_type=TYPE,
    hook_stack=STACK,
    event_stack=STACK,
    when=WHEN,
    service=st.sampled_from(["api", "db"]),
)
def test_the_early_skip_agrees_with_the_engine(
    patterns: list[str],
    event_type: str,
    hook_stack: str | None,
    event_stack: str | None,
    when: str,
    service: str,
) -> None:
    policy = HookPolicy.from_dict({"when": when} if when else None)
    hook = Hook("h", patterns, "h.lua", stack=hook_stack, policy=policy)
    event = Event(
        id=1,
        type=event_type,
        category=event_type.partition(".")[0],
        data={"service": service},
        source="test",
        ts=time.time(),
        stack=event_stack,
    )
    matcher = Matcher()
    matcher.load([hook])
    engine_says = bool(matcher.admit(matcher.match(event.type, event.stack), event))
    assert slot_for("sloth", hook).matches(event) == engine_says


def test_a_new_consumer_starts_at_the_hook_or_a_short_backlog() -> None:
    """A hook made now runs on events from its creation on; one an engine had long before
    it joined the fleet does not run on the stream's history (up to 7 days)."""
    from sloth_tui.fleet.runner import JOIN_BACKLOG_S, consumer_start

    now = 1_000_000.0
    assert consumer_start(now - 5, now) == now - 5
    assert consumer_start(now - 3 * 86400, now) == now - JOIN_BACKLOG_S
    assert consumer_start(now + 1, now) == now + 1
