"""A hang guard for runs that only a limit can end (an endless loop, an endless C call):
when the limit works, the run ends at its deadline; when it does not, the test fails
after HANG_GUARD seconds instead of hanging. No upper bound on the run's time is
asserted: a slow machine only makes the run longer, never long enough to reach this.

A Lua run cannot be stopped from outside, so a run that hangs is left in its daemon
thread (it ends with the test process)."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")

# Against deadlines of a second or less: only a run nothing stops gets here. Well
# under pytest-timeout's 120 s, so the failure names what hung.
HANG_GUARD = 30.0


def ends(call: Callable[[], T], what: str = "the run") -> T:
    """call()'s result, from a daemon thread; AssertionError if it is still going
    after HANG_GUARD seconds."""
    out: list[T] = []
    raised: list[BaseException] = []

    def target() -> None:
        try:
            out.append(call())
        except BaseException as exc:
            raised.append(exc)

    thread = threading.Thread(target=target, name="hang-guarded", daemon=True)
    thread.start()
    thread.join(HANG_GUARD)
    assert not thread.is_alive(), f"{what} is still going after {HANG_GUARD:g} s: nothing ended it"
    if raised:
        raise raised[0]
    return out[0]
