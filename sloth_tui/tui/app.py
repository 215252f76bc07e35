"""The dashboard app: screens, keys, themes, and the one tick that feeds every screen.

The App owns one engine Subscription. Every TICK seconds it drains it into a Batch,
updates the shared LiveStats, lets every mounted live screen fold the batch into its
model (cheap, no widget work), and asks only the screen on top to redraw. Nothing
happens per event, and with no notices a tick costs a few microseconds.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, ClassVar

from textual import work
from textual.app import App
from textual.binding import Binding
from textual.css.query import NoMatches
from textual.theme import Theme

from sloth_tui.config import Settings
from sloth_tui.engine.engine import Engine
from sloth_tui.engine.errors import SlothError
from sloth_tui.engine.records import Event
from sloth_tui.tui.commands import SlothCommands
from sloth_tui.tui.feed import DEFAULT_CAP
from sloth_tui.tui.format import count
from sloth_tui.tui.live import Batch, LiveStats
from sloth_tui.tui.screens.base import LiveMixin
from sloth_tui.tui.screens.catalog import CatalogScreen
from sloth_tui.tui.screens.detail import DetailScreen
from sloth_tui.tui.screens.events import EventsScreen
from sloth_tui.tui.screens.executions import ExecutionsScreen
from sloth_tui.tui.screens.fire import FireScreen
from sloth_tui.tui.screens.help import HelpScreen
from sloth_tui.tui.screens.hooks import HooksScreen
from sloth_tui.tui.screens.stats import StatsScreen
from sloth_tui.tui.sysinfo import SysInfo, SysSampler
from sloth_tui.tui.themes import DEFAULT_THEME, category_colors, load_themes, variable_defaults
from sloth_tui.tui.widgets.top_bar import TopBar

if TYPE_CHECKING:
    from sloth_tui.sources.demo import DemoGenerator

TICK = 0.1  # seconds between drains of the engine's notices
SUBSCRIPTION_SIZE = 100_000  # notices buffered between ticks before the bus drops some


class SlothApp(App[None]):
    CSS_PATH = "app.tcss"
    TITLE = "sloth-tui"
    MODES: ClassVar[dict[str, Any]] = {
        "events": EventsScreen,
        "hooks": HooksScreen,
        "executions": ExecutionsScreen,
        "stats": StatsScreen,
        "catalog": CatalogScreen,
    }
    DEFAULT_MODE = "events"
    COMMANDS = App.COMMANDS | {SlothCommands}
    BINDINGS = [
        Binding("1", "show('events')", "Events", show=False),
        Binding("2", "show('hooks')", "Hooks", show=False),
        Binding("3", "show('executions')", "Executions", show=False),
        Binding("4", "show('stats')", "Stats", show=False),
        Binding("5", "show('catalog')", "Catalog", show=False),
        Binding("F", "fire", "Fire"),
        Binding("question_mark", "help", "Help"),
        Binding("q", "quit", "Quit"),
        Binding("escape", "back", "Back", show=False),
    ]

    def __init__(
        self,
        engine: Engine | Settings,
        *,
        clock: Callable[[], float] = time.time,
        demo: DemoGenerator | float | None = None,
        theme: str | None = None,
        sysinfo: Callable[[], SysInfo] | None = None,
        themes_dir: Any = None,
        tick: float = TICK,
        window: int = DEFAULT_CAP,
    ) -> None:
        super().__init__()
        if isinstance(engine, Engine):
            self._engine: Engine | None = engine
            self._settings = engine.settings
        else:
            self._engine, self._settings = None, engine
        self._owns_engine = self._engine is None
        self.clock = clock
        self.tick_seconds = tick
        self.window = window
        self.live = LiveStats()
        self.live_screens: set[LiveMixin] = set()
        self.events_screen: EventsScreen | None = None
        self._demo_arg = demo
        self.demo: DemoGenerator | None = None
        self._sysinfo = sysinfo
        self.sub: Any = None
        themes = load_themes(themes_dir if themes_dir is not None else self._settings.themes_dir)
        self.theme_errors = themes.errors
        self.user_themes = {t.name for t in themes.themes}
        for t in themes.themes:
            self.register_theme(t)
        self._wanted_theme = theme or self._settings.theme or DEFAULT_THEME
        self.category_colors: dict[str, str] = {}

    # -- engine -----------------------------------------------------------------------

    @property
    def engine(self) -> Engine:
        assert self._engine is not None, "the engine opens in on_load"
        return self._engine

    def sysinfo(self) -> SysInfo:
        if self._sysinfo is None:
            self._sysinfo = SysSampler(self._settings.home)
        return self._sysinfo()

    async def on_load(self) -> None:
        if self._engine is None:
            self._engine = await Engine.open(self._settings)
        # Subscribe before any screen reads history, so no event falls between the two.
        self.sub = self._engine.subscribe(SUBSCRIPTION_SIZE)

    def on_mount(self) -> None:
        self.theme_changed_signal.subscribe(self, self._theme_changed)
        self.set_theme(self._wanted_theme, quiet=False)
        self.category_colors = category_colors(self.current_theme)
        for message in self.theme_errors:
            self.notify(message, title="Theme file skipped", severity="warning", timeout=10)
        self.set_interval(self.tick_seconds, self.tick, name="sloth-tick")
        self.seed_counts()
        if self._demo_arg is not None:
            from sloth_tui.sources.demo import DemoGenerator

            arg = self._demo_arg
            self.demo = arg if isinstance(arg, DemoGenerator) else DemoGenerator(self.engine, arg)
            self.demo.start()

    async def on_unmount(self) -> None:
        if self.demo is not None:
            await self.demo.stop()
        if self.sub is not None:
            self.sub.close()
        if self._owns_engine and self._engine is not None:
            await self._engine.close(reason="dashboard closed")

    @work(group="seed")
    async def seed_counts(self) -> None:
        try:
            self.live.seed(await self.engine.counts())
        except SlothError:
            pass  # the counts then start from zero; the stream itself is unaffected

    # -- the tick ---------------------------------------------------------------------

    def tick(self) -> None:
        notices = self.sub.drain() if self.sub is not None else []
        if notices:
            batch = Batch.from_notices(notices)
            self.live.apply(batch)
            for screen in list(self.live_screens):
                screen.ingest(batch)
            if batch.shutdown:
                self.notify(f"The engine stopped: {batch.shutdown}", severity="warning")
        screen = self.screen
        if isinstance(screen, LiveMixin) and screen.live_ready:
            screen.refresh_view()
        self._pulse(screen)

    def _pulse(self, screen: Any) -> None:
        try:
            bar = screen.query_one(TopBar)
        except NoMatches:  # screens without a top bar (dialogs, detail)
            return
        live = self.live
        text = f"{'DEMO ' if self.demo else ''}● {count(live.rate(self.clock()))}/s"
        if live.last_event_id:
            text += f"  last {live.last_event_id}"
        if live.dropped:
            text += f"  ⚠ {live.dropped:,} dropped"
        bar.set_pulse(text + " ")

    # -- themes -----------------------------------------------------------------------

    def get_theme_variable_defaults(self) -> dict[str, str]:
        return variable_defaults()

    def set_theme(self, name: str, *, quiet: bool = True) -> bool:
        if name not in self.available_themes:
            if not quiet or name != DEFAULT_THEME:
                self.notify(f"No theme named {name!r}; keeping {self.theme}", severity="warning")
            if self.theme not in self.available_themes or not self.theme.startswith("sloth"):
                self.theme = DEFAULT_THEME
            return False
        self.theme = name
        return True

    def _theme_changed(self, theme: Theme) -> None:
        self.category_colors = category_colors(theme)
        for screen in list(self.live_screens):
            for widget in screen.query("EventTable"):
                widget.notify_style_update()
                widget.refresh()

    # -- navigation -------------------------------------------------------------------

    def action_show(self, mode: str) -> None:
        if mode != self.current_mode:
            self.switch_mode(mode)

    def action_back(self) -> None:
        if len(self.screen_stack) > 1:
            self.pop_screen()
        elif self.current_mode != "events":
            self.switch_mode("events")

    def action_help(self) -> None:
        if not isinstance(self.screen, HelpScreen):
            self.push_screen(HelpScreen())

    def open_detail(self, event_id: int) -> None:
        self.push_screen(DetailScreen(event_id))

    def action_fire(self) -> None:
        if isinstance(self.screen, FireScreen):
            return
        self.open_fire(getattr(self.screen, "fire_type", None) or "")

    def open_fire(self, type_name: str = "", data: dict[str, Any] | None = None) -> None:
        self.push_screen(FireScreen(type_name, data), self._fired)

    def _fired(self, event: Event | None) -> None:
        if event is None:
            return
        if event.warnings:
            self.notify(
                "; ".join(event.warnings),
                title=f"Fired {event.type} as event {event.id}, with catalog warnings",
                severity="warning",
            )
        else:
            self.notify(f"Fired {event.type} as event {event.id}")

    def _events(self) -> EventsScreen | None:
        if self.events_screen is None or not self.events_screen.is_mounted:
            return None
        return self.events_screen

    def apply_filter(self, text: str) -> None:
        self.action_show("events")
        if (screen := self._events()) is not None:
            screen.set_filter(text)

    def action_toggle_pause(self) -> None:
        if (screen := self._events()) is not None:
            screen.action_toggle_pause()
