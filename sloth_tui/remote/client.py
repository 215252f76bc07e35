"""RemoteEngine: the EngineAPI (engine/api.py) over the socket, for the CLI and the dashboard.

It satisfies the same Protocol as sloth_tui.engine.engine.Engine (mypy checks it,
tests/engine/test_api_parity.py compares the signatures), so a screen or a command
cannot tell which it has. Each method is a one-line stub: `_op(OP, ...)` encodes
the request and decodes the reply from the operation's entry in remote/ops.py, the
table the server's handlers are derived from too. Differences worth knowing:

- `subscribe()` returns a real sloth_tui.engine.bus.Subscription fed by one
  notice stream from the daemon (remote/notices.py), which reconnects by itself.
  Two extra notice kinds say so: `disconnected` (payload: a one-line reason) and
  `connected` (payload: the daemon's info dict). The daemon stopping arrives as
  `disconnected`; `shutdown` means only that this RemoteEngine was closed.
  Notices during a gap are lost: backfill with query_events(after_id=...).
- `stats()` is the latest figure the daemon published (each second while they change).
- `check_syntax` and `declared_event_types` run in the daemon, where the hooks
  run; paths are sent absolute (the daemon has its own cwd).
- `dispatch_batch` sends plain event lines, pipelined on one connection (the
  daemon commits what it reads together), and reads the accepted events back.
  Each item is checked alone and a refused one comes back as its EventRefused.
- `close()` detaches; the daemon keeps running.
"""

from __future__ import annotations

from contextlib import AbstractAsyncContextManager
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from sloth_tui.model.errors import EventRefused, SlothError
from sloth_tui.remote import ops
from sloth_tui.remote.protocol import DaemonUnavailable, ProtocolError, error_from_reply, probe
from sloth_tui.remote.wire import Address, BlockingConnection, WireConnection
from sloth_tui.user_path import user_path

# Only for the annotations: a one-shot command (blocking=True) never loads asyncio, the
# notice stream or the bus (issue 19, cli_ratio); they are imported when first used.
if TYPE_CHECKING:
    from sloth_tui.config import Settings
    from sloth_tui.engine.api import EngineAPI, EventLine, SyntaxProblem
    from sloth_tui.engine.bus import Subscription
    from sloth_tui.model.explain import HookVerdict
    from sloth_tui.model.filters import Filter
    from sloth_tui.model.fleet import FleetStatus
    from sloth_tui.model.mirror import MirrorBatch, MirrorResult
    from sloth_tui.model.records import Event, Execution, Hook
    from sloth_tui.model.replay import ReplayReport
    from sloth_tui.model.stats import EngineStats, HookStats, SourceHealth, SourceItem
    from sloth_tui.model.trace import Trace
    from sloth_tui.remote.notices import NoticeStream
    from sloth_tui.remote.ops import Op

R = TypeVar("R")

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
    path = user_path(attach)
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


Connection = WireConnection | BlockingConnection


class _Unlimited:
    """The pool's limit when requests go one after another on a blocking socket."""

    async def __aenter__(self) -> None:
        return None

    async def __aexit__(self, *exc: object) -> None:
        return None


class RemoteEngine:
    def __init__(
        self,
        settings: Settings,
        address: Address,
        info: dict[str, Any],
        *,
        blocking: bool = False,
    ) -> None:
        self._settings = settings
        self.address = address
        self._started = float(info.get("started", 0.0))
        self._info = info
        self._blocking = blocking
        self._idle: list[Connection] = []
        self._slots: AbstractAsyncContextManager[Any]
        if blocking:
            self._slots = _Unlimited()
        else:
            import asyncio

            self._slots = asyncio.Semaphore(POOL_SIZE)
        self._notice_stream: NoticeStream | None = None  # made when first needed
        self._closed = False

    @classmethod
    async def open(
        cls,
        settings: Settings,
        socket: str | Path | Address | None = None,
        *,
        blocking: bool = False,
    ) -> RemoteEngine:
        """Connect and ping; DaemonUnavailable when nothing answers. `socket` is a Unix
        socket path (default: the data dir's) or an Address (TCP with its token).

        blocking=True: requests go on a blocking socket (wire.BlockingConnection) and no
        coroutine of this engine suspends, so a command may drive them without an event
        loop (commands/common.py run(..., oneshot=True)). Such an engine cannot
        subscribe: notices need an event loop."""
        if isinstance(socket, Address):
            address = socket
        else:
            address = Address(path=user_path(socket or settings.socket_path))
        conn: Connection = await cls._connect(address, blocking)
        try:
            reply = await conn.request({"op": "ping"})
        except (OSError, ValueError) as exc:
            conn.close()
            raise DaemonUnavailable(f"the daemon on {address} did not answer: {exc}") from None
        if not reply.get("ok"):
            conn.close()
            raise error_from_reply(reply)
        engine = cls(settings, address, reply.get("engine") or {}, blocking=blocking)
        engine._idle.append(conn)
        return engine

    @staticmethod
    async def _connect(address: Address, blocking: bool) -> Connection:
        if blocking:
            return await BlockingConnection.open(address)
        return await WireConnection.open(address)

    @property
    def _notices(self) -> NoticeStream:
        """The notice stream, made on first use: a command that never subscribes (and a
        blocking engine, which cannot) does not load it."""
        if self._notice_stream is None:
            from sloth_tui.remote.notices import NoticeStream

            self._notice_stream = NoticeStream(self.address, self._info)
        return self._notice_stream

    # -- who this engine is -------------------------------------------------------------

    @property
    def settings(self) -> Settings:
        return self._settings

    @property
    def remote(self) -> bool:
        return True

    @property
    def readonly(self) -> bool:
        return False

    @property
    def started(self) -> float:
        return self._started

    @property
    def info(self) -> dict[str, Any]:
        """The daemon's ping info: version, pid, home, socket, started (refreshed on
        reconnect), plus `address`: where this client reached it (a TCP attach differs
        from the daemon's own socket path)."""
        info = self._info if self._notice_stream is None else self._notice_stream.info
        return {**info, "address": str(self.address)}

    @property
    def label(self) -> str:
        """For the dashboard header: which engine this is."""
        if self._notice_stream is None:
            return f"daemon pid {self._info.get('pid', '?')} on {self.address}"
        return self._notice_stream.label

    @property
    def connected(self) -> bool:
        stream = self._notice_stream
        return (stream is None or stream.connected) and not self._closed

    # -- requests -------------------------------------------------------------------

    async def _op(self, op: Op[R], **args: Any) -> R:
        """One call through the table: encode the arguments, send, decode the reply."""
        reply = await self._call(op.wire_name, op.request(args), retry=op.query)
        return op.result.decode(reply)

    async def _call(
        self, op: str, fields: dict[str, Any], *, retry: bool = False
    ) -> dict[str, Any]:
        """One request on a pooled connection. Queries (retry=True) survive a daemon restart."""
        request = {"op": op, **fields}
        async with self._slots:
            for attempt in range(2 if retry else 1):
                conn = await self._connection()
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

    async def _connection(self) -> Connection:
        if self._closed:
            raise DaemonUnavailable("this remote engine is closed")
        while self._idle:
            conn = self._idle.pop()
            if conn.usable:
                return conn
            conn.close()
        return await self._connect(self.address, self._blocking)

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
        stack: str | None = None,
        agent: str | None = None,
        run_id: str | None = None,
    ) -> Event:
        return await self._op(
            ops.DISPATCH,
            type=type,
            data=data,
            source=source,
            parent=parent,
            strict=strict,
            wait=wait,
            stack=stack,
            agent=agent,
            run_id=run_id,
        )

    async def dispatch_and_run(
        self,
        type: str,
        data: dict[str, Any] | None = None,
        *,
        source: str = "cli",
        strict: bool | None = None,
        stack: str | None = None,
        agent: str | None = None,
        run_id: str | None = None,
    ) -> tuple[Event, list[Execution]]:
        return await self._op(
            ops.DISPATCH_AND_RUN,
            type=type,
            data=data,
            source=source,
            strict=strict,
            stack=stack,
            agent=agent,
            run_id=run_id,
        )

    async def dispatch_batch(self, items: list[EventLine]) -> list[Event | EventRefused]:
        """Plain event lines, pipelined on one connection (the daemon's batched ingest: one
        commit for many), then the accepted events read back in a few id-range queries."""
        async with self._slots:
            conn = await self._connection()
            try:
                replies = await conn.pipeline([ops.batch_line(item) for item in items])
            except (OSError, ValueError) as exc:
                conn.close()
                raise DaemonUnavailable(
                    f"lost the daemon on {self.address} during a batch: {exc}"
                ) from None
            except BaseException:  # cancelled: replies still owed would be misread later
                conn.close()
                raise
            self._idle.append(conn)
        ids: list[int] = []
        for reply in replies:
            if reply.get("ok"):
                ids.append(int(reply["id"]))
                continue
            error = error_from_reply(reply)
            if not isinstance(error, EventRefused | ProtocolError):
                raise error  # the daemon as a whole refuses (stopping): so does the batch
        stored = await self._events_by_id(ids)
        results: list[Event | EventRefused] = []
        for item, reply in zip(items, replies, strict=True):
            if not reply.get("ok"):
                # A refused field (a source a client may not claim) refuses this item alone.
                results.append(EventRefused(str(reply.get("error") or "refused")))
                continue
            event_id = int(reply["id"])
            # Gone already only when the retention cap dropped it meanwhile: what we know.
            results.append(stored.get(event_id) or ops.accepted_event(event_id, item, reply))
        return results

    async def _events_by_id(self, ids: list[int]) -> dict[int, Event]:
        """The events with these ids, in as few queries as the page limit allows."""
        found: dict[int, Event] = {}
        window = ops.MAX_PAGE
        pending = sorted(ids)
        while pending:
            low = pending[0]
            high = max(i for i in pending if i - low < window)
            page = await self.query_events(
                None, after_id=low - 1, before_id=high + 1, limit=high - low + 1
            )
            found.update((e.id, e) for e in page)
            pending = [i for i in pending if i > high]
        return found

    async def rerun(
        self, event_id: int, hooks: list[str] | None = None
    ) -> tuple[Event, list[Execution]]:
        return await self._op(ops.RERUN, event_id=event_id, hooks=hooks)

    async def mirror(self, batch: MirrorBatch) -> MirrorResult:
        return await self._op(ops.MIRROR, batch=batch)

    async def mirror_cursor(self, name: str) -> str | None:
        return await self._op(ops.MIRROR_CURSOR, name=name)

    async def get_event(self, event_id: int) -> Event:
        return await self._op(ops.GET_EVENT, event_id=event_id)

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
        return await self._op(
            ops.QUERY_EVENTS,
            flt=flt,
            limit=limit,
            before_id=before_id,
            after_id=after_id,
            since=since,
            until=until,
        )

    async def count_events(self, flt: Filter | None = None) -> int:
        return await self._op(ops.COUNT_EVENTS, flt=flt)

    async def child_events(self, event_id: int) -> list[Event]:
        return await self._op(ops.CHILD_EVENTS, event_id=event_id)

    async def executions_of(self, event_id: int) -> list[Execution]:
        return await self._op(ops.EXECUTIONS_OF, event_id=event_id)

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
        return await self._op(
            ops.EXECUTIONS,
            hook=hook,
            event_id=event_id,
            status=status,
            only_failed=only_failed,
            include_dry_runs=include_dry_runs,
            before_id=before_id,
            limit=limit,
        )

    async def hook_outcomes(self, event_ids: list[int]) -> dict[int, list[tuple[str, str]]]:
        return await self._op(ops.HOOK_OUTCOMES, event_ids=event_ids)

    async def delete_event(self, event_id: int) -> None:
        await self._op(ops.DELETE_EVENT, event_id=event_id)

    async def cleanup(self, older_than: float) -> int:
        return await self._op(ops.CLEANUP, older_than=older_than)

    async def counts(self) -> dict[str, Any]:
        return await self._op(ops.COUNTS)

    # -- hooks ----------------------------------------------------------------------

    async def list_hooks(self) -> list[Hook]:
        return await self._op(ops.LIST_HOOKS)

    async def get_hook(self, name: str) -> Hook:
        return await self._op(ops.GET_HOOK, name=name)

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
        stack: str | None = None,
    ) -> Hook:
        return await self._op(
            ops.ADD_HOOK,
            name=name,
            events=events,
            file=file,
            description=description,
            enabled=enabled,
            timeout=timeout,
            max_instructions=max_instructions,
            max_memory_mb=max_memory_mb,
            stack=stack,
        )

    async def update_hook(self, name: str, **changes: Any) -> Hook:
        return await self._op(ops.UPDATE_HOOK, name=name, changes=changes)

    async def set_hook_enabled(self, name: str, enabled: bool) -> Hook:
        return await self._op(ops.SET_HOOK_ENABLED, name=name, enabled=enabled)

    async def delete_hook(self, name: str) -> None:
        await self._op(ops.DELETE_HOOK, name=name)

    async def hook_stats(self) -> dict[str, HookStats]:
        return await self._op(ops.HOOK_STATS)

    async def test_hook(
        self,
        hook: Hook | str,
        event_type: str | None = None,
        data: dict[str, Any] | None = None,
        *,
        event: Event | None = None,
        code: str | None = None,
    ) -> Execution:
        return await self._op(
            ops.TEST_HOOK, hook=hook, event_type=event_type, data=data, event=event, code=code
        )

    # -- Lua, checked in the daemon ---------------------------------------------------

    async def replay(self, name: str, *, code: str | None = None, last: int = 50) -> ReplayReport:
        return await self._op(ops.REPLAY, name=name, code=code, last=last)

    async def explain(self, event_id: int, hook: str | None = None) -> list[HookVerdict]:
        return await self._op(ops.EXPLAIN, event_id=event_id, hook=hook)

    async def trace(self, event_id: int) -> Trace:
        return await self._op(ops.TRACE, event_id=event_id)

    async def check_syntax(self, code: str, chunkname: str = "hook") -> SyntaxProblem:
        return await self._op(ops.CHECK_SYNTAX, code=code, chunkname=chunkname)

    async def declared_event_types(self, path: str) -> list[str]:
        return await self._op(ops.DECLARED_EVENT_TYPES, path=path)

    # -- notices, figures, lifecycle ------------------------------------------------------

    def subscribe(self, maxsize: int = 10_000) -> Subscription:
        self._notices.start()
        return self._notices.bus.subscribe(maxsize)

    async def wait_subscribed(self, timeout: float = 5.0) -> bool:
        """Wait until notices flow (after subscribe()), so nothing later is missed."""
        return await self._notices.wait_live(timeout)

    def stats(self) -> EngineStats:
        self._notices.start()
        return self._notices.stats

    async def source_health(self) -> list[SourceHealth]:
        return await self._op(ops.SOURCE_HEALTH)

    async def source_items(self) -> list[SourceItem]:
        return await self._op(ops.SOURCE_ITEMS)

    async def control_source(self, source: str, item: str, action: str) -> str:
        return await self._op(ops.CONTROL_SOURCE, source=source, item=item, action=action)

    async def fleet_status(self) -> FleetStatus:
        return await self._op(ops.FLEET_STATUS)

    async def claim_once(self, key: str, ttl_hint: float) -> bool:
        return await self._op(ops.CLAIM_ONCE, key=key, ttl_hint=ttl_hint)

    async def wait_idle(self, timeout: float = 30.0) -> bool:
        return await self._op(ops.WAIT_IDLE, timeout=timeout)

    async def close(self, reason: str | None = None) -> None:
        """Detach from the daemon (it keeps running)."""
        if self._closed:
            return
        self._closed = True
        for conn in self._idle:
            conn.close()
        self._idle.clear()
        if self._notice_stream is not None:
            await self._notice_stream.close(reason or "detached")

    async def __aenter__(self) -> RemoteEngine:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()


if TYPE_CHECKING:  # mypy: RemoteEngine is an EngineAPI (the parity test checks signatures)

    def _conforms(engine: RemoteEngine) -> EngineAPI:
        return engine
