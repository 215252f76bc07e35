"""Per-run limits of a hook, and the caps on what one run may record."""

from __future__ import annotations

import tempfile
from dataclasses import dataclass


@dataclass(frozen=True)
class Limits:
    timeout: float = 10.0  # seconds, wall clock; http time included (Hook.timeout wins when > 0)
    instructions: int = 100_000_000  # Lua VM instructions, counted in steps of CHECK_EVERY
    memory: int = 64 * 1024 * 1024  # bytes of Lua heap for the runtime serving the run
    http_body_cap: int = 1024 * 1024  # response bytes kept; the rest is dropped, `truncated` set
    # Bytes one run may make Python hold (outside the Lua heap cap): see budget.py.
    host_memory: int = 16 * 1024 * 1024
    # file_ops: the directories its paths must resolve into (symlinks followed). The
    # engine passes [sandbox] file_roots; bare Limits() allow only the system temp dir.
    file_roots: tuple[str, ...] = (tempfile.gettempdir(),)
    # file_ops: the largest file it copies, fetches or unpacks (an archive's members in
    # total), checked from the size on disk or in the archive before reading a byte.
    file_bytes: int = 64 * 1024 * 1024
    # secret.get: (vault file, key file) of the data dir the engine serves; ("", "")
    # means no vault (bare Limits(): tests and tools), and secret.get answers nil, err.
    secret_files: tuple[str, str] = ("", "")


# VM instructions between two limit checks (count hook). A check costs one call
# to time.monotonic (~0.2 us) per ~50 us of Lua: under 1% of a busy loop, and a
# deadline is noticed within a fraction of a millisecond.
CHECK_EVERY = 10_000

# What one run may leave in its Execution: Python memory is not under the Lua cap.
MAX_LOG_LINES = 1000
MAX_CALLS = 1000
RECORD_TEXT_MAX = 64 * 1024  # one payload (event data, state value, request body) kept in `calls`
RECORD_BYTES_MAX = 1024 * 1024  # all payloads kept in one run's `calls`; later ones are elided
LOG_BYTES_MAX = 2 * 1024 * 1024  # log text kept per run; later lines are dropped and counted
JSON_DECODE_MAX = 16 * 1024 * 1024  # json.decode input, bytes
MAX_FILE_BYTES = 4 * 1024 * 1024  # a hook file larger than this is refused
# file_ops edits (lineinfile, blockinfile, replace, template) hold the file as text,
# twice (before and after, for the diff): a smaller cap than file_bytes.
FILE_TEXT_MAX = 8 * 1024 * 1024
ARCHIVE_MEMBERS_MAX = 10_000  # members one unarchive may hold


def describe(limit: str, limits: Limits, timeout: float) -> str:
    """The operator-facing message for a tripped limit."""
    if limit == "timeout":
        return f"timed out after {timeout:g} s (wall-clock limit, http time included)"
    if limit == "instructions":
        return f"instruction limit exceeded ({limits.instructions:,} Lua VM instructions)"
    if limit == "memory":
        return f"memory limit exceeded ({size_text(limits.memory)} of Lua heap)"
    if limit == "host_memory":
        return (
            f"host memory limit exceeded ({size_text(limits.host_memory)} per run of event data,"
            " log text, http bodies, state values and json.decode input)"
        )
    return f"{limit} limit exceeded"


def size_text(n: int) -> str:
    if n % (1024 * 1024) == 0:
        return f"{n // (1024 * 1024)} MiB"
    if n % 1024 == 0:
        return f"{n // 1024} KiB"
    return f"{n} bytes"
