"""The host-side byte budget of one hook run.

The Lua heap is capped by lupa, but whatever a hook hands to Python lives
outside that cap: the data of dispatched events, log text, http request and
response bodies, state values and json.decode input. Each of those is charged
here as it crosses; once a run's total passes the limit the call is refused,
and the run is stopped with the `host_memory` limit (the Lua side trips it).

Sizes are counted in characters of the text that crossed (close to bytes for
the ASCII-heavy JSON hooks send; a slight under-count for other text is fine:
the point is a bound in the tens of MiB, not an exact figure).
"""

from __future__ import annotations

from dataclasses import dataclass

LIMIT_NAME = "host_memory"  # the limit name the Lua side trips, as in Execution.limit


@dataclass(slots=True)
class HostBudget:
    limit: int
    used: int = 0
    exceeded_by: str | None = None  # the call that crossed the limit, e.g. "event.dispatch"

    def charge(self, size: int, what: str) -> bool:
        """Count `size` bytes for `what`; False once the run's total is past the limit.

        A refused call is not counted (its bytes are dropped at once), but every
        later call is refused too: the run is being stopped.
        """
        if self.exceeded_by is not None:
            return False
        if self.used + size > self.limit:
            self.exceeded_by = what
            return False
        self.used += size
        return True
