"""The dashboard app: screens, keys, themes, and the one tick that feeds every screen.

The App owns one engine Subscription. Every TICK seconds it drains it into a Batch,
updates the shared LiveStats, lets every mounted live screen fold the batch into its
model (cheap, no widget work), and asks only the screen on top to redraw. Nothing
happens per event, and with no notices a tick costs a few microseconds.

The engine is an in-process Engine (embedded) or a RemoteEngine (attached to
`sloth-tui serve`): the app and the screens use only the EngineAPI both implement.
Attached, losing the daemon raises a banner; the notice stream reconnects by itself
and every screen then catches up from the store on what it missed (Batch.reconnected).

The screens, their keys and tabs come from tui/screen_specs.py; the keys carry ids, and
config.toml's [keymap] rebinds them (tui/keymap.py). Screens and widgets reach this app
through tui/reach.py (DashboardHost), never by importing it.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from rich.console import RenderableType
from rich.text import Text
from textual import events, work
from textual.app import App, ScreenStackError
from textual.binding import Binding, BindingType
from textual.command import CommandListItem, CommandPalette, SimpleProvider
from textual.css.query import NoMatches
from textual.notifications import SeverityLevel
from textual.screen import Screen
from textual.theme import Theme, ThemeProvider
from textual.timer import Timer
from textual.widget import AwaitMount

from sloth_tui.config import Settings
from sloth_tui.crash import crash_line, save_crash_report
from sloth_tui.engine.bus import Notice
from sloth_tui.model.errors import SlothError
from sloth_tui.model.records import Event
from sloth_tui.tui.commands import SlothCommands
from sloth_tui.tui.feed import DEFAULT_CAP
from sloth_tui.tui.format import count, printable
from sloth_tui.tui.keymap import (
    check_keymap,
    clashes,
    default_keys,
    key_sections,
    live_bindings,
)
from sloth_tui.tui.live import Batch, LiveStats
from sloth_tui.tui.log_toasts import LogToasts
from sloth_tui.tui.nav import key_name
from sloth_tui.tui.palette import SlothPalette
from sloth_tui.tui.reach import DashboardHost, Tab
from sloth_tui.tui.screen_specs import (
    PLACES,
    SCREENS,
    DetailScreen,
    EventsScreen,
    FireScreen,
    HelpScreen,
    HookEditorScreen,
    Place,
    ScreenSpec,
    mode_binding,
    mode_binding_id,
)
from sloth_tui.tui.screens.base import LiveMixin
from sloth_tui.tui.sysinfo import SysInfo, SysSampler
from sloth_tui.tui.themes import DEFAULT_THEME, category_colors, load_themes, variable_defaults
from sloth_tui.tui.ui_state import load_state, update_state
from sloth_tui.tui.widgets.lua_editor import display_path
from sloth_tui.tui.widgets.top_bar import TopBar

if TYPE_CHECKING:
    from sloth_tui.engine.api import EngineAPI
    from sloth_tui.sources.demo import DemoGenerator

# Seconds between drains of the engine's notices. The newest event shows within about
# 1.15 ticks (bench --tui: p99 86 ms at 0.075, 111 ms at 0.1; the target is 100 ms).
TICK = 0.075
SUBSCRIPTION_SIZE = 100_000  # notices buffered between ticks before the bus drops some
GC_FULL_EVERY = 100  # young collections between full ones (CPython's default is 10)
SOURCE_POLL = 2.0  # seconds between asks for the producers' top-bar lines
SUBSCRIBE_WAIT = 5.0  # attached: seconds to wait for the notice stream before reading history
# Idle: after IDLE_AFTER ticks with nothing new, on a screen that shows nothing new without
# notices, with the rate in the top bar at 0 for good, the tick and the producers' poll
# stop until a notice comes or IDLE_POLL s pass (SOURCE_POLL while the top bar shows a
# producer's line, which may change on its own). Wakeups are what an idle dashboard
# costs: each one about 0.5 ms of CPU on a small VM (tui/bench.py's idle CPU).
IDLE_AFTER = 10
IDLE_POLL = 5.0


class SlothApp(DashboardHost, App[None]):
    CSS_PATH = "app.tcss"
    TITLE = "sloth-tui"
    SCREEN_SPECS: ClassVar[tuple[ScreenSpec, ...]] = SCREENS
    PLACES: ClassVar[tuple[Place, ...]] = PLACES
    MODES: ClassVar[dict[str, Any]] = {spec.mode: spec.screen for spec in SCREENS}
    DEFAULT_MODE = SCREENS[0].mode
    COMMANDS = App.COMMANDS | {SlothCommands}
    BINDINGS: ClassVar[list[BindingType]] = [
        *(mode_binding(spec) for spec in SCREENS),
        Binding("F", "fire", "Fire", id="app.fire",
                tooltip="fire an event (type with completion, form or raw JSON)"),
        Binding("question_mark", "help", "Help", id="app.help",
                tooltip="every key, by where it works"),
        Binding("q", "quit", "Quit", id="app.quit", tooltip="quit (ctrl+q and ctrl+c too)"),
        Binding("ctrl+c", "quit", "Quit", show=False, id="app.interrupt", tooltip="quit"),
        Binding("escape", "back", "Back", show=False, id="app.back",
                tooltip="back out: close, leave input, clear filter, follow"),
        # Textual adds its own ctrl+p unless one is declared: this is that one (its footer
        # label too), with an id.
        Binding(App.COMMAND_PALETTE_BINDING, "command_palette", "palette", show=False,
                priority=True, id="app.palette",
                tooltip="command palette: fire a type, open a screen, theme, pause"),
    ]  # fmt: skip

    def __init__(
        self,
        engine: EngineAPI | Settings,
        *,
        clock: Callable[[], float] = time.time,
        demo: DemoGenerator | float | None = None,
        theme: str | None = None,
        sysinfo: Callable[[], SysInfo] | None = None,
        themes_dir: Any = None,
        tick: float = TICK,
        window: int = DEFAULT_CAP,
        freeze_gc: bool = False,
        warnings: Sequence[str] = (),
    ) -> None:
        super().__init__()
        if isinstance(engine, Settings):
            self._engine: EngineAPI | None = None
            self._settings = engine
        else:  # local or remote: the same API, screens cannot tell the difference
            self._engine = engine
            self._settings = engine.settings
        self._owns_engine = self._engine is None
        self._warnings = list(warnings)
        self.link_lost: str | None = None  # attached: why the daemon is out of reach
        self._lost_at = 0.0
        # What the serving engine's producers ask the top bar to show (the bridge's lag).
        self.source_headers = ""
        self.engine_labels: tuple[str, ...] = ()
        self.clock = clock
        self.tick_seconds = tick
        self.window = window
        self.live = LiveStats()
        self.live_screens: set[LiveMixin] = set()
        self.events_screen: EventsScreen | None = None
        self._demo_arg = demo
        self.demo: DemoGenerator | None = None
        self._sysinfo = sysinfo
        self._freeze_gc = freeze_gc
        self._gc_threshold = gc.get_threshold()
        self.sub: Any = None
        self._tick_timer: Timer | None = None
        self._log_toasts: LogToasts | None = None
        self.closing = False  # exit() was called: input is ignored from then on
        self._sources_timer: Timer | None = None
        self._idle_ticks = 0  # ticks in a row that brought nothing but engine figures
        self._early: list[Notice] = []  # what woke an idle tick, drained with the rest
        self._waiter: asyncio.Task[None] | None = None
        themes = load_themes(themes_dir if themes_dir is not None else self._settings.themes_dir)
        self.theme_errors = themes.errors
        self.user_themes = {t.name for t in themes.themes}
        for t in themes.themes:
            self.register_theme(t)
        # What the operator left last time (tui-state.json in the data dir): the theme picked
        # in the palette wins over config.toml's, --theme over both.
        self.ui_state = load_state(self._settings.home)
        self._wanted_theme = theme or self.ui_state.theme or self._settings.theme or DEFAULT_THEME
        self._theme_saved = False  # becomes True once the startup theme is set
        self.category_colors: dict[str, str] = {}
        self.crash_report: Path | None = None  # where the traceback of a crash was saved
        self.crash_message: str | None = None
        # [keymap]: an unknown id is a warning at start (the dashboard runs, with that
        # key as it was), one line naming the ids that exist; so is a key taken from
        # another binding of the same screen.
        self.default_keys = default_keys(type(self))
        self.keymap, problems = check_keymap(self._settings.keymap, sorted(self.default_keys))
        self._warnings += problems + clashes(type(self), self.keymap)
        self.set_keymap(self.keymap)

    # -- closing ----------------------------------------------------------------------

    def exit(
        self,
        result: Any = None,
        return_code: int = 0,
        message: RenderableType | None = None,
    ) -> None:
        self.closing = True
        super().exit(result, return_code, message)

    # -- crashes ----------------------------------------------------------------------

    def _handle_exception(self, error: Exception) -> None:
        """An unhandled exception: save the traceback to a file, show the operator one line.

        Textual would print a traceback with locals (event data among them) at exit; the
        return code stays 1 and Pilot still re-raises the error in tests.
        """
        if self.crash_message is None:
            self.crash_report = save_crash_report(error, self._settings.home, "the dashboard")
            self.crash_message = crash_line(error, self.crash_report)
        super()._handle_exception(error)
        self._exit_renderables[:] = [Text(self.crash_message)]

    def notify(
        self,
        message: str,
        *,
        title: str = "",
        severity: SeverityLevel = "information",
        timeout: float | None = None,
        markup: bool = True,
    ) -> None:
        """Every notification, from any screen, shows its message as plain text: they quote
        event types, hook names, errors, paths and a daemon's log lines, and `[/srv]` in
        one must not crash the app (MarkupError) or restyle it, nor a control character
        reach the terminal (shown as its picture, as everywhere on screen). `markup` is
        accepted and ignored."""
        shown = printable(message, lines=True)
        super().notify(shown, title=title, severity=severity, timeout=timeout, markup=False)

    # -- engine -----------------------------------------------------------------------

    @property
    def engine(self) -> EngineAPI:
        assert self._engine is not None, "the engine opens in on_load"
        return self._engine

    @property
    def attached(self) -> bool:
        """True when the engine is a daemon's, reached over its socket."""
        return self._engine is not None and self._engine.remote

    @property
    def hooks_dir(self) -> Path:
        """Where new hook files go: the engine's hooks/ (attached: as the daemon reports it)."""
        if self.attached and (reported := self.engine.info.get("hooks_dir")):
            return Path(reported)
        return self.engine.settings.hooks_dir

    def _engine_labels(self) -> tuple[str, ...]:
        """For the top bar, longest first: which engine this dashboard shows."""
        if self.attached:
            info = self.engine.info
            pid = info.get("pid", "?")
            # Where we reached it (a TCP attach), else the daemon's own socket.
            reached = str(info.get("address") or info.get("socket") or "?")
            where = reached if reached.startswith("tcp://") else display_path(Path(reached))
            full = f"attached {where} (pid {pid})"
            return (full, f"attached {where}", f"attached (pid {pid})", "attached")
        return (f"embedded {display_path(self._settings.home)}", "embedded")

    def sysinfo(self) -> SysInfo:
        if self._sysinfo is None:
            self._sysinfo = SysSampler(self._settings.home)
        return self._sysinfo()

    async def on_load(self) -> None:
        # Textual's run_async turns on asyncio's eager tasks (Python 3.12+). A MODES screen is
        # then composed inside App._init_mode before it is on the screen stack, and the first
        # Input's selection watcher calls App.clear_selection, whose `self.screen` raises
        # ScreenStackError (Textual catches only NoScreen): the dashboard died at start on
        # 3.12 and 3.13. Lazy tasks are also what the engine's ordering was built on (3.11
        # has no other kind), so the whole process keeps them. Load comes before any screen.
        asyncio.get_running_loop().set_task_factory(None)
        if self._engine is None:
            from sloth_tui.tui.embedded import open_local_engine

            self._engine = await open_local_engine(self._settings)
        engine = self._engine
        # Subscribe before any screen reads history, so no event falls between the two.
        self.sub = engine.subscribe(SUBSCRIPTION_SIZE)
        # Attached, the daemon's notices flow once its `subscribe` is answered (a local
        # engine's at once).
        await engine.wait_subscribed(SUBSCRIBE_WAIT)
        self.engine_labels = self._engine_labels()
        # The per-category totals start from the store, live notices add to them; if the
        # store cannot count, they start from zero and the stream itself is unaffected.
        with contextlib.suppress(SlothError):
            self.live.seed(await engine.counts())

    def on_mount(self) -> None:
        self.theme_changed_signal.subscribe(self, self._theme_changed)
        self.set_theme(self._wanted_theme)
        self._theme_saved = True
        self.category_colors = category_colors(self.current_theme)
        for message in self.theme_errors:
            self.notify(message, title="Theme file skipped", severity="warning", timeout=10)
        for message in self._warnings:
            self.notify(message, severity="warning", timeout=10)
        self._log_toasts = LogToasts(self)
        self._log_toasts.install()
        self._tick_timer = self.set_interval(self.tick_seconds, self.tick, name="sloth-tick")
        self._sources_timer = self.set_interval(
            SOURCE_POLL, self.poll_sources, name="sloth-sources"
        )
        self.poll_sources()  # now: the screen may go idle before the timer's first turn
        self.sysinfo()  # primes psutil's CPU counters, which report deltas between calls
        if self._freeze_gc:
            # Everything alive once the first screen is up (Textual, Rich, the engine) lives
            # as long as the app: keep it out of the collector, whose full passes over it
            # stalled the loop 50-90 ms under load; and since events churn through the
            # window, full passes ten times rarer (see tui/bench.py: lag p99 ~35 -> ~12 ms).
            self.call_after_refresh(gc.freeze)
            self._gc_threshold = gc.get_threshold()
            gc.set_threshold(self._gc_threshold[0], self._gc_threshold[1], GC_FULL_EVERY)
        if self._demo_arg is not None:
            from sloth_tui.tui.embedded import demo_stream

            arg = self._demo_arg
            self.demo = demo_stream(self.engine, arg) if isinstance(arg, int | float) else arg
            self.demo.start()

    async def on_unmount(self) -> None:
        if self._log_toasts is not None:  # what the engine logs while closing goes to stderr
            self._log_toasts.remove()
        self.wake_tick()
        if self._freeze_gc:
            gc.unfreeze()
            gc.set_threshold(*self._gc_threshold)
        if self.demo is not None:
            await self.demo.stop()
        if self.sub is not None:
            self.sub.close()
        if self._owns_engine and self._engine is not None:
            await self._engine.close(reason="dashboard closed")

    # -- the tick ---------------------------------------------------------------------

    def tick(self) -> None:
        notices = self.sub.drain() if self.sub is not None else []
        if self._early:
            notices[:0], self._early = self._early, []
        batch = None
        if notices:
            batch = Batch.from_notices(notices)
            self.live.apply(batch)
            for screen in list(self.live_screens):
                screen.ingest(batch)
            if batch.shutdown:
                self.notify(f"The engine stopped: {batch.shutdown}", severity="warning")
            if batch.logs and self.attached and self._log_toasts is not None:
                for text, error_level in batch.logs:  # the daemon's: escaped there, plain here
                    self._log_toasts.show(text, error_level)
            if batch.lost is not None or batch.reconnected:
                self._link_changed(batch)
        try:
            top = self.screen
        except ScreenStackError:  # the app is closing
            return
        self._pulse(top)
        if isinstance(top, LiveMixin) and top.live_ready:
            with contextlib.suppress(NoMatches):  # its widgets are going: the app is closing
                top.refresh_view()
        self._maybe_idle(top, batch)

    # -- idle: no tick while nothing happens --------------------------------------------

    def _maybe_idle(self, top: Screen[Any], batch: Batch | None) -> None:
        """Count ticks that brought nothing to show; past IDLE_AFTER, stop the tick until
        a notice arrives (the first event after a pause then shows at once)."""
        # The engine's figures come once a second while they change: they alone are no news.
        if batch is not None and (batch.stats is None or batch.news):
            self._idle_ticks = 0
            return
        self._idle_ticks += 1
        if (
            self._idle_ticks < IDLE_AFTER
            or self._waiter is not None
            or self._tick_timer is None
            or self.sub is None
            or not getattr(top, "QUIET_WHEN_IDLE", False)
        ):
            return
        self._tick_timer.pause()
        if self._sources_timer is not None:
            self._sources_timer.pause()  # resumed with the tick: it polls at once then
        wait = self._idle_wait()
        self._waiter = asyncio.create_task(self._wait_for_notice(self.sub, wait), name="sloth-idle")

    def _idle_wait(self) -> float:
        """How long an idle tick may sleep: until the next whole second while the top
        bar's rate (the mean of the last 5 whole seconds) still falls, so that it falls on
        time; once it is 0 for good, until the producers' lines are due again."""
        now = self.clock()
        per_second = self.live.per_second
        longest = SOURCE_POLL if self.source_headers else IDLE_POLL
        if not per_second or max(per_second) < int(now) - 5:
            return longest
        return min(longest, int(now) + 1 - now + 0.005)

    async def _wait_for_notice(self, sub: Any, wait: float) -> None:
        try:
            with contextlib.suppress(TimeoutError):
                self._early.append(await asyncio.wait_for(sub.get(), wait))
        finally:
            if self._waiter is asyncio.current_task():  # not ended by wake_tick already
                self._end_idle()

    def _end_idle(self) -> None:
        self._waiter = None
        if self._tick_timer is not None:
            self._tick_timer.resume()  # ticks at once: the notice shows now
        if self._sources_timer is not None:
            self._sources_timer.resume()

    async def on_event(self, event: events.Event) -> None:
        if isinstance(event, events.InputEvent) and (self.closing or self._unscreened()):
            # Keys and clicks that come after `q` (typed ahead, pasted, a burst over SSH):
            # nothing they ask for can happen now. They opened screens on the closing app,
            # which Textual mounted without their widgets (`qt`: the time dialog's on_mount
            # failed with NoMatches), or met an empty screen stack (ScreenStackError): an
            # unexpected error on the way out. Textual's own shutdown (run_test's end, the
            # driver's) empties the stack without exit(): no screen, no key either.
            return
        # Keys and the mouse move the cursor, and what follows it (the split view) is
        # redrawn on the tick: an idle tick wakes for the operator at once.
        if isinstance(event, events.InputEvent) and self._waiter is not None:
            self.wake_tick()
        await super().on_event(event)

    def _unscreened(self) -> bool:
        """No screen to take a key: the app is being torn down."""
        try:
            return not self._screen_stack
        except KeyError:  # no such mode any more
            return True

    def wake_tick(self) -> None:
        """Tick again now (the subscription changed, the app is closing, news to show)."""
        waiter = self._waiter
        if waiter is not None:
            # Resumed here, not in the waiter's finally: a task cancelled before its first
            # step never runs its body, so a key in the same turn as the idle wait began
            # (pressing 7 right then) left the tick paused for good (session 22: a fleet
            # screen that never redrew, seen in CI).
            self._end_idle()
            waiter.cancel()
        self._idle_ticks = 0

    def pulse_text(self) -> str:
        """The live figures at the top right: rate, newest id, drops."""
        live = self.live
        text = f"{'DEMO ' if self.demo else ''}● {count(live.rate(self.clock()))}/s"
        if live.last_event_id:
            text += f"  last {live.last_event_id}"
        if live.dropped:
            text += f"  ⚠ {live.dropped:,} dropped"
        if self.source_headers:
            text += f"  {self.source_headers}"
        return text + " "

    @work(exclusive=True, group="sources")
    async def poll_sources(self) -> None:
        """The producers' top-bar lines (their health() `header`): every SOURCE_POLL s, and
        on each idle wake (see _idle_wait)."""
        try:
            health = await self.engine.source_health()
        except (SlothError, OSError):
            return  # the daemon is out of reach: the banner says so
        headers = "  ".join(printable(h.header) for h in health if h.header)
        if headers != self.source_headers:
            self.source_headers = headers
            self.wake_tick()  # the top bar shows them at the next tick, idle or not

    def _pulse(self, screen: Screen[Any]) -> None:
        bar: TopBar | bool | None = getattr(screen, "_sloth_top_bar", None)
        if bar is None:  # looked up once per screen; dialogs and the detail have none
            bars = screen.query(TopBar)
            found = bars.first() if bars else None
            if found is not None and not found.is_mounted:
                return
            bar = found if found is not None else False
            setattr(screen, "_sloth_top_bar", bar)  # noqa: B010 (a cache on a foreign object)
        if not isinstance(bar, TopBar):
            return
        bar.set_pulse(self.pulse_text())
        bar.set_engine(self.engine_labels)
        bar.set_banner(self._banner_text())

    # -- attached: losing and finding the daemon ----------------------------------------

    def _link_changed(self, batch: Batch) -> None:
        if batch.lost is not None:
            if self.link_lost is None:
                self._lost_at = self.clock()
                # Seen on any screen (the banner lives in the top bar, which dialogs lack).
                self.notify(
                    f"{batch.lost}; reconnecting…", title="Lost the daemon", severity="error"
                )
            self.link_lost = batch.lost
            return
        self.link_lost = None
        self.engine_labels = self._engine_labels()  # a restarted daemon has a new pid
        self.notify(f"Back on {self.engine_labels[0].removeprefix('attached ')}; catching up")
        self._reseed_counts()

    def reattach(self, engine: EngineAPI, why: str) -> None:
        """`serve` is taking this dashboard's home over: from now on, talk to it.

        The embedded engine closes right after; the remote's notice stream finds serve
        once it listens, and then every screen catches up as after a reconnect.
        """
        old = self.sub
        self._engine = engine
        self._owns_engine = False
        self.sub = engine.subscribe(SUBSCRIPTION_SIZE)
        self.wake_tick()  # an idle wait listens to the old subscription
        if old is not None:
            old.close()
        self.engine_labels = self._engine_labels()
        self.link_lost = why
        self._lost_at = self.clock()
        self.notify(f"{why}; the dashboard re-attaches to it", title="sloth-tui serve started")

    def _banner_text(self) -> str:
        if self.link_lost is not None:
            since = time.strftime("%H:%M:%S", time.localtime(self._lost_at))
            return f"⚠ daemon lost at {since} — {self.link_lost} · reconnecting by itself…"
        stats = self.live.engine
        if stats is not None and stats.write_fault:  # the engine's figures carry it
            return f"⚠ {stats.write_fault} · writes resume by themselves once it is fixed"
        return ""

    @work(exclusive=True, group="reseed")
    async def _reseed_counts(self) -> None:
        """The per-category totals and the newest id missed what the daemon stored while
        we were away (or a restarted daemon's store is not the one we saw)."""
        with contextlib.suppress(SlothError):
            self.live.seed(await self.engine.counts())
            newest = await self.engine.query_events(None, limit=1)
            self.live.last_event_id = newest[0].id if newest else 0

    # -- themes -----------------------------------------------------------------------

    def get_theme_variable_defaults(self) -> dict[str, str]:
        return variable_defaults()

    def set_theme(self, name: str) -> bool:
        """Switch theme; an unknown name is a notification (and sloth-dark at startup)."""
        if name in self.available_themes:
            self.theme = name
            return True
        if not self.theme.startswith("sloth") and DEFAULT_THEME in self.available_themes:
            self.theme = DEFAULT_THEME  # else Textual's own default stays
        self.notify(f"No theme named {name!r}; using {self.theme}", severity="warning")
        return False

    def _theme_changed(self, theme: Theme) -> None:
        self.category_colors = category_colors(theme)
        if self._theme_saved and theme.name != self.ui_state.theme:
            self.remember(theme=theme.name)
        for screen in list(self.live_screens):
            if not isinstance(screen, Screen):
                continue
            for widget in screen.query("EventTable"):
                widget.notify_style_update()
                widget.refresh()

    def remember(self, **changes: Any) -> None:
        """Keep these fields of the UI state for the next run (theme, split, ...)."""
        try:
            self.ui_state = update_state(self._settings.home, **changes)
        except OSError as exc:  # the dashboard works on; only remembering failed
            self.notify(f"Could not save the dashboard state: {exc}", severity="warning")

    # -- screens and keys (tui/screen_specs.py, tui/keymap.py) ---------------------------

    def key_for(self, binding_id: str) -> str:
        """The first key of a binding, as the keymap left it: for tabs and palette hints."""
        keys = self.keymap.get(binding_id) or self.default_keys.get(binding_id, "")
        return key_name(keys.split(",")[0].strip())

    def screen_tabs(self) -> list[Tab]:
        """The top bar's tabs: each spec's label, with the key the keymap gave it."""
        return [
            Tab(self.key_for(mode_binding_id(spec.mode)), spec.mode, spec.tab_label)
            for spec in self.SCREEN_SPECS
        ]

    def mode_of(self, screen: Screen[Any]) -> str:
        spec = next((s for s in self.SCREEN_SPECS if type(screen) is s.screen), None)
        return spec.mode if spec is not None else ""

    def title_of(self, screen: Screen[Any]) -> str:
        """The screen's name in the help: its spec's title (else its class's name)."""
        titles: list[tuple[type[Screen[Any]], str]] = [
            (s.screen, s.title) for s in self.SCREEN_SPECS
        ]
        titles += [(p.screen, p.title) for s in self.SCREEN_SPECS for p in s.opens]
        titles += [(p.screen, p.title) for p in self.PLACES]
        found = next((title for cls, title in titles if type(screen) is cls), None)
        return found or type(screen).__name__.removesuffix("Screen")

    # -- navigation -------------------------------------------------------------------

    def action_show(self, mode: str) -> None:
        if mode != self.current_mode:
            self.switch_mode(mode)

    def action_command_palette(self) -> None:
        """ctrl+p: the palette, unless one is open already (sloth_tui/tui/palette.py)."""
        if self.use_command_palette and not any(
            isinstance(s, CommandPalette) for s in self.screen_stack
        ):
            self.push_screen(SlothPalette())

    def search_commands(
        self, commands: Sequence[CommandListItem], placeholder: str = "Search for commands…"
    ) -> AwaitMount:
        """Textual's, on the palette with its races closed (it would push a plain one)."""
        return self.push_screen(
            SlothPalette(
                providers=[SimpleProvider(self.screen, list(commands))], placeholder=placeholder
            )
        )

    def search_themes(self) -> None:
        """The palette's "Change theme", on the palette with its races closed."""
        self.push_screen(SlothPalette(providers=[ThemeProvider], placeholder="Search for themes…"))

    async def action_back(self) -> None:
        if len(self.screen_stack) > 1:
            self.pop_screen()
        elif self.current_mode != self.DEFAULT_MODE:
            self.switch_mode(self.DEFAULT_MODE)

    async def action_quit(self) -> None:
        # A hook editor with unsaved edits (in any mode's stack) asks before they are lost.
        for screen in list(self.live_screens):
            if isinstance(screen, HookEditorScreen) and screen.unsaved:
                screen.confirm_quit()
                return
        self.exit()

    def action_help(self) -> None:
        """The keys of the screen underneath (as Textual resolves them now), then all."""
        under = self.screen
        if not isinstance(under, HelpScreen):
            here = (self.title_of(under), live_bindings(under))
            self.push_screen(HelpScreen(here, key_sections(type(self), self.keymap)))

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
        if (screen := self._events()) is not None:
            screen.select_event(event.id)

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
