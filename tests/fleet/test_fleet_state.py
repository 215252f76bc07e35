"""state.* in the fleet's KV bucket `state` (issue 15, Build 4): a real nats-server, a
real engine with real Lua (in this process, its state moved through FleetPort.use_state),
then three real `serve --nats` engines adding to one counter."""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from fleetkit import Fleet, wait_for
from hypothesis import given
from hypothesis import strategies as st
from natskit import NatsServer

from sloth_tui.config import Settings
from sloth_tui.engine.engine import Engine
from sloth_tui.fleet.link import FleetLink
from sloth_tui.fleet.parts import FleetContext
from sloth_tui.fleet.settings import FleetSettings
from sloth_tui.fleet.state_kv import KVState, key_part, kv_key

LuaFile = Callable[..., Path]
KV_KEY = re.compile(r"^[-/_=.a-zA-Z0-9]+$")


# -- keys ---------------------------------------------------------------------------------


@given(st.text(max_size=200), st.text(max_size=200))
def test_state_keys_are_valid_kv_keys_and_distinct(a: str, b: str) -> None:
    for key in (a, b):
        k = kv_key("my_hook.x", key)
        assert KV_KEY.match(k) and not k.endswith(".") and ".." not in k
    assert (kv_key("h", a) == kv_key("h", b)) == (a == b)
    assert key_part(a) == key_part(a).lower()


# -- one engine, its state in KV ----------------------------------------------------------


async def _link(url: str, name: str) -> FleetLink:
    link = FleetLink(FleetSettings(servers=(url,), name=name))
    await link.start()
    assert await link.wait_connected(15), link.error
    return link


@pytest.fixture
async def kv_engine(
    settings: Settings, nats_server: NatsServer
) -> AsyncIterator[tuple[Engine, KVState]]:
    engine = await Engine.open(settings)
    link = await _link(nats_server.url, "solo")
    port = engine.fleet_port()
    backend = KVState(FleetContext(api=engine, port=port, link=link, fleet=link.fleet))
    port.use_state(backend)
    try:
        yield engine, backend
    finally:
        await engine.close()
        await link.stop()


async def _stored_state(engine: Engine) -> list[Any]:
    rows = await engine.store.run_readonly(lambda c: c.execute("SELECT * FROM state").fetchall())
    return list(rows)


async def test_runs_read_and_write_kv_not_the_store(
    kv_engine: tuple[Engine, KVState], lua_file: LuaFile
) -> None:
    engine, backend = kv_engine
    code = """
      function on_event(event)
        local before = state.get("n")
        state.set("seen", {before = before, who = "run"})
        state.set("gone", 1)
        state.delete("gone")
        local v = state.incr("n")
        state.incr("n", 2)
        log.info("incr " .. tostring(v))
      end
    """
    await engine.add_hook("h", ["custom"], lua_file(code))
    await backend.apply("h", {"n": ("set", 40)})  # as another engine left it

    _event, runs = await engine.dispatch_and_run("custom", {})
    assert [r.status for r in runs] == ["success"], runs[0].error
    assert await backend.get("h", "n") == 43
    assert await backend.get("h", "seen") == {"before": 40, "who": "run"}
    assert await backend.get("h", "gone") is None
    assert "incr 41" in " ".join(line.message for line in runs[0].logs)
    assert await _stored_state(engine) == []  # nothing in SQLite

    # A dry run reads KV and writes nothing.
    dry = await engine.test_hook("h", "custom")
    assert dry.status == "success", dry.error
    assert await backend.get("h", "n") == 43


async def test_a_kv_failure_is_an_error_never_a_hang(
    kv_engine: tuple[Engine, KVState], lua_file: LuaFile, nats_server: NatsServer
) -> None:
    engine, backend = kv_engine
    await engine.add_hook("reader", ["custom"], lua_file('function on_event() state.get("x") end'))
    await engine.add_hook(
        "writer", ["deploy.failed"], lua_file('function on_event() state.set("x", 1) end')
    )
    ended: list[str] = []  # how each KV call ended: its own error, or cut off from outside

    def watched(call: Callable[..., Awaitable[Any]]) -> Callable[..., Awaitable[Any]]:
        async def run(*args: Any) -> Any:
            try:
                return await call(*args)
            except asyncio.CancelledError:  # the host call's own limit gave up waiting on it
                ended.append("cut off")
                raise
            except Exception:
                ended.append("error")
                raise

        return run

    backend.get = watched(backend.get)  # type: ignore[method-assign]
    backend.apply = watched(backend.apply)  # type: ignore[method-assign]
    nats_server.stop()
    # (wait_for: hang guards only)
    _event, runs = await asyncio.wait_for(engine.dispatch_and_run("custom", {}), 50)
    assert runs[0].status == "error" and "state.get" in (runs[0].error or "")
    _event, runs = await asyncio.wait_for(engine.dispatch_and_run("deploy.failed", {}), 50)
    assert runs[0].status == "error"
    assert "state not saved to the fleet" in (runs[0].error or "")
    assert ended == ["error", "error"]  # bounded by itself, never left to the host call
    assert await _stored_state(engine) == []


async def test_incr_adds_up_across_writers(nats_server: NatsServer) -> None:
    """Three links (as three engines) adding to one key at once: every add counts."""
    links = [await _link(nats_server.url, f"w{i}") for i in range(3)]
    try:
        backends = [
            KVState(FleetContext(api=None, port=None, link=link, fleet=link.fleet))  # type: ignore[arg-type]
            for link in links
        ]

        async def adds(backend: KVState) -> None:
            for _ in range(100):
                await backend.apply("h", {"count": ("add", 1)})

        await asyncio.gather(*(adds(b) for b in backends))
        assert await backends[0].get("h", "count") == 300
        retries = sum(b.ctx.counters.values.get("state_cas_retries", 0) for b in backends)
        assert retries >= 0  # conflicts happened or not; the total is what must hold
    finally:
        for link in links:
            await link.stop()


# -- three serve engines, hooks adding to one counter -------------------------------------


def test_incr_from_three_engines_counts_every_run(tmp_path: Path, nats_server: NatsServer) -> None:
    fleet = Fleet(tmp_path, nats_server.url, ["a", "b", "c"]).start()
    try:
        a = fleet["a"]
        hook = tmp_path / "count.lua"
        hook.write_text('function on_event(event)\n  state.incr("runs")\nend\n')
        result = a.cli("hook", "add", "counter", "--event", "deploy.started", "--file", str(hook))
        assert result.returncode == 0, result.stderr
        wait_for(
            lambda: all(e.rows("SELECT 1 FROM hooks WHERE name = 'counter'") for e in fleet),
            what="the hook on every engine",
        )
        for engine in fleet:
            events = [{"type": "deploy.started", "data": {"n": i}} for i in range(100)]
            replies = engine.send(*events)
            assert all(r.get("ok", True) and "error" not in r for r in replies), replies[:3]

        def runs() -> int:
            return sum(
                int(
                    e.rows(
                        "SELECT COUNT(*) FROM executions WHERE hook = 'counter' AND origin IS NULL"
                    )[0][0]
                )
                for e in fleet
            )

        def counter() -> Any:
            async def read() -> Any:
                import nats

                nc = await nats.connect(nats_server.url)
                try:
                    kv = await nc.jetstream().key_value("sloth_state")
                    return json.loads((await kv.get(kv_key("counter", "runs"))).value or b"null")
                finally:
                    await nc.close()

            return asyncio.run(read())

        wait_for(lambda: runs() >= 300, timeout=120, what="300 runs")
        wait_for(lambda: counter() == 300, timeout=30, what="the counter at 300")
        assert runs() == 300
    finally:
        fleet.stop()
