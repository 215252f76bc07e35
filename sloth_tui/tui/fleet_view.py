"""The dashboard attached to a fleet (`sloth-tui --attach nats://HOST:4222`).

It is the ordinary dashboard on an embedded engine that observes the fleet (see
tui/embedded.py), so every screen works unchanged; only the top bar says that this is a
view of the fleet, through NATS, rather than of a home on this machine.
"""

from __future__ import annotations

from sloth_tui.tui.app import SlothApp


class FleetViewApp(SlothApp):
    """SlothApp whose top bar names the fleet: `fleet nats://HOST:PORT as dash-...`."""

    fleet_label: tuple[str, ...] = ()

    async def on_load(self) -> None:
        await super().on_load()
        status = await self.engine.fleet_status()
        if status.joined:
            # The URL without credentials (FleetSettings.shown_url); the bar shows it plain.
            self.fleet_label = (
                f"fleet {status.url} as {status.name}",
                f"fleet {status.url}",
                "fleet view",
            )
        self.engine_labels = self._engine_labels()

    def _engine_labels(self) -> tuple[str, ...]:
        if self.fleet_label and not self.attached:  # handed over to serve: its labels
            return self.fleet_label
        return super()._engine_labels()
