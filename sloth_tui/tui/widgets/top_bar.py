"""On top of every screen: the screen tabs (clickable), which engine this is, the live pulse,
and, attached, a banner while the daemon is out of reach. The tabs are our markup; the
engine's path and the banner's reason are shown as plain text."""

from __future__ import annotations

from collections.abc import Sequence

from rich.cells import cell_len
from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.reactive import reactive
from textual.widget import Widget
from textual.widgets import Static

from sloth_tui.tui import format as fmt
from sloth_tui.tui.reach import DashboardHost, Tab


def tabs_markup(tabs: Sequence[Tab], active: str, *, compact: bool = False) -> str:
    """The tabs as our own markup: `@click` shows a screen. The key comes from config.toml's
    [keymap]: shown as typed (escaped, control characters made visible). `compact`: only
    the lit tab says its name (a narrow terminal keeps room for the live figures)."""
    parts = []
    for key, mode, label in tabs:
        lit = mode == active
        style = "reverse b" if lit else ""
        shown = f" {key} {label} " if lit or not compact else f" {key} "
        # Every "[" escaped: markup.escape leaves one with no "]" after it in the key, and
        # the tab's closing "[/]" then ends a tag the key began ("[@=").
        text = fmt.printable(shown).replace("[", "\\[")
        link = f"@click=app.show({mode!r})"
        parts.append(f"[{style} {link}]{text}[/]" if style else f"[{link}]{text}[/]")
    return "".join(parts)


def tabs_width(tabs: Sequence[Tab], active: str, *, compact: bool = False) -> int:
    """Cells the tabs take (what tabs_markup shows, without its markup)."""
    return sum(
        len(fmt.printable(f" {k} {label} " if m == active or not compact else f" {k} "))
        for k, m, label in tabs
    )


BRAND = "sloth-tui "
PULSE_ROOM = 16  # cells the live figures need ("● 0/s  last 23 ") before the tabs give up theirs


class EngineLabel(Widget):
    """The longest of its variants (longest first) that fits the room left; the tooltip
    always has the first."""

    variants: reactive[tuple[str, ...]] = reactive(tuple, layout=False)

    def preset(self, variants: tuple[str, ...]) -> None:
        """Before mounting: drawn with these from the first frame."""
        self.set_reactive(EngineLabel.variants, variants)
        self.watch_variants(variants)

    def watch_variants(self, variants: tuple[str, ...]) -> None:
        self.tooltip = fmt.plain(variants[0]) if variants else None  # a str tooltip is markup

    def render(self) -> Text:
        width = self.size.width
        room = width - 3  # two spaces after the tabs, one before the pulse
        shown = (fmt.printable(v) for v in self.variants)  # paths: any character may occur
        text = next((v for v in shown if len(v) <= room), "")
        return Text(f"{text} ".rjust(width) if text else "", no_wrap=True)


class TopBar(Vertical):
    """The app sets the pulse, engine and banner every tick; until this bar's row is
    mounted (it mounts after the bar itself), the next tick tries again."""

    def __init__(self, active: str) -> None:
        super().__init__()
        self.active = active  # the mode whose tab is lit
        self._pulse = ""
        self._banner = ""
        self._tabs: Sequence[Tab] = ()
        self._layout: tuple[bool, bool] | None = None  # (brand shown, tabs compact)
        self._pulse_w = Static("", id="pulse", markup=False)
        self._engine_w = EngineLabel(id="engine")
        self._banner_w = Static("", id="banner", markup=False)
        self._brand_w = Static(f"[b]{BRAND.strip()}[/] ", id="brand")
        self._tabs_w = Static("", id="tabs")

    def compose(self) -> ComposeResult:
        app = self.app
        tabs: Sequence[Tab] = ()
        if isinstance(app, DashboardHost):
            # Drawn complete from the first frame, not only after the app's next tick.
            self._engine_w.preset(app.engine_labels)
            self._pulse = app.pulse_text()
            self._pulse_w.update(self._pulse)
            # The tabs are the app's screen specs, with the keys the keymap gave them.
            tabs = app.screen_tabs()
        self._tabs = tabs
        self._tabs_w.update(tabs_markup(tabs, self.active))
        with Horizontal(id="top-row"):
            yield self._brand_w
            yield self._tabs_w
            yield self._engine_w
            yield self._pulse_w
        yield self._banner_w

    def on_resize(self) -> None:
        self._fit()

    def _fit(self) -> None:
        """The widest form of the row that leaves the live figures their room: the brand
        goes first, then the names of the tabs not lit (the engine's label shrinks by
        itself: it takes what is left)."""
        width = self.size.width
        if not width:
            return
        room = width - max(len(self._pulse), PULSE_ROOM)
        full = tabs_width(self._tabs, self.active)
        if full + len(BRAND) + 1 <= room:
            layout = (True, False)
        elif full <= room:
            layout = (False, False)
        else:
            layout = (False, True)
        if layout != self._layout:
            self._layout = layout
            self._brand_w.display = layout[0]
            self._tabs_w.update(tabs_markup(self._tabs, self.active, compact=layout[1]))

    def set_engine(self, variants: tuple[str, ...]) -> None:
        """Which engine this is: e.g. ("embedded ~/.local/share/sloth-tui", "embedded")."""
        if self._engine_w.is_mounted:
            self._engine_w.variants = variants

    def set_pulse(self, text: str) -> None:
        if text != self._pulse and self._pulse_w.is_mounted:
            old, self._pulse = self._pulse, text
            # The figures change every tick under load, mostly not their width: a layout
            # of the whole screen per tick only when the width does change.
            resized = cell_len(text) != cell_len(old)
            self._pulse_w.update(text, layout=resized)
            if cell_len(text) > cell_len(old):
                self._fit()

    def set_banner(self, text: str) -> None:
        """A warning line under the tabs (the daemon is lost); "" hides it."""
        if text != self._banner and self._banner_w.is_mounted:
            self._banner = text
            self._banner_w.update(fmt.plain(text))
            self._banner_w.display = bool(text)
