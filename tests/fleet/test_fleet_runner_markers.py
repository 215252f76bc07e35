"""Done-markers (fleet/claims_runs.py) on a real NATS KV: what each marker state means
for the next engine that meets it, and strangers' writes in the bucket (garbage,
hostile text) never crash a claim."""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator
from typing import Any

import nats
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from natskit import NatsServer

from sloth_tui.fleet import subjects
from sloth_tui.fleet.claims_runs import RESTART_GRACE_S, Markers, Verdict
from sloth_tui.fleet.members import MemberRecord
from sloth_tui.model.fleet import FleetMember

KEY = subjects.done_key("notify", "a:1")


@pytest.fixture
async def buckets(nats_server: NatsServer) -> AsyncIterator[tuple[Any, Any]]:
    from nats.js.api import KeyValueConfig

    nc = await nats.connect(nats_server.url)
    js = nc.jetstream()
    done = await js.create_key_value(KeyValueConfig(bucket="sloth_done", history=1))
    members = await js.create_key_value(KeyValueConfig(bucket="sloth_members", history=1))
    yield done, members
    await nc.close()


def member(name: str, *, last: float, started: float, incarnation: str = "i1") -> bytes:
    record = FleetMember(name=name, last_heartbeat=last, started=started)
    return MemberRecord(record, incarnation, 1.0).to_json()


async def test_create_done_and_redelivery(buckets: tuple[Any, Any]) -> None:
    done, members = buckets
    a = Markers(done, members, "a", "inc-a")
    b = Markers(done, members, "b", "inc-b")
    claim = await a.claim(KEY, 10.0)
    assert claim.verdict is Verdict.RUN
    # b meets a's marker while a is up and has not restarted since: it waits
    await members.put("a", member("a", last=time.time(), started=time.time() - 60))
    assert (await b.claim(KEY, 10.0)).verdict is Verdict.WAIT
    # a's own process meeting its marker outside a run: the store decides (orphan)
    assert (await a.claim(KEY, 10.0)).verdict is Verdict.ORPHAN
    assert await a.finish(KEY, claim.revision, 7)
    assert (await b.claim(KEY, 10.0)).verdict is Verdict.DONE
    value = json.loads((await done.get(KEY)).value)
    assert value == {"state": "done", "engine": "a", "execution": 7}


async def test_a_holder_down_or_restarted_is_taken_over_once(buckets: tuple[Any, Any]) -> None:
    done, members = buckets
    a = Markers(done, members, "a", "inc-a")
    b = Markers(done, members, "b", "inc-b")
    c = Markers(done, members, "c", "inc-c")
    first = await a.claim(KEY, 10.0)
    # a crashed: no heartbeat for longer than its grace (CRASH_GRACE_BEATS intervals)
    await members.put("a", member("a", last=time.time() - 30, started=time.time() - 60))
    taken = await b.claim(KEY, 10.0)
    assert taken.verdict is Verdict.TAKEN_OVER
    # a, back from the dead, cannot mark it done over b's claim
    assert not await a.finish(KEY, first.revision, 1)
    # restarted after b claimed: b's process is gone, and the new one is given
    # RESTART_GRACE_S to mark done what it recorded before dying (finish_own)
    await members.put("b", member("b", last=time.time(), started=time.time() + 5))
    assert (await c.claim(KEY, 10.0)).verdict is Verdict.WAIT
    # past the grace (b claimed long ago and restarted long ago), c takes it
    now = time.time()
    held = {"state": "running", "engine": "b", "incarnation": "inc-b", "since": now - 100}
    await done.put(KEY, json.dumps(held).encode())
    await members.put("b", member("b", last=now, started=now - RESTART_GRACE_S - 5))
    again = await c.claim(KEY, 10.0)
    assert again.verdict is Verdict.TAKEN_OVER
    assert not await b.finish(KEY, taken.revision, 2)
    assert await c.finish(KEY, again.revision, 3)


async def test_a_previous_incarnation_of_this_engine(buckets: tuple[Any, Any]) -> None:
    done, members = buckets
    old = Markers(done, members, "a", "old")
    new = Markers(done, members, "a", "new")
    await old.claim(KEY, 10.0)
    assert await new.finish_own(KEY, 5)  # recorded before the crash: done now
    assert json.loads((await done.get(KEY)).value)["execution"] == 5
    assert not await new.finish_own(KEY, 5)  # says done already: left alone
    other = subjects.done_key("notify", "a:2")
    await old.claim(other, 10.0)
    assert (await new.claim(other, 10.0)).verdict is Verdict.TAKEN_OVER


async def test_a_holder_without_a_member_record(buckets: tuple[Any, Any]) -> None:
    done, members = buckets
    a = Markers(done, members, "a", "inc-a")
    b = Markers(done, members, "b", "inc-b")
    await a.claim(KEY, 10.0)
    assert (await b.claim(KEY, 10.0)).verdict is Verdict.WAIT  # young: maybe still running
    stale = {"state": "running", "engine": "a", "incarnation": "x", "since": time.time() - 60}
    await done.put(KEY, json.dumps(stale).encode())
    assert (await b.claim(KEY, 10.0)).verdict is Verdict.TAKEN_OVER


hostile = st.one_of(
    st.binary(max_size=300),
    st.text(max_size=200).map(str.encode),
    st.recursive(
        st.none() | st.booleans() | st.floats() | st.integers() | st.text(max_size=20),
        lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner),
        max_leaves=12,
    ).map(lambda v: json.dumps(v).encode()),
    st.fixed_dictionaries(
        {
            "state": st.sampled_from(["running", "done", "\x1b[31m", ""]),
            "engine": st.one_of(st.text(max_size=30), st.integers(), st.none()),
            "since": st.one_of(st.floats(), st.text(max_size=5), st.none()),
        }
    ).map(lambda v: json.dumps(v).encode()),
)


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(garbage=hostile, record=st.binary(max_size=200))
async def test_strangers_writes_never_crash_a_claim(
    buckets: tuple[Any, Any], garbage: bytes, record: bytes
) -> None:
    done, members = buckets
    b = Markers(done, members, "b", "inc-b")
    await done.put(KEY, garbage or b"x")
    await members.put("a", record or b"x")
    claim = await b.claim(KEY, 10.0)
    assert claim.verdict in set(Verdict)
    await done.purge(KEY)
