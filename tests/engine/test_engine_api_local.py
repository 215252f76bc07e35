"""Engine's side of EngineAPI on a real data dir: who it is, Lua checks, close's default."""

from __future__ import annotations

import os
from pathlib import Path

from sloth_tui import __version__
from sloth_tui.config import Settings
from sloth_tui.engine.engine import Engine


async def test_engine_says_who_it_is(settings: Settings) -> None:
    engine = await Engine.open(settings)
    try:
        assert engine.remote is False
        assert engine.readonly is False
        info = engine.info
        assert info == {
            "version": __version__,
            "pid": os.getpid(),
            "home": str(settings.home),
            "socket": str(settings.socket_path),
            "hooks_dir": str(settings.hooks_dir),
            "started": engine.started,
        }
        assert await engine.wait_subscribed() is True
    finally:
        await engine.close()


async def test_lua_checks_go_through_the_engine(settings: Settings, tmp_path: Path) -> None:
    engine = await Engine.open(settings, readonly=True)
    try:
        assert await engine.check_syntax("log.info('ok')") is None
        problem = await engine.check_syntax("local = 1", chunkname="mine")
        assert problem is not None
        line, message = problem
        assert line == 1 and "mine:1:" in message
        hook = tmp_path / "declares.lua"
        hook.write_text(
            'return { event_types = {"deploy.failed", "deploy.completed"}, '
            "execute = function() end }\n"
        )
        assert await engine.declared_event_types(str(hook)) == [
            "deploy.failed",
            "deploy.completed",
        ]
    finally:
        await engine.close()


async def test_close_without_a_reason_records_the_default_one(settings: Settings) -> None:
    engine = await Engine.open(settings, lifecycle=True)
    await engine.close(None)
    reader = await Engine.open(settings, readonly=True)
    try:
        events = await reader.query_events(limit=10)
        shutdown = [e for e in events if e.type == "system.shutdown"]
        assert [e.data["reason"] for e in shutdown] == ["stopped"]
    finally:
        await reader.close()
