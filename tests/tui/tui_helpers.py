"""Helpers shared by the dashboard tests (imported by conftest and the test modules)."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from sloth_tui.tui.sysinfo import SysInfo

if TYPE_CHECKING:
    from sloth_tui.tui.app import SlothApp

T0 = 1_767_225_600.0  # 2026-01-01T00:00:00Z: the snapshots' fixed epoch
FAKE_SYSINFO = SysInfo(
    proc_cpu=3.0,
    proc_rss=80 * 2**20,
    host_cpu=12.0,
    host_mem=45.0,
    disk=61.0,
    disk_free=100 * 2**30,
)


def fake_sysinfo() -> SysInfo:
    return FAKE_SYSINFO


async def wait_for(pilot: Any, predicate: Callable[[], bool], timeout: float = 5.0) -> None:
    """Pause the pilot until `predicate()` holds (ticks are asynchronous). On a timeout
    the error carries the screen, for a failure seen only in CI."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            shown = screen_text(pilot.app)
            raise AssertionError(f"condition not met in time; the screen:\n{shown}")
        await pilot.pause(0.03)


def screen_text(app: SlothApp) -> str:
    """What the terminal shows, as plain text lines."""
    return "\n".join(strip.text for strip in app.screen._compositor.render_strips())
