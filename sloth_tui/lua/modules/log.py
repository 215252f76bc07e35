"""`log.debug/info/warn/error` and `print`: lines kept in the run's record.

Safe in a dry run (a dry run's log is what the editor shows). Log text is charged
to the run's host memory budget; past the per-run caps lines are dropped and counted
(RunContext.log, which also notes the drops when the run ends).
"""

from __future__ import annotations

from sloth_tui.lua.context import RunContext
from sloth_tui.lua.modules.base import SAFE, HostCall, HostModule, lua_file


def write(ctx: RunContext, level: str, message: str) -> str | None:
    """None, or the limit to trip (the host memory budget is spent)."""
    return ctx.log(level, message)


LOG = HostModule(
    name="log",
    calls={"write": HostCall(write, dry_run=SAFE, failure=lambda message: None)},
    limits=("host_memory",),
    lua=lua_file(__name__, "log.lua"),
    doc="log lines in the run's record; print() logs at info",
    provides=("print",),
)
