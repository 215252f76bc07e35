"""kind = "command" with real commands: output and exit code changes, a hang, a typo."""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

import pytest
from watchkit import Api, Clock

from sloth_tui.sources.watch_base import WatchError
from sloth_tui.sources.watch_command import CommandWatcher
from sloth_tui.sources.watch_config import CommandWatch

# Prints the file's text and exits with the code on its first line.
READER = """
import sys
text = open(sys.argv[1]).read()
sys.stdout.write(text)
sys.exit(int(text.split()[0]))
"""

# Starts a grandchild in the same process group, notes its pid, and hangs.
HANGER = """
import subprocess, sys, time
child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
open(sys.argv[1], "w").write(str(child.pid))
print("partial output", flush=True)
time.sleep(60)
"""


async def started(spec: CommandWatch) -> tuple[CommandWatcher, Api, Clock]:
    clock, api = Clock(), Api()
    w = CommandWatcher(spec, sleep=clock.sleep)
    await w.start(api)  # type: ignore[arg-type]
    await clock.settled()
    return w, api, clock


async def test_output_and_exit_code_changes(tmp_path: Path) -> None:
    state = tmp_path / "state"
    state.write_text("0 all good\n")
    argv = (sys.executable, "-c", READER, str(state))
    w, api, clock = await started(CommandWatch("disk", command=argv, timeout=30))
    try:
        assert api.sent == []  # the first run is the baseline
        await clock.step()
        assert api.sent == []  # same output, same code
        state.write_text("0 still good\n")
        await clock.step()
        [changed] = api.of("command.output_changed")
        assert changed["old_output"] == "0 all good\n"
        assert changed["new_output"] == "0 still good\n"
        assert (changed["old_exit_code"], changed["exit_code"]) == (0, 0)
        assert changed["argv"] == list(argv) and changed["watcher_id"] == "disk"
        assert changed["command"].startswith(sys.executable)
        state.write_text("3 still good\n")  # the exit code alone changes the next output
        await clock.step()
        state.write_text("3 still good\n")
        await clock.step()
        codes = [(d["old_exit_code"], d["exit_code"]) for d in api.of("command.output_changed")]
        assert codes == [(0, 0), (0, 3)]
        assert "last exit code 3" in w.health().detail
    finally:
        await w.stop()


async def test_output_is_kept_up_to_max_output(tmp_path: Path) -> None:
    state = tmp_path / "state"
    state.write_text("0 " + "x" * 100_000)
    argv = (sys.executable, "-c", READER, str(state))
    w, api, clock = await started(CommandWatch("big", command=argv, max_output=10, timeout=30))
    try:
        state.write_text("0 " + "y" * 100_000)
        await clock.step()
        [changed] = api.of("command.output_changed")
        assert (changed["old_output"], changed["new_output"]) == ("0 " + "x" * 8, "0 " + "y" * 8)
    finally:
        await w.stop()


def gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    # A zombie still answers; it is dead once its parent (init, here) reaps it.
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split(") ")[1].startswith("Z")
    except OSError:
        return True


async def test_a_hang_is_killed_with_its_group_and_reported_once(tmp_path: Path) -> None:
    pidfile = tmp_path / "grandchild"
    argv = (sys.executable, "-c", HANGER, str(pidfile))
    w, api, clock = await started(CommandWatch("hang", command=argv, timeout=3.0))
    try:
        [error] = api.of("system.error")  # the first run already timed out
        assert error["component"] == "watcher:hang"
        assert "timed out after 3s; its process group was killed" in error["error"]
        grandchild = int(pidfile.read_text())
        deadline = time.monotonic() + 10
        while not gone(grandchild):
            assert time.monotonic() < deadline, "the grandchild outlived the timeout"
            time.sleep(0.05)
        await clock.step()
        assert len(api.of("system.error")) == 1  # the same failure is not told again
        health = w.health()
        assert health.state == "running" and "failing: timed out" in health.detail
        assert "2 timed out" in health.detail
    finally:
        await w.stop()


async def test_a_command_that_does_not_exist_fails_the_start(tmp_path: Path) -> None:
    for argv, why in [
        (("sloth-no-such-program-xyz",), "is not on PATH"),
        ((str(tmp_path / "nope"),), "does not exist or is not executable"),
    ]:
        w = CommandWatcher(CommandWatch("typo", command=argv))
        with pytest.raises(WatchError, match=why):
            await w.start(Api())  # type: ignore[arg-type]
        health = w.health()
        assert health.state == "failed" and health.detail.startswith("watcher 'typo': command")
        assert "\n" not in health.detail


async def test_a_program_removed_after_the_start_is_reported(tmp_path: Path) -> None:
    program = tmp_path / "check.sh"
    program.write_text("#!/bin/sh\necho ok\n")
    program.chmod(0o755)
    w, api, clock = await started(CommandWatch("gone", command=(str(program),)))
    try:
        program.unlink()
        await clock.step()
        [error] = api.of("system.error")
        assert "no such file or directory" in error["error"]
    finally:
        await w.stop()
