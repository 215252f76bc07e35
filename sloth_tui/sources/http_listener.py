"""The HTTP listener (sloth_tui/http) as a Source: `serve --http HOST:PORT` or [http].

Only `serve` listens: a dashboard's embedded engine never does (it is one operator's
session, not a daemon). The kind is required (SourceOptions.required): an operator who
asked for HTTP and cannot get it (the port is taken) gets an error, not a daemon that
silently takes no webhooks.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from sloth_tui.config import Settings
from sloth_tui.http.context import HttpContext
from sloth_tui.http.replies import Refusals
from sloth_tui.http.server import Listener
from sloth_tui.http.settings import HttpSettings, http_settings
from sloth_tui.http.webhooks import configured, produced_types
from sloth_tui.model.errors import SlothError
from sloth_tui.sources.status import Status

if TYPE_CHECKING:
    from sloth_tui.engine.api import EngineAPI
    from sloth_tui.model.stats import SourceHealth
    from sloth_tui.sources.options import SourceOptions


class HttpSource:
    """POST /events, /webhooks/NAME, /metrics, /healthz, /readyz on one address."""

    name = "http"
    kind = "http"

    def __init__(
        self, settings: Settings, http: HttpSettings, required: frozenset[str] = frozenset()
    ) -> None:
        self.settings = settings
        self.http = http
        # POST /events takes any type from whoever sends it (as the socket does, and like
        # it that is not counted here); what the listener itself stands for is what its
        # [[webhooks]] map payloads to. Parsed now: a bad entry fails before any start.
        self.produces: tuple[str, ...] = produced_types(configured(settings, http))
        self.required = required
        self.refusals = Refusals()
        self.listener: Listener | None = None
        self._status = Status(self.name, self.kind)

    @property
    def url(self) -> str:
        return self.listener.url if self.listener is not None else self.http.url

    async def start(self, api: EngineAPI) -> None:
        ctx = HttpContext(
            engine=api, settings=self.settings, http=self.http, refusals=self.refusals
        )
        listener = self.listener = Listener(ctx, self.required)
        try:
            await listener.start()
        except SlothError as exc:  # the port taken, a bad [[webhooks]] entry: one line
            raise self._status.failed(exc) from None
        self._status.running()

    async def stop(self) -> None:
        if self.listener is not None:  # kept: health() still gives its figures
            await self.listener.stop()
        self._status.stopped()

    def health(self) -> SourceHealth:
        requests = self.listener.counters.requests if self.listener is not None else 0
        detail = f"{self.url} · {requests} requests · {self.refusals.total()} refused"
        return self._status.health(detail)


def http_sources(settings: Settings, options: SourceOptions) -> list[HttpSource]:
    """The registry's line: one listener when `serve --http` or [http] listen says where.
    Raises ConfigError on a bad [http] (before anything starts)."""
    if options.role != "serve":
        return []
    http = http_settings(settings, options.http)
    if http is None:
        return []
    return [HttpSource(settings, http, options.required)]
