"""`serve` takes a home over from a dashboard that runs its engine embedded.

One engine owns a data dir at a time (engine.lock). A dashboard opened with no daemon
running holds it, and serves the home's socket with the role "dashboard". When `serve`
starts on that home (a systemd restart, say), it asks that dashboard to hand over (op
`handover`): the dashboard stops taking requests, answers what it owes, closes its engine
(every acknowledged event is committed; queued hooks finish), releases the lock, and
attaches to `serve` as soon as it answers. `serve` waits for the lock meanwhile.

A daemon (role "serve") is never asked: two daemons on one home stay an error.
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, TypeVar

from sloth_tui.config import Settings
from sloth_tui.model.errors import EngineLocked
from sloth_tui.remote.protocol import encode

log = logging.getLogger("sloth_tui.serve")

HANDOVER_WAIT = 60.0  # seconds serve waits for a dashboard to let go (its hooks may be running)
LOCK_POLL = 0.05  # seconds between tries of the lock while the dashboard closes

T = TypeVar("T")


async def _request(path: Path, lines: list[dict[str, Any]], timeout: float) -> list[Any]:
    """Send `lines` on the Unix socket `path`; the decoded replies, one per line."""
    import json

    reader, writer = await asyncio.wait_for(asyncio.open_unix_connection(str(path)), timeout)
    try:
        writer.write(b"".join(encode(line) for line in lines))
        await writer.drain()
        replies = []
        for _ in lines:
            raw = await asyncio.wait_for(reader.readline(), timeout)
            if not raw:
                break
            replies.append(json.loads(raw))
        return replies
    finally:
        writer.close()


def _candidate_sockets(settings: Settings) -> list[Path]:
    """Where a dashboard on this home serves: the configured socket, or the home's default
    (serve may have been given another --socket)."""
    paths = [settings.socket_path, settings.home / "sloth.sock"]
    return list(dict.fromkeys(paths))


async def ask_dashboard_to_hand_over(settings: Settings, timeout: float = 5.0) -> int | None:
    """If a dashboard's embedded engine answers for this home, ask it to hand over.

    Returns its pid once it has agreed, or None when no dashboard answers (the lock is
    then held by a daemon or a one-shot command, and nothing is asked of it).
    """
    for path in _candidate_sockets(settings):
        try:
            (ping,) = await _request(path, [{"op": "ping"}], timeout)
        except (OSError, TimeoutError, ValueError):
            continue
        info = ping.get("engine") if isinstance(ping, dict) else None
        if not isinstance(info, dict) or info.get("role") != "dashboard":
            continue
        if info.get("home") != str(settings.home):
            continue
        try:
            (reply,) = await _request(path, [{"op": "handover", "pid": os.getpid()}], timeout)
        except (OSError, TimeoutError, ValueError):
            continue
        if isinstance(reply, dict) and reply.get("ok"):
            return int(info.get("pid") or 0)
    return None


async def open_taking_over(
    settings: Settings,
    open_engine: Callable[[], Awaitable[T]],
    *,
    wait: float = HANDOVER_WAIT,
    clock: Callable[[], float] = time.monotonic,
) -> T:
    """`open_engine()`; if a dashboard holds the home, have it hand over, then open."""
    try:
        return await open_engine()
    except EngineLocked as locked:
        pid = await ask_dashboard_to_hand_over(settings)
        if pid is None:
            raise
        first = locked
    log.info("a dashboard (pid %d) runs this home's engine: it is handing over to serve", pid)
    deadline = clock() + wait
    while True:
        await asyncio.sleep(LOCK_POLL)
        try:
            return await open_engine()
        except EngineLocked:
            if clock() > deadline:
                raise EngineLocked(
                    f"the dashboard (pid {pid}) on {settings.home} did not hand over within "
                    f"{wait:.0f} s; quit it, or stop it with kill {pid}"
                ) from first
