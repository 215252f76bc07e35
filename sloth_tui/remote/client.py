"""RemoteEngine: the Engine API over the socket, for the CLI and an attached dashboard.

Same method names, signatures and return types as sloth_tui.engine.engine.Engine
for everything the CLI and the dashboard use, so a screen cannot tell which it
has. Differences worth knowing:

- `subscribe()` returns a real sloth_tui.engine.bus.Subscription fed by one
  notice stream from the daemon, which reconnects by itself. Two extra notice
  kinds say so: `disconnected` (payload: a one-line reason) and `connected`
  (payload: the daemon's info dict). The daemon stopping arrives as
  `disconnected`; `shutdown` means only that this RemoteEngine was closed.
  Notices during a gap are lost: backfill with query_events(after_id=...).
- `stats()` is the latest figure the daemon published (every second).
- `close()` detaches; the daemon keeps running.
"""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path
from typing import Any

from sloth_tui.config import Settings
from sloth_tui.engine.bus import Subscription
from sloth_tui.model.errors import EventRefused, SlothError
from sloth_tui.model.filters import Filter
from sloth_tui.model.records import Event, Execution, Hook
from sloth_tui.model.stats import EngineStats, HookStats
from sloth_tui.remote.notices import NoticeStream
from sloth_tui.remote.protocol import (
    DaemonUnavailable,
    error_from_reply,
    filter_to_wire,
    probe,
)
from sloth_tui.remote.wire import Address, WireConnection

log = logging.getLogger("sloth_tui.client")

POOL_SIZE = 8  # concurrent requests; more wait for a free connection


TCP_PREFIX = "tcp://"


def attach_address(attach: str, token_file: str | None = None) -> Address:
    """`--attach SOCKET` or `--attach tcp://HOST:PORT` (with the daemon's token file).

    TCP is loopback only, as `serve --tcp` is: the way in from elsewhere is an SSH
    tunnel, and the token must not cross a network in the clear.
    """
    if attach.startswith(TCP_PREFIX):
        from sloth_tui.remote.server import TcpAddress, read_token

        tcp = TcpAddress.parse(attach[len(TCP_PREFIX) :], option="--attach")
        if token_file is None:
            raise SlothError(
                f"--attach {attach} needs --token-file FILE (or SLOTH_TUI_TOKEN_FILE): "
                "the file holding the daemon's TCP token"
            )
        return Address(host=tcp.host, port=tcp.port, token=read_token(token_file))
    path = Path(attach).expanduser()
    if probe(path) is None:
        raise DaemonUnavailable(f"no sloth-tui daemon answers on {path}")
    return Address(path=path)


def choose_engine(
    settings: Settings, attach: str | None, embedded: bool, token_file: str | None = None
) -> Address | None:
    """Where the daemon to attach to listens, or None for the embedded engine.

    `--attach` insists (error when nothing answers: a TCP daemon is asked when the
    command connects), `--embedded` never attaches, and by default the daemon on
    settings.socket_path is used when it answers.
    """
    if attach and embedded:
        raise SlothError("--attach and --embedded exclude each other")
    if token_file is not None and not (attach or "").startswith(TCP_PREFIX):
        raise SlothError(f"--token-file is only used with --attach {TCP_PREFIX}HOST:PORT")
    if embedded:
        return None
    if attach:
        return attach_address(attach, token_file)
    if probe(settings.socket_path) is None:
        return None
    return Address(path=settings.socket_path)


def _hook_stats_from_dict(d: dict[str, Any]) -> HookStats:
    return HookStats(
        d["hook"],
        int(d["runs"]),
        int(d["failures"]),
        float(d["avg_ms"]),
        float(d["p50_ms"]),
        float(d["p95_ms"]),
        d.get("last_run"),
    )


class RemoteEngine:
    remote = True
    readonly = False

    def __init__(self, settings: Settings, address: Address, info: dict[str, Any]) -> None:
        self.settings = settings
        self.address = address
        self.started = float(info.get("started", 0.0))
        self._idle: list[WireConnection] = []
        self._slots = asyncio.Semaphore(POOL_SIZE)
        self._notices = NoticeStream(address, info)
        self._closed = False

    @classmethod
    async def open(
        cls,
        settings: Settings,
        socket: str | Path | Address | None = None,
    ) -> RemoteEngine:
        """Connect and ping; DaemonUnavailable when nothing answers. `socket` is a Unix
        socket path (default: the data dir's) or an Address (TCP with its token)."""
        if isinstance(socket, Address):
            address = socket
        else:
            address = Address(path=Path(socket or settings.socket_path).expanduser())
        conn = await WireConnection.open(address)
        try:
            reply = await conn.request({"op": "ping"})
        except (OSError, ValueError) as exc:
            conn.close()
            raise DaemonUnavailable(f"the daemon on {address} did not answer: {exc}") from None
        if not reply.get("ok"):
            conn.close()
            raise error_from_reply(reply)
        engine = cls(settings, address, reply.get("engine") or {})
        engine._idle.append(conn)
        return engine

    @property
    def info(self) -> dict[str, Any]:
        """The daemon's ping info: version, pid, home, socket, started (refreshed on reconnect)."""
        return self._notices.info

    @property
    def label(self) -> str:
        """For the dashboard header: which engine this is."""
        return self._notices.label

    @property
    def connected(self) -> bool:
        return self._notices.connected and not self._closed

    # -- requests -------------------------------------------------------------------

    async def _call(self, op: str, *, retry: bool = False, **params: Any) -> dict[str, Any]:
        """One request on a pooled connection. Queries (retry=True) survive a daemon restart."""
        if self._closed:
            raise DaemonUnavailable("this remote engine is closed")
        request = {"op": op, **{k: v for k, v in params.items() if v is not None}}
        async with self._slots:
            for attempt in range(2 if retry else 1):
                conn = self._checkout() or await WireConnection.open(self.address)
                try:
                    reply = await conn.request(request)
                except (OSError, ValueError) as exc:
                    conn.close()
                    if attempt == 0 and retry:
                        continue
                    raise DaemonUnavailable(
                        f"lost the daemon on {self.address} during {op}: {exc}"
                    ) from None
                except BaseException:  # cancelled mid-request: the reply would be misread later
                    conn.close()
                    raise
                self._idle.append(conn)
                break
        if not reply.get("ok"):
            raise error_from_reply(reply)
        return reply

    def _checkout(self) -> WireConnection | None:
        while self._idle:
            conn = self._idle.pop()
            if conn.usable:
                return conn
            conn.close()
        return None

    # -- events ---------------------------------------------------------------------

    async def dispatch(
        self,
        type: str,
        data: dict[str, Any] | None = None,
        *,
        source: str = "cli",
        parent: Event | None = None,
        strict: bool | None = None,
        wait: bool = False,
    ) -> Event:
        _no_parent(parent)
        reply = await self._call(
            "dispatch", type=type, data=data, source=source, strict=strict, wait=wait
        )
        return Event.from_dict(reply["event"])

    async def dispatch_and_run(
        self, type: str, data: dict[str, Any] | None = None, **kwargs: Any
    ) -> tuple[Event, list[Execution]]:
        _no_parent(kwargs.pop("parent", None))
        reply = await self._call("dispatch", type=type, data=data, wait=True, **kwargs)
        return Event.from_dict(reply["event"]), _executions(reply)

    async def rerun(
        self, event_id: int, hooks: list[str] | None = None
    ) -> tuple[Event, list[Execution]]:
        reply = await self._call("rerun", id=event_id, hooks=hooks)
        return Event.from_dict(reply["event"]), _executions(reply)

    async def get_event(self, event_id: int) -> Event:
        return Event.from_dict((await self._call("get_event", retry=True, id=event_id))["event"])

    async def query_events(
        self,
        flt: Filter | None = None,
        *,
        limit: int = 100,
        before_id: int | None = None,
        after_id: int | None = None,
        since: float | None = None,
        until: float | None = None,
    ) -> list[Event]:
        reply = await self._call(
            "query_events",
            retry=True,
            filter=filter_to_wire(flt),
            limit=limit,
            before_id=before_id,
            after_id=after_id,
            since=since,
            until=until,
        )
        return [Event.from_dict(e) for e in reply["events"]]

    async def count_events(self, flt: Filter | None = None) -> int:
        return int(
            (await self._call("count_events", retry=True, filter=filter_to_wire(flt)))["count"]
        )

    async def child_events(self, event_id: int) -> list[Event]:
        reply = await self._call("child_events", retry=True, id=event_id)
        return [Event.from_dict(e) for e in reply["events"]]

    async def executions_of(self, event_id: int) -> list[Execution]:
        return _executions(await self._call("executions_of", retry=True, event_id=event_id))

    async def executions(
        self,
        hook: str | None = None,
        event_id: int | None = None,
        status: str | None = None,
        only_failed: bool = False,
        include_dry_runs: bool = True,
        before_id: int | None = None,
        limit: int = 100,
    ) -> list[Execution]:
        return _executions(
            await self._call(
                "executions",
                retry=True,
                hook=hook,
                event_id=event_id,
                status=status,
                only_failed=only_failed,
                include_dry_runs=include_dry_runs,
                before_id=before_id,
                limit=limit,
            )
        )

    async def hook_outcomes(self, event_ids: list[int]) -> dict[int, list[tuple[str, str]]]:
        reply = await self._call("hook_outcomes", retry=True, ids=event_ids)
        return {
            int(i): [(hook, status) for hook, status in runs]
            for i, runs in reply["outcomes"].items()
        }

    async def delete_event(self, event_id: int) -> None:
        await self._call("delete_event", id=event_id)

    async def cleanup(self, older_than: float) -> int:
        return int((await self._call("cleanup", older_than=older_than))["deleted"])

    async def counts(self) -> dict[str, Any]:
        reply = await self._call("counts", retry=True)
        return {"categories": reply["categories"], "types": reply["types"]}

    # -- hooks ----------------------------------------------------------------------

    async def list_hooks(self) -> list[Hook]:
        return [Hook.from_dict(h) for h in (await self._call("list_hooks", retry=True))["hooks"]]

    async def get_hook(self, name: str) -> Hook:
        return Hook.from_dict((await self._call("get_hook", retry=True, name=name))["hook"])

    async def add_hook(
        self,
        name: str,
        events: list[str],
        file: str | Path,
        *,
        description: str = "",
        enabled: bool = True,
        timeout: float | None = None,
        max_instructions: int | None = None,
        max_memory_mb: int | None = None,
    ) -> Hook:
        # The daemon resolves paths against its own cwd: send an absolute one.
        reply = await self._call(
            "add_hook",
            name=name,
            events=list(events),
            file=str(Path(file).expanduser().resolve()),
            description=description,
            enabled=enabled,
            timeout=timeout,
            max_instructions=max_instructions,
            max_memory_mb=max_memory_mb,
        )
        return Hook.from_dict(reply["hook"])

    async def update_hook(self, name: str, **changes: Any) -> Hook:
        if "file" in changes:
            changes["file"] = str(Path(changes["file"]).expanduser().resolve())
        return Hook.from_dict((await self._call("update_hook", name=name, changes=changes))["hook"])

    async def set_hook_enabled(self, name: str, enabled: bool) -> Hook:
        reply = await self._call("set_hook_enabled", name=name, enabled=enabled)
        return Hook.from_dict(reply["hook"])

    async def delete_hook(self, name: str) -> None:
        await self._call("delete_hook", name=name)

    async def hook_stats(self) -> dict[str, HookStats]:
        reply = await self._call("hook_stats", retry=True)
        return {name: _hook_stats_from_dict(d) for name, d in reply["stats"].items()}

    async def test_hook(
        self,
        hook: Hook | str,
        event_type: str | None = None,
        data: dict[str, Any] | None = None,
        *,
        event: Event | None = None,
        code: str | None = None,
    ) -> Execution:
        reply = await self._call(
            "test_hook",
            hook=hook if isinstance(hook, str) else hook.to_dict(),
            event_type=event_type,
            data=data,
            event=None if event is None else event.to_dict(),
            code=code,
        )
        return Execution.from_dict(reply["execution"])

    async def wait_idle(self, timeout: float = 30.0) -> bool:
        return bool((await self._call("wait_idle", timeout=timeout))["idle"])

    # -- notices and stats ------------------------------------------------------------

    def subscribe(self, maxsize: int = 10_000) -> Subscription:
        self._notices.start()
        return self._notices.bus.subscribe(maxsize)

    def stats(self) -> EngineStats:
        self._notices.start()
        return self._notices.stats

    async def wait_subscribed(self, timeout: float = 5.0) -> bool:
        """Wait until notices flow (after subscribe()), so nothing later is missed."""
        return await self._notices.wait_live(timeout)

    # -- lifecycle --------------------------------------------------------------------

    async def close(self, reason: str = "detached") -> None:
        """Detach from the daemon (it keeps running)."""
        if self._closed:
            return
        self._closed = True
        for conn in self._idle:
            conn.close()
        self._idle.clear()
        await self._notices.close(reason)

    async def __aenter__(self) -> RemoteEngine:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()


def _no_parent(parent: Event | None) -> None:
    if parent is not None:
        raise EventRefused("events with a parent are dispatched by hooks, inside the engine")


def _executions(reply: dict[str, Any]) -> list[Execution]:
    return [Execution.from_dict(e) for e in reply["executions"]]
