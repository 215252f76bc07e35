"""One run's view of the host: what every host module's calls share.

The host modules (modules/) handle a hook's log/http/event/state/json calls;
each gets this context first. It holds the run (hook, event, dry run, deadline,
limits, the host), the record (`logs`, `calls`, both capped) and the run's host
memory budget. Nothing here raises into Lua: a refusal comes back as values the
module's Lua wrapper turns into `nil, err` or a tripped limit.
"""

from __future__ import annotations

import json
import time
from typing import Any

from sloth_tui.lua.budget import LIMIT_NAME, HostBudget
from sloth_tui.lua.convert import clip
from sloth_tui.lua.host import HostAPI
from sloth_tui.lua.limits import (
    LOG_BYTES_MAX,
    MAX_CALLS,
    MAX_LOG_LINES,
    RECORD_BYTES_MAX,
    RECORD_TEXT_MAX,
    Limits,
    size_text,
)
from sloth_tui.model.records import Event, LogLine

# The call fields that can be large: kept clipped (diff: file_ops' edits).
_PAYLOADS = ("data", "value", "body", "diff")
_ALWAYS_KEPT = 256  # payloads this small are kept whole even past RECORD_BYTES_MAX


class RunContext:
    __slots__ = (
        "budget",
        "calls",
        "deadline",
        "dropped_calls",
        "dropped_logs",
        "dry_run",
        "event",
        "hook",
        "host",
        "limits",
        "log_bytes",
        "logs",
        "lua",
        "record_bytes",
        "scratch",
        "source",
    )  # fmt: skip

    def __init__(
        self,
        lua: Any,
        host: HostAPI,
        hook: str,
        event: Event,
        *,
        dry_run: bool,
        deadline: float,
        limits: Limits,
        logs: list[LogLine],
        calls: list[dict[str, Any]],
    ) -> None:
        self.lua = lua  # the LuaRuntime, for answers that are tables (convert.to_lua)
        self.host = host
        self.hook = hook
        self.source = f"hook:{hook}"  # what dispatched events carry as their source
        self.event = event
        self.dry_run = dry_run
        self.deadline = deadline
        self.limits = limits
        self.logs = logs
        self.calls = calls
        # Per-run state a module keeps between its calls, by module name (the state
        # module's dry-run overlay). Gone with the run.
        self.scratch: dict[str, Any] = {}
        self.dropped_logs = 0
        self.dropped_calls = 0
        self.budget = HostBudget(limits.host_memory)
        self.log_bytes = 0  # log text kept in `logs`
        self.record_bytes = 0  # payload text kept in `calls`

    # -- recording -------------------------------------------------------------
    def record(self, call: dict[str, Any]) -> None:
        """Keep `call` in the record, its payloads clipped: the record travels in
        replies and notices, so it holds copies of bounded size, never the data."""
        if len(self.calls) >= MAX_CALLS:
            self.dropped_calls += 1
            return
        for key in _PAYLOADS:
            if key in call:
                call[key] = self._kept(call[key])
        self.calls.append(call)

    def _kept(self, value: Any) -> Any:
        if value is None or isinstance(value, bool | int | float):
            return value
        if isinstance(value, str):
            text = value
        else:
            try:
                text = json.dumps(value, ensure_ascii=False, default=str)
            except (ValueError, RecursionError):
                text = repr(value)
        size = min(len(text), RECORD_TEXT_MAX)
        if size > _ALWAYS_KEPT and self.record_bytes + size > RECORD_BYTES_MAX:
            return f"…[{len(text)} characters not kept: {size_text(RECORD_BYTES_MAX)} per run]"
        self.record_bytes += size
        if len(text) > RECORD_TEXT_MAX:
            return clip(text, RECORD_TEXT_MAX)  # the JSON text, cut: no longer a table
        return value

    def charge(self, size: int, fn: str, failed: Any) -> Any:
        """None while the run's host budget holds; else the refusal a module's call
        returns: (failed, message, "host_memory"), and the Lua side trips the limit."""
        if self.budget.charge(size, fn):
            return None
        return failed, f"{fn}: host memory limit exceeded", LIMIT_NAME

    def log(self, level: str, message: str) -> str | None:
        """Keep a log line. None, or the limit to trip when the run's host budget is spent."""
        size = len(message)
        if len(self.logs) >= MAX_LOG_LINES or self.log_bytes + size > LOG_BYTES_MAX:
            self.dropped_logs += 1  # not kept, so not charged
            return None
        if not self.budget.charge(size, "log"):
            return LIMIT_NAME
        self.log_bytes += size
        self.logs.append(LogLine(level, time.time(), message))
        return None

    def close(self) -> None:
        """Say what the caps dropped, so a truncated record is visibly truncated."""
        if self.dropped_logs:
            note = (
                f"{self.dropped_logs} more log lines dropped (limit {MAX_LOG_LINES} lines"
                f" or {size_text(LOG_BYTES_MAX)} per run)"
            )
            self.logs.append(LogLine("warn", time.time(), note))
        if self.dropped_calls:
            self.calls.append({"fn": "calls.dropped", "count": self.dropped_calls})
        if self.budget.exceeded_by is not None:
            note = (
                f"{self.budget.exceeded_by} refused: host memory limit"
                f" ({size_text(self.budget.limit)} per run; {self.budget.used:,} bytes used)"
            )
            self.logs.append(LogLine("error", time.time(), note))
