"""The socket server (remote/server.py) as a Source: producers and clients reach the engine.

Unlike the other sources it stops in two phases around the engine's close (see
SourceSet.stop): `stop_intake` before it (answering what it owes), `close` after it
(subscribers get their last notices). `stop()` does both, for use on its own.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from sloth_tui.config import Settings
from sloth_tui.model.errors import SlothError
from sloth_tui.remote.server import ServerError, SocketServer
from sloth_tui.sources.status import Status

if TYPE_CHECKING:
    from sloth_tui.engine.api import EngineAPI
    from sloth_tui.model.stats import SourceHealth
    from sloth_tui.sources.options import SourceOptions


class SocketSource:
    produces = ("security.unauthorized",)  # a bad token on TCP (serve --tcp)

    def __init__(self, settings: Settings, options: SourceOptions) -> None:
        self.socket_path = settings.socket_path
        self.options = options
        self.name = "socket"
        self.server: SocketServer | None = None
        self._status = Status(self.name, "socket")

    async def start(self, api: EngineAPI) -> None:
        opts = self.options
        try:
            server = SocketServer.serving(
                api,
                self.socket_path,
                tcp=opts.tcp,
                token=opts.token,
                extra_ops=opts.extra_ops,
                role=opts.role,
            )
            try:
                await server.start()
            except OSError as exc:  # e.g. the socket's directory cannot be made
                raise ServerError(
                    f"cannot listen on {self.socket_path}: {exc.strerror or exc}"
                ) from None
            except BaseException:
                server.abort()  # the Unix listener may be up when TCP failed
                raise
        except SlothError as exc:
            raise self._status.failed(self._told(exc)) from None
        self.server = server
        self._status.running()

    def _told(self, exc: SlothError) -> SlothError:
        if self.options.role != "dashboard":
            return exc  # serve cannot run without its socket: the error is the whole story
        return ServerError(
            f"Not serving {self.socket_path} ({exc}): other sloth-tui commands "
            "cannot reach this engine while the dashboard runs."
        )

    async def stop_intake(self) -> None:
        if self.server is not None:
            await self.server.stop_intake()

    async def close(self) -> None:
        if self.server is not None:
            await self.server.close()
        self._status.stopped()

    async def stop(self) -> None:
        await self.stop_intake()
        await self.close()

    def abort(self) -> None:
        if self.server is not None:
            self.server.abort()
        self._status.stopped()

    def health(self) -> SourceHealth:
        server = self.server
        if server is None:
            return self._status.health(str(self.socket_path))
        where = str(self.socket_path)
        if server.tcp is not None:
            where += f" and tcp {server.tcp.host}:{server.tcp_port}"
        return self._status.health(f"{where}, {server.connection_count} connections")


def socket_sources(settings: Settings, options: SourceOptions) -> list[SocketSource]:
    """The registry's line for the socket: every serving engine has one."""
    return [SocketSource(settings, options)]
