"""The notice stream of an attached client: one subscription that re-establishes itself.

Notices are rebuilt into real records and fanned out on a local Bus, so
RemoteEngine.subscribe() hands out the very Subscription type an embedded
engine does. Two extra kinds tell the story of the connection:
`disconnected` (a one-line reason) and `connected` (the daemon's info).
(Split out of the client when the transport moved from sources/ to remote/.)
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

from sloth_tui.engine.bus import Bus
from sloth_tui.model.errors import SlothError
from sloth_tui.remote.ops import stats_from_dict as stats_from_dict  # its old home
from sloth_tui.remote.protocol import error_from_reply, notice_from_wire
from sloth_tui.remote.wire import Address, WireConnection

log = logging.getLogger("sloth_tui.client")

BACKOFF = (0.2, 2.0)  # reconnect delay: first, max


class NoticeStream:
    def __init__(self, address: Address, info: dict[str, Any]) -> None:
        self.address = address
        self.info = info
        self.bus = Bus()
        self.stats = stats_from_dict(info.get("stats") or {})
        self.connected = True
        self._live = asyncio.Event()  # subscribed right now
        self._task: asyncio.Task[None] | None = None
        self._closed = False

    @property
    def label(self) -> str:
        return f"daemon pid {self.info.get('pid', '?')} on {self.address}"

    def start(self) -> None:
        """Lazily: a CLI command that never subscribes opens no stream."""
        if self._task is None and not self._closed:
            self._task = asyncio.get_running_loop().create_task(self._run(), name="notices")

    async def wait_live(self, timeout: float) -> bool:
        self.start()
        try:
            await asyncio.wait_for(self._live.wait(), timeout)
        except TimeoutError:
            return False
        return True

    async def close(self, reason: str) -> None:
        self._closed = True
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        self.bus.publish("shutdown", reason)

    async def _run(self) -> None:
        delay = BACKOFF[0]
        while not self._closed:
            try:
                conn = await WireConnection.open(self.address)
            except SlothError as exc:
                self._set_connected(False, str(exc))
                await asyncio.sleep(delay)
                delay = min(delay * 2, BACKOFF[1])
                continue
            try:
                await self._stream(conn)
                reason = "the daemon closed the connection"
            except (OSError, ValueError, SlothError) as exc:
                reason = f"lost the daemon on {self.address}: {exc}"
            finally:
                conn.close()
            delay = BACKOFF[0]
            self._set_connected(False, reason)

    async def _stream(self, conn: WireConnection) -> None:
        ping = await conn.request({"op": "ping"})
        if not ping.get("ok"):
            raise error_from_reply(ping)
        self.info = ping.get("engine") or self.info
        reply = await conn.request({"op": "subscribe"})
        if not reply.get("ok"):
            raise error_from_reply(reply)
        self._set_connected(True, "")
        self._live.set()
        while True:
            line = await conn.read()
            if "notice" not in line:  # the daemon's last line before it hangs up (too slow)
                raise error_from_reply(line)
            notice = notice_from_wire(line)
            if notice.kind == "stats" and isinstance(notice.payload, dict):
                self.stats = stats_from_dict(notice.payload)
                self.bus.publish("stats", self.stats)
            elif notice.kind == "shutdown":
                # Here `shutdown` would mean this client closed; the daemon stopping
                # is a disconnection, and the stream will come back with it.
                self._set_connected(False, f"the daemon is shutting down ({notice.payload})")
            else:
                self.bus.publish(notice.kind, notice.payload)

    def _set_connected(self, connected: bool, reason: str) -> None:
        if not connected:
            self._live.clear()
        if connected == self.connected:
            return
        self.connected = connected
        if connected:
            log.info("attached to %s", self.label)
            self.bus.publish("connected", dict(self.info))
        else:
            # Info, not warning: each subscriber says it in its own words (the
            # dashboard's banner, the tail's "reconnecting"), and a warning printed it twice.
            log.info("%s", reason)
            self.bus.publish("disconnected", reason)
