"""kind = "service": systemd's unit state, or one line saying systemd is not here."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest
from watchkit import Api, Clock

from sloth_tui.sources.watch_base import WatchError
from sloth_tui.sources.watch_config import ServiceWatch
from sloth_tui.sources.watch_service import SYSTEMD_DIR, ServiceWatcher, UnitState, parse_show

# A stand-in for systemctl: prints the state file's text for `show -p ... -- UNIT`,
# and checks it was asked the way the watcher must ask.
FAKE = """
import sys
assert sys.argv[1:5] == ["show", "-p", "ActiveState,SubState", "--"], sys.argv
if sys.argv[5] != "nginx.service":
    sys.stderr.write("Unit name is not valid.\\n")
    sys.exit(1)
sys.stdout.write(open(sys.argv[0] + ".state").read())
"""


@pytest.mark.skipif(os.path.isdir(SYSTEMD_DIR), reason="systemd runs on this machine")
async def test_without_systemd_it_says_so_in_one_line() -> None:
    w = ServiceWatcher(ServiceWatch("web", unit="nginx.service"))
    with pytest.raises(WatchError, match="not available here: no systemd"):
        await w.start(Api())  # type: ignore[arg-type]
    health = w.health()
    assert (health.state, health.detail) == (
        "failed",
        "watcher 'web': not available here: no systemd",
    )


def test_parse_show() -> None:
    assert parse_show("ActiveState=active\nSubState=running\n") == UnitState("active", "running")
    assert parse_show("SubState=dead\r\nActiveState=inactive") == UnitState("inactive", "dead")
    assert parse_show("X=1\nActiveState=failed\nSubState=failed\n\n") == UnitState(
        "failed", "failed"
    )
    for bad in ["", "ActiveState=active\n", "garbage", "\x00\x1b[31m=x"]:
        with pytest.raises(ValueError, match="no ActiveState/SubState"):
            parse_show(bad)


async def test_status_changes_through_systemctl_show(tmp_path: Path) -> None:
    fake = tmp_path / "systemctl"
    fake.write_text(FAKE)
    state = tmp_path / "systemctl.state"
    state.write_text("ActiveState=active\nSubState=running\n")
    clock, api = Clock(), Api()
    w = ServiceWatcher(
        ServiceWatch("web", unit="nginx.service"),
        sleep=clock.sleep,
        systemd_dir=str(tmp_path),  # stands for /run/systemd/system
        systemctl=(sys.executable, str(fake)),
    )
    await w.start(api)  # type: ignore[arg-type]
    try:
        await clock.settled()
        assert api.sent == [] and "active (running)" in w.health().detail
        state.write_text("ActiveState=failed\nSubState=failed\n")
        await clock.step()
        await clock.step()
        assert api.sent == [
            (
                "service.status_changed",
                {
                    "service": "nginx.service",
                    "old_status": "active",
                    "new_status": "failed",
                    "watcher_id": "web",
                    "old_sub_state": "running",
                    "new_sub_state": "failed",
                },
                "watcher:web",
            )
        ]
    finally:
        await w.stop()
    other_clock = Clock()
    bad = ServiceWatcher(
        ServiceWatch("other", unit="other.service"),
        sleep=other_clock.sleep,
        systemd_dir=str(tmp_path),
        systemctl=(sys.executable, str(fake)),
    )
    await bad.start(api)  # type: ignore[arg-type]
    try:
        await other_clock.settled()
        [error] = [d for t, d, s in api.sent if s == "watcher:other"]
        assert error["error"] == "systemctl show other.service: Unit name is not valid."
    finally:
        await bad.stop()
