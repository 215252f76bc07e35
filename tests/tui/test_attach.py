"""Attach mode: the real dashboard on a real `sloth-tui serve` subprocess, and an embedded
dashboard serving its socket to the CLI in another "terminal" (a subprocess)."""

from __future__ import annotations

import asyncio
from pathlib import Path

from sourcekit import DaemonProcess, events_of, request, run_cli
from textual.widgets import Input
from tui_helpers import screen_text, wait_for

from sloth_tui.config import Settings
from sloth_tui.engine.engine import Engine
from sloth_tui.remote.client import RemoteEngine
from sloth_tui.tui.app import SlothApp
from sloth_tui.tui.embedded import EmbeddedEngine
from sloth_tui.tui.screens.fire import FireScreen
from sloth_tui.tui.screens.hook_editor import HookEditorScreen
from sloth_tui.tui.screens.hooks import HooksScreen
from sloth_tui.tui.widgets.test_fire_panel import TestFirePanel

SIZE = (140, 30)  # wide enough for the seven tabs, the pid and the pulse on one line
HOOK = 'function on_event() log.info("seen " .. event.type) return true end\n'


def header(app: SlothApp) -> str:
    return screen_text(app).splitlines()[0]


def has_row(app: SlothApp, **data: object) -> bool:
    screen = app.events_screen
    assert screen is not None
    return any(all(ev.data.get(k) == v for k, v in data.items()) for ev in screen.feed.rows)


def write_hook(home: Path) -> Path:
    path = home / "hooks" / "seen.lua"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(HOOK)
    return path


async def test_attached_dashboard_works_and_outlives_a_daemon_restart(
    settings: Settings, daemon: DaemonProcess, attached: RemoteEngine, make_app
) -> None:
    home = settings.home
    app = make_app(attached)
    async with app.run_test(size=SIZE) as pilot:
        # -- the header says which engine this is
        assert daemon.proc is not None
        await wait_for(pilot, lambda: f"(pid {daemon.proc.pid})" in header(app))
        assert f"attached ~/home/sloth.sock (pid {daemon.proc.pid})" in header(app)

        # -- events sent to the daemon's socket stream in
        [reply] = await request(daemon.socket, {"type": "task.started", "data": {"task_name": "a"}})
        assert reply["ok"]
        await wait_for(pilot, lambda: has_row(app, task_name="a"))

        # -- the Fire dialog dispatches through the daemon, into its store
        await pilot.press("F", *"deploy.fai", "right", "enter")
        fire = app.screen
        assert isinstance(fire, FireScreen)
        await wait_for(pilot, lambda: fire.form_type == "deploy.failed", timeout=15)
        fire.query_one("#field-1", Input).value = "checkout"  # service
        await pilot.press("ctrl+s")
        await wait_for(pilot, lambda: not isinstance(app.screen, FireScreen))
        [fired] = events_of(home, "deploy.failed")
        assert fired["source"] == "dashboard" and fired["data"]["service"] == "checkout"
        await wait_for(pilot, lambda: has_row(app, service="checkout"))

        # -- a hook added with the CLI (through the daemon) shows on the Hooks screen
        await pilot.press("2")
        hooks = app.screen
        assert isinstance(hooks, HooksScreen)
        added = await asyncio.to_thread(
            run_cli, "--home", str(home), "hook", "add", "seen", "--event", "task.*",
            "--file", str(write_hook(home)),
        )  # fmt: skip
        assert added.returncode == 0, added.stderr
        await wait_for(pilot, lambda: hooks.current_name == "seen")  # listed and drawn

        # -- its editor test-fires (a dry run) through the daemon too
        await pilot.press("e")
        await wait_for(pilot, lambda: isinstance(app.screen, HookEditorScreen))
        panel = app.screen.query_one(TestFirePanel)
        await pilot.press("ctrl+r")
        await wait_for(pilot, lambda: panel.last_dry is not None, timeout=10)
        assert panel.last_dry.status == "success" and panel.last_dry.dry_run
        await pilot.press("escape", "1")

        # -- the daemon dies: a banner, the app lives on
        await asyncio.to_thread(daemon.kill)
        await wait_for(pilot, lambda: "daemon lost" in screen_text(app), timeout=10)
        assert app.link_lost is not None

        # -- meanwhile an event lands in the store (an embedded engine, as after a failover)
        engine = await Engine.open(settings)
        await engine.dispatch("task.started", {"task_name": "during the gap"}, source="cli")
        await engine.close()

        # -- the daemon is back: the banner goes, the gap is filled, new events stream in
        old_pid = daemon.proc.pid
        await asyncio.to_thread(daemon.start, "--no-monitor", "--no-watchers")
        await wait_for(pilot, lambda: app.link_lost is None, timeout=10)
        await wait_for(pilot, lambda: f"(pid {daemon.proc.pid})" in header(app))
        assert daemon.proc.pid != old_pid and "daemon lost" not in screen_text(app)
        await wait_for(pilot, lambda: has_row(app, task_name="during the gap"))
        # The header's newest id catches up too (it missed the gap and serve's startup).
        (newest,) = await request(daemon.socket, {"op": "query_events", "limit": 1})
        await wait_for(pilot, lambda: f"last {newest['events'][0]['id']}" in header(app))
        await request(daemon.socket, {"type": "task.started", "data": {"task_name": "after"}})
        await wait_for(pilot, lambda: has_row(app, task_name="after"))
        ids = [ev.id for ev in app.events_screen.feed.rows]  # type: ignore[union-attr]
        assert ids == sorted(set(ids))  # in order, none twice


async def test_embedded_dashboard_serves_the_cli(settings: Settings, make_app) -> None:
    home = settings.home
    embedded = EmbeddedEngine(settings)
    engine = await embedded.start()
    try:
        assert embedded.warnings == [] and settings.socket_path.is_socket()
        app = make_app(engine)
        async with app.run_test(size=SIZE) as pilot:
            await wait_for(pilot, lambda: "embedded ~/home" in header(app))
            await pilot.press("2")
            hooks = app.screen
            assert isinstance(hooks, HooksScreen)
            added = await asyncio.to_thread(
                run_cli, "--home", str(home), "hook", "add", "seen", "--event", "task.*",
                "--file", str(write_hook(home)),
            )  # fmt: skip
            assert added.returncode == 0, added.stderr
            await wait_for(pilot, lambda: hooks.current_name == "seen")
            emitted = await asyncio.to_thread(
                run_cli, "--home", str(home), "emit", "task.started", "task_name=cli"
            )
            assert emitted.returncode == 0, emitted.stderr
            await pilot.press("1")
            await wait_for(pilot, lambda: has_row(app, task_name="cli"))
    finally:
        await embedded.close()
    assert not settings.socket_path.exists()  # a clean shutdown removes it
