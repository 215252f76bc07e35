"""kind = "command": run a command from config.toml on an interval and emit
command.output_changed when its output or its exit code differs from the last run's,
upstream's event and fields (command, old_output, new_output, watcher_id) plus the
exit codes and the argument list.

The command is an argument list from config.toml, run without a shell: nothing in an
event or a hook can name or change it. It runs in its own session with stdin from
/dev/null; at its timeout its whole process group is killed, and the timeout is
reported once (a system.error event and the health line) until a run finishes again.
Only the first `max_output` bytes of stdout are kept (the rest is read and dropped, so
the command never blocks on a full pipe); stderr is not kept.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shlex
import shutil
import signal

from sloth_tui.sources.watch_base import Found, PolledWatcher, Sleep, WatchError
from sloth_tui.sources.watch_config import CommandWatch


class CommandWatcher(PolledWatcher):
    kind = "command"
    produces = ("command.output_changed",)

    def __init__(self, spec: CommandWatch, *, sleep: Sleep = asyncio.sleep) -> None:
        super().__init__(spec.name, spec.interval, sleep=sleep)
        self.spec = spec
        self.last: tuple[str, int] | None = None  # (output, exit code) of the last finished run
        self.runs = 0
        self.timeouts = 0

    async def prepare(self) -> None:
        program = self.spec.command[0]
        if os.sep in program:
            if not (os.path.isfile(program) and os.access(program, os.X_OK)):
                raise WatchError(f"command {program!r} does not exist or is not executable")
        elif shutil.which(program) is None:
            raise WatchError(f"command {program!r} is not on PATH")
        if self.spec.cwd and not os.path.isdir(self.spec.cwd):
            raise WatchError(f"cwd {self.spec.cwd!r} is not a directory")

    async def run_once(self) -> tuple[str, int]:
        """Run the command once: (stdout as text, exit code). WatchError on a timeout."""
        proc = await asyncio.create_subprocess_exec(
            *self.spec.command,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.DEVNULL,
            cwd=self.spec.cwd or None,
            start_new_session=True,  # its own process group, killed whole at the timeout
        )
        kept = bytearray()

        async def collect() -> None:
            assert proc.stdout is not None
            while chunk := await proc.stdout.read(65_536):
                room = self.spec.max_output - len(kept)
                if room > 0:
                    kept.extend(chunk[:room])
            await proc.wait()

        try:
            await asyncio.wait_for(collect(), self.spec.timeout)
        except TimeoutError:
            await _kill_group(proc)
            self.timeouts += 1
            raise WatchError(
                f"timed out after {self.spec.timeout:g}s; its process group was killed"
            ) from None
        except BaseException:  # cancelled (a stop): leave nothing running
            await _kill_group(proc)
            raise
        assert proc.returncode is not None
        return kept.decode("utf-8", "replace"), proc.returncode

    async def check(self) -> Found:
        output, code = await self.run_once()
        self.runs += 1
        before, self.last = self.last, (output, code)
        if before is None or before == self.last:
            return []
        data = {
            "command": shlex.join(self.spec.command),
            "old_output": before[0],
            "new_output": output,
            "watcher_id": self.watcher,
            "argv": list(self.spec.command),
            "old_exit_code": before[1],
            "exit_code": code,
        }
        return [("command.output_changed", data)]

    def describe(self) -> str:
        text = (
            f"{shlex.join(self.spec.command)[:200]} every {self.spec.interval:g}s "
            f"(timeout {self.spec.timeout:g}s), {self.runs} runs"
        )
        if self.last is not None:
            text += f", last exit code {self.last[1]}"
        if self.timeouts:
            text += f", {self.timeouts} timed out"
        return text


async def _kill_group(proc: asyncio.subprocess.Process) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGKILL)
    with contextlib.suppress(ProcessLookupError):
        proc.kill()
    await proc.wait()
