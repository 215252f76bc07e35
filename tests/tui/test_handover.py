"""`serve` takes a home over from a dashboard running its engine embedded.

Real parts: the dashboard's EmbeddedEngine and SlothApp in Pilot, a real `sloth-tui serve`
subprocess on the same home, and a producer pipelining events on the real socket all
through the handover. Nothing acknowledged may be lost.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

from sourcekit import DaemonProcess, db_rows, request
from tui_helpers import wait_for

from sloth_tui.config import Settings
from sloth_tui.remote.handover import ask_dashboard_to_hand_over
from sloth_tui.remote.protocol import probe
from sloth_tui.tui.embedded import EmbeddedEngine

SIZE = (120, 30)


class Producer:
    """Sends events one connection at a time, as a script would; records what was acked.

    Refusals and dropped connections during the handover are expected (nothing answers
    for a moment); an acknowledgement is a promise, checked at the end.
    """

    def __init__(self, socket: Path) -> None:
        self.socket = socket
        self.acked: dict[int, str] = {}  # id -> phase
        self.phase = "before"
        self.failures = 0
        self._stop = asyncio.Event()
        self.task = asyncio.create_task(self._run())

    async def _run(self) -> None:
        n = 0
        while not self._stop.is_set():
            n += 1
            line = {"type": "custom", "data": {"name": "p", "message": f"{self.phase}-{n}"}}
            try:
                (reply,) = await request(self.socket, line)
            except (OSError, ValueError):
                self.failures += 1
                await asyncio.sleep(0.01)  # a client's backoff, not a test wait
                continue
            if reply.get("ok"):
                self.acked[reply["id"]] = self.phase
            else:
                self.failures += 1

    async def stop(self) -> None:
        self._stop.set()
        await self.task


async def role(socket: Path) -> tuple[str | None, int | None]:
    """Who answers on the socket (in a thread: the dashboard answering is this loop)."""
    info = await asyncio.to_thread(probe, socket, 0.5) or {}
    return info.get("role"), info.get("pid")


async def wait_for_role(pilot: Any, socket: Path, wanted: tuple[str, int], timeout: float) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while await role(socket) != wanted:
        assert asyncio.get_running_loop().time() < deadline, f"{wanted} never answered"
        await pilot.pause(0.05)


async def test_serve_takes_over_from_an_embedded_dashboard(
    settings: Settings, make_app: Any, daemon: DaemonProcess
) -> None:
    embedded = EmbeddedEngine(settings)
    engine = await embedded.start()
    app = make_app(engine)
    embedded.on_handover = app.reattach
    socket = settings.socket_path
    try:
        async with app.run_test(size=SIZE) as pilot:
            assert (await role(socket))[0] == "dashboard" and not app.attached
            producer = Producer(socket)
            await wait_for(pilot, lambda: len(producer.acked) >= 20, timeout=20)

            # serve starts on the same home: the dashboard hands over and re-attaches.
            producer.phase = "during"
            await asyncio.to_thread(daemon.start, "--no-monitor", "--no-watchers")
            assert daemon.proc is not None
            serve_pid = daemon.proc.pid
            await wait_for_role(pilot, socket, ("serve", serve_pid), timeout=30)
            await wait_for(pilot, lambda: app.attached and app.link_lost is None, timeout=30)
            assert f"(pid {serve_pid})" in app.engine_labels[0]

            producer.phase = "after"
            before = len(producer.acked)
            await wait_for(pilot, lambda: len(producer.acked) >= before + 20, timeout=20)
            await producer.stop()
            last_id = max(producer.acked)
            # The dashboard, now attached, shows what serve stores.
            await wait_for(pilot, lambda: app.live.last_event_id >= last_id, timeout=10)
            screen = app.events_screen
            assert screen is not None
            await wait_for(pilot, lambda: any(ev.id == last_id for ev in screen.feed.rows))
    finally:
        await embedded.wait_handed_over()
        await embedded.close()
        if app.attached:
            await app.engine.close()

    phases = set(producer.acked.values())
    assert {"before", "after"} <= phases, phases
    # Every acknowledged event is in the store, once.
    stored = {row[0] for row in db_rows(settings.home, "SELECT id FROM events")}
    missing = set(producer.acked) - stored
    assert not missing, f"acknowledged but lost: {sorted(missing)[:10]}"
    shutdowns = db_rows(
        settings.home, "SELECT data FROM events WHERE type = 'system.shutdown' ORDER BY id"
    )
    reasons = [json.loads(row[0])["reason"] for row in shutdowns]
    assert f"handed over to serve (pid {serve_pid})" in reasons
    assert "handing over" in daemon.output()
    assert daemon.signal(15) == 0


async def test_a_daemon_is_never_asked_to_hand_over(
    settings: Settings, daemon: DaemonProcess
) -> None:
    """Two daemons on one home stay an error: only a dashboard hands over."""
    await asyncio.to_thread(daemon.start, "--no-monitor", "--no-watchers")
    assert await ask_dashboard_to_hand_over(settings) is None
    (reply,) = await request(daemon.socket, {"op": "handover", "pid": 1})
    assert reply["ok"] is False and reply["error_type"] == "bad_request"
    assert daemon.signal(15) == 0


async def test_handover_refuses_a_bad_pid(settings: Settings) -> None:
    embedded = EmbeddedEngine(settings)
    await embedded.start()
    try:
        replies = await request(
            settings.socket_path,
            {"op": "handover"},
            {"op": "handover", "pid": "x"},
            {"op": "handover", "pid": True},
        )
        assert [r["ok"] for r in replies] == [False, False, False]
        assert (await role(settings.socket_path))[0] == "dashboard"  # still serving
    finally:
        await embedded.close()
