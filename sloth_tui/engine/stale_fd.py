"""A repair for one asyncio failure: a new connection whose reader is never registered.

When a socket is closed while the event loop's selector still holds a registration for
its file descriptor, the next socket given the same fd number inherits that entry. A
transport made on it (an accepted client of the daemon's socket, say) registers its
reader in a callback, which then *modifies* the stale entry: epoll answers ENOENT (the
old registration went with the old socket), the selector drops the entry, and the
callback's exception goes to the loop's handler. Nothing registers the reader again: the
connection is never read, and its client waits for ever. Seen in CI (session 23, Python
3.12.1): right after nats-server was killed mid-publish, a socket went with a writer
still registered, and the next producer to connect got 0 of 20 acks. The code that
left it is asyncio's own writelines() after a lost connection, called by nats-py's
flusher (CPython gh-136234): fleet/writelines_guard.py prevents that one. This repair
stays for any other code that closes a socket still registered.

The repair: once the stale entry is gone, that same callback registers the reader as it
should have, so it is run again (once). Every other exception goes where it went before.
"""

from __future__ import annotations

import asyncio
import errno
import logging
from typing import Any

log = logging.getLogger("sloth_tui.engine")

_MARK = "_sloth_repairs_stale_fds"


def install(loop: asyncio.AbstractEventLoop) -> None:
    """Put the repair in front of the loop's exception handler (once per loop)."""
    previous = loop.get_exception_handler()
    if getattr(previous, _MARK, False):
        return

    def handler(loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
        if _registered_again(context):
            return
        if previous is not None:
            previous(loop, context)
        else:
            loop.default_exception_handler(context)

    setattr(handler, _MARK, True)
    loop.set_exception_handler(handler)


def _registered_again(context: dict[str, Any]) -> bool:
    """The failed callback was a transport registering its reader over a stale entry:
    run it again now that the entry is gone. False for anything else."""
    exc = context.get("exception")
    if not isinstance(exc, OSError) or exc.errno != errno.ENOENT:
        return False
    handle = context.get("handle")
    # asyncio's private parts, read defensively: on any other shape, nothing is done.
    callback = getattr(handle, "_callback", None)
    args = getattr(handle, "_args", None)
    transport = getattr(callback, "__self__", None)
    if (
        not callable(callback)
        or getattr(callback, "__name__", None) != "_add_reader"
        or not isinstance(transport, asyncio.Transport)
        or not isinstance(args, tuple)
        or transport.is_closing()
    ):
        return False
    try:
        callback(*args)
    except Exception:
        return False
    log.warning(
        "a new connection (fd %s) inherited the event loop's registration of a closed "
        "socket; it was registered again and is read as usual",
        args[0] if args else "?",
    )
    return True
