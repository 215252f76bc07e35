"""A guard for one asyncio bug: writelines() after a lost connection leaves its socket
registered with the event loop after the socket is closed (CPython gh-136234).

Python 3.12 gave socket transports their own writelines() (gathered writes with
sendmsg). Unlike write(), it does not check whether the connection is already lost.
Between a fatal error (a reset read, an abort) and the close that the transport
schedules for the next loop iteration, a writelines() call buffers its data, finds the
transport refusing to write, and registers a *writer* for the socket. The scheduled
close then closes the socket with that writer still in the loop's selector. The next
socket given the same fd number inherits the stale entry, and its own registration
fails (engine/stale_fd.py mends the failure that raises; a stale entry can also hide
one silently). After the close itself, the same call raises AttributeError.

nats-py's flusher writes with writelines(), so a killed nats-server can do this to a
running engine. CI saw it (session 23, Python 3.12.1): the flusher's "Connection lost"
1 ms before the daemon's accepted connection on fd 21 failed to register, and that
client got no acks. Python 3.11's writelines() goes through write() and is not
affected; 3.12.1 and 3.13.0 are (3.13 fixed it in a later release).

The guard does what write() does in that state, and what CPython's fix does: the data
goes nowhere, since the connection is gone (its loss is reported to the protocol as
usual).
"""

from __future__ import annotations

import functools
from asyncio import selector_events
from collections.abc import Callable, Iterable
from typing import Any

_MARK = "_sloth_guards_lost_connections"


def install() -> bool:
    """Guard socket transports' writelines() in this process (once). False where the
    transport has no writelines() of its own (Python 3.11: write() checks already)."""
    transport_class: Any = getattr(selector_events, "_SelectorSocketTransport", None)
    original = vars(transport_class).get("writelines") if transport_class else None
    if original is None:
        return False
    if getattr(original, _MARK, False):
        return True
    transport_class.writelines = _guarded(original)
    return True


def _guarded(original: Callable[[Any, Iterable[Any]], None]) -> Callable[..., None]:
    @functools.wraps(original)
    def writelines(self: Any, list_of_data: Iterable[Any]) -> None:
        if getattr(self, "_conn_lost", 0):
            self._conn_lost += 1  # as write() counts writes after the loss
            return
        original(self, list_of_data)

    setattr(writelines, _MARK, True)
    return writelines
