"""What every live screen shares: the app's tick hands it each batch, it redraws only when seen."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from textual.geometry import Offset
from textual.screen import ModalScreen, Screen
from textual.widget import Widget

from sloth_tui.tui.live import Batch
from sloth_tui.tui.reach import engine_of, host_of

if TYPE_CHECKING:
    from sloth_tui.engine.api import EngineAPI
    from sloth_tui.tui.app import SlothApp


class StaleMapGuard:
    """For every screen of the app: no mouse gesture starts in a widget already removed.

    Between a widget's removal and the next frame, the screen's map still places it. A
    click there then made Textual (8.2) begin a text selection in a widget with no parent:
    AttributeError, and the app died (the fire dialog rebuilds its fields as the type
    changes; the monkey test clicked into that frame). Such a widget is not there.
    """

    def get_widget_and_offset_at(self, x: int, y: int) -> tuple[Widget | None, Offset | None]:
        widget, offset = super().get_widget_and_offset_at(x, y)  # type: ignore[misc]
        if isinstance(widget, Widget) and not isinstance(widget, Screen) and not widget.parent:
            return None, None
        return widget, offset


class LiveMixin:
    """`ingest` runs for every mounted live screen (keep it O(batch), no widget work);
    `refresh_view` runs once per tick for the screen on top only (like Dolphie, hidden
    screens skip rendering and catch up in `on_screen_resume`)."""

    app: Any
    live_ready = False  # set once the composed widgets are all mounted
    # True: with no notices this screen shows nothing new, so the app may stop ticking
    # while it is on top and nothing arrives (tui/app.py, IDLE_AFTER). Screens that poll
    # on the tick (Stats, Sources, ...) keep the default.
    QUIET_WHEN_IDLE = False

    @property
    def sloth(self) -> SlothApp:
        # Screens run only in the dashboard; app.py imports the screens (through
        # screen_specs.py), so the type comes from a TYPE_CHECKING import.
        app: SlothApp = self.app
        return app

    @property
    def engine(self) -> EngineAPI:
        """The dashboard's engine, local or attached (tui/reach.py)."""
        return engine_of(self)

    def ingest(self, batch: Batch) -> None:
        pass

    def refresh_view(self) -> None:
        pass

    def on_mount(self) -> None:
        self.sloth.live_screens.add(self)
        # Nested containers mount their children later than the screen's Mount event.
        self.call_after_refresh(self._live_start)  # type: ignore[attr-defined]

    def _live_start(self) -> None:
        self.live_ready = True
        self.refresh_view()

    def on_unmount(self) -> None:
        self.sloth.live_screens.discard(self)

    def on_screen_resume(self) -> None:
        # A screen that polls on the tick may come on top of an idle Events screen.
        self.sloth.wake_tick()
        if self.live_ready:
            self.refresh_view()


class LiveScreen(StaleMapGuard, LiveMixin, Screen[None]):
    @property
    def MODE(self) -> str:
        """The mode this screen is the base of, as tui/screen_specs.py declares it."""
        return host_of(self).mode_of(self)


class LiveModal(StaleMapGuard, LiveMixin, ModalScreen[Any]):
    pass
