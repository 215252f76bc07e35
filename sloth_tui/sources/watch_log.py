"""kind = "log": follow a log file and emit log.pattern_matched on each line a pattern
matches, with upstream's fields (path, pattern, line, watcher_id) plus the matched text
and its capture groups (`groups`: positional, `named`: by name). `preset = "ssh-auth"`
reads sshd's lines instead (sources/watch_sshauth.py).

The file is followed through rotation the way `tail -F` does: renamed away and created
anew (the old file is read to its end, then the new one from its start), or truncated
in place (copytruncate: read again from the start). A missing file is waited for. One
line is cut at `max_line` bytes (the rest of it is skipped), so one hostile line costs
a bounded match, and one look reads at most READ_CAP bytes (the rest at the next one).
"""

from __future__ import annotations

import asyncio
import os
import stat
from typing import IO, Any, Protocol

from sloth_tui.sources.watch_base import Found, PolledWatcher, Sleep, WatchError, vet_regex
from sloth_tui.sources.watch_config import LogWatch

READ_CAP = 4 << 20  # bytes one look reads
CHUNK = 64 << 10
Line = tuple[str, bool]  # (text, cut at max_line)


class LogFollower:
    """The reading: new complete lines since the last look, across rotation. Blocking."""

    def __init__(self, path: str, max_line: int, from_start: bool) -> None:
        self.path = path
        self.max_line = max_line
        self._from_start = from_start  # the first open only; a later file is read whole
        self._file: IO[bytes] | None = None
        self._buf = bytearray()
        self._skipping = False  # inside a line past max_line: dropped up to its newline
        self.waiting = False  # the path names no file (yet, or since a rotation)
        self.rotations = 0
        self.truncations = 0
        self.cut = 0  # lines cut at max_line

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None
        self._buf.clear()
        self._skipping = False

    def read(self) -> list[Line]:
        budget = [READ_CAP]
        lines: list[Line] = []
        if self._file is None and not self._open():
            return lines
        assert self._file is not None
        lines += self._drain(budget)
        try:
            now = os.stat(self.path)
        except FileNotFoundError:
            self.waiting = True  # renamed away, no new file yet: the old one may still grow
            return lines
        self.waiting = False
        held = os.fstat(self._file.fileno())
        if (now.st_dev, now.st_ino) != (held.st_dev, held.st_ino):
            if budget[0] <= 0:
                return lines  # finish the old file at the next look
            lines += self._end_of_file()
            self.close()
            self.rotations += 1
            if self._open():
                lines += self._drain(budget)
        elif held.st_size < self._file.tell():
            lines += self._end_of_file()
            self._file.seek(0)
            self.truncations += 1
            lines += self._drain(budget)
        return lines

    def _open(self) -> bool:
        try:
            # Non-blocking: a FIFO at the path must not hang the open until a writer comes.
            fd = os.open(self.path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
        except FileNotFoundError:
            self.waiting = True
            self._from_start = True  # a file that appears later is news from its start
            return False
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            os.close(fd)
            raise WatchError(f"{self.path} is not a regular file")
        os.set_blocking(fd, True)
        f = os.fdopen(fd, "rb")
        if not self._from_start:
            f.seek(0, os.SEEK_END)
        self._from_start = True
        self._file = f
        self.waiting = False
        return True

    def _drain(self, budget: list[int]) -> list[Line]:
        assert self._file is not None
        lines: list[Line] = []
        while budget[0] > 0:
            chunk = self._file.read(min(CHUNK, budget[0]))
            if not chunk:
                break
            budget[0] -= len(chunk)
            start = 0
            while (end := chunk.find(b"\n", start)) >= 0:
                line = self._complete(chunk[start:end])
                if line is not None:
                    lines.append(line)
                start = end + 1
            self._partial(chunk[start:], lines)
        return lines

    def _partial(self, piece: bytes, lines: list[Line]) -> None:
        if self._skipping or not piece:
            return
        self._buf += piece
        if len(self._buf) > self.max_line:
            lines.append(self._text(bytes(self._buf[: self.max_line]), cut=True))
            self._buf.clear()
            self._skipping = True

    def _complete(self, piece: bytes) -> Line | None:
        if self._skipping:
            self._skipping = False
            return None
        self._buf += piece
        data = bytes(self._buf)
        self._buf.clear()
        if len(data) > self.max_line:
            return self._text(data[: self.max_line], cut=True)
        return self._text(data, cut=False)

    def _end_of_file(self) -> list[Line]:
        """A file left behind (rotated or truncated): its unfinished last line is a line."""
        tail = bytes(self._buf)
        skipping, self._skipping = self._skipping, False
        self._buf.clear()
        return [self._text(tail, cut=False)] if tail and not skipping else []

    def _text(self, data: bytes, *, cut: bool) -> Line:
        if cut:
            self.cut += 1
        text = data.decode("utf-8", "replace")  # never a lone surrogate: storable
        return (text[:-1] if text.endswith("\r") else text), cut


class Matcher(Protocol):
    def match(self, line: str, cut: bool) -> Found: ...


class PatternMatcher:
    """log.pattern_matched on the first match in a line."""

    def __init__(self, spec: LogWatch) -> None:
        self.spec = spec
        self.regex = vet_regex(spec.pattern)  # RE2: linear in the line, whatever it holds

    def match(self, line: str, cut: bool) -> Found:
        # A line is never a lone surrogate (LogFollower decodes with "replace"): RE2 takes it.
        m = self.regex.search(line)
        if m is None:
            return []
        data: dict[str, Any] = {
            "path": self.spec.path,
            "pattern": self.spec.pattern,
            "line": line,
            "watcher_id": self.spec.name,
            "match": m.group(0),
            "groups": list(m.groups()),
            "named": m.groupdict(),
        }
        if cut:
            data["line_cut"] = True
        return [("log.pattern_matched", data)]


class LogWatcher(PolledWatcher):
    kind = "log"
    produces = ("log.pattern_matched", "security.login_failed", "security.login_success")
    first_look_is_news = True

    def __init__(self, spec: LogWatch, *, sleep: Sleep = asyncio.sleep) -> None:
        super().__init__(spec.name, spec.interval, sleep=sleep)
        self.spec = spec
        self.follower = LogFollower(spec.path, spec.max_line, spec.from_start)
        self.matcher: Matcher
        if spec.preset == "ssh-auth":
            from sloth_tui.sources.watch_sshauth import SshAuthMatcher

            self.matcher = SshAuthMatcher(spec.name)
        else:
            self.matcher = PatternMatcher(spec)

    def _look(self) -> Found:
        found: Found = []
        for line, cut in self.follower.read():
            found += self.matcher.match(line, cut)
        return found

    async def check(self) -> Found:
        return await asyncio.to_thread(self._look)

    async def cleanup(self) -> None:
        self.follower.close()

    def describe(self) -> str:
        f = self.follower
        what = "sshd's logins (ssh-auth)" if self.spec.preset else f"pattern {self.spec.pattern!r}"
        text = f"{self.spec.path} for {what}, every {self.spec.interval:g}s"
        if f.waiting:
            text += ", waiting for the file to exist"
        if f.rotations or f.truncations:
            text += f", rotated {f.rotations}x, truncated {f.truncations}x"
        if f.cut:
            text += f", {f.cut} lines cut at {f.max_line} bytes"
        return text
