"""SourceOptions: what a caller (serve, a dashboard) asks of the sources beyond config.toml."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from sloth_tui.remote.ops import Handler
    from sloth_tui.remote.server import TcpAddress


@dataclass(frozen=True, slots=True)
class SourceOptions:
    """What the caller asks for beyond config.toml: its role and its flags."""

    role: str = "serve"  # "serve", or "dashboard" for a dashboard's embedded engine
    tcp: TcpAddress | None = None
    token: str | None = None
    extra_ops: dict[str, Handler] = field(default_factory=dict)  # ops only this caller has
    monitor: bool = True  # --no-monitor turns it off; [monitor] enabled = false as well
    watchers: bool = True  # --no-watchers
    http: str | None = None  # serve --http HOST:PORT (overrides [http] listen)
    nats: str | None = None  # serve --nats URL (overrides [nats] url): join a fleet
    nats_name: str | None = None  # serve --name NAME (overrides [nats] name)
    demo_rate: float | None = None  # events/s of the synthetic stream; None: no demo
    demo_hooks: Path | None = None  # where the demo writes its sample hooks
    # Kinds whose failure to start stops the caller's start; any other failure is told
    # (log, warnings, a system.error event) and the caller goes on without that source.
    required: frozenset[str] = frozenset({"socket", "monitor", "demo", "http", "nats"})

    @classmethod
    def dashboard(
        cls,
        extra_ops: dict[str, Handler],
        demo_rate: float | None,
        demo_hooks: Path | None,
        nats: str | None = None,
    ) -> SourceOptions:
        """A dashboard's embedded engine: the socket (a failure is a warning, the dashboard
        still works), the demo when asked; the monitor and the watchers are serve's."""
        return cls(
            role="dashboard",
            extra_ops=extra_ops,
            monitor=False,
            watchers=False,
            demo_rate=demo_rate,
            demo_hooks=demo_hooks,
            nats=nats,
            required=frozenset({"monitor", "demo", "nats"}),
        )
