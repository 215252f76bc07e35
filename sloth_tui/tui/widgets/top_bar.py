"""On top of every screen: the screen tabs (clickable), which engine this is, the live pulse,
and, attached, a banner while the daemon is out of reach."""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.reactive import reactive
from textual.widget import Widget
from textual.widgets import Static

SCREENS: tuple[tuple[str, str, str], ...] = (
    ("1", "events", "Events"),
    ("2", "hooks", "Hooks"),
    ("3", "executions", "Execs"),
    ("4", "stats", "Stats"),
    ("5", "catalog", "Catalog"),
)


def tabs_markup(active: str) -> str:
    parts = []
    for key, mode, label in SCREENS:
        style = "reverse b" if mode == active else ""
        text = f" {key} {label} "
        link = f"@click=app.show({mode!r})"
        parts.append(f"[{style} {link}]{text}[/]" if style else f"[{link}]{text}[/]")
    return "".join(parts)


class EngineLabel(Widget):
    """The longest of its variants (longest first) that fits the room left; the tooltip
    always has the first."""

    variants: reactive[tuple[str, ...]] = reactive(tuple, layout=False)

    def watch_variants(self, variants: tuple[str, ...]) -> None:
        self.tooltip = variants[0] if variants else None

    def render(self) -> Text:
        width = self.size.width
        room = width - 3  # two spaces after the tabs, one before the pulse
        text = next((v for v in self.variants if len(v) <= room), "")
        return Text(f"{text} ".rjust(width) if text else "", no_wrap=True)


class TopBar(Vertical):
    def __init__(self, active: str) -> None:
        super().__init__()
        self.active = active
        self._pulse = ""
        self._banner = ""

    def compose(self) -> ComposeResult:
        with Horizontal(id="top-row"):
            yield Static("[b]sloth-tui[/] ", id="brand")
            yield Static(tabs_markup(self.active), id="tabs")
            yield EngineLabel(id="engine")
            yield Static("", id="pulse", markup=False)
        yield Static("", id="banner", markup=False)

    def on_mount(self) -> None:
        self.set_engine(getattr(self.app, "engine_labels", ()))

    def set_engine(self, variants: tuple[str, ...]) -> None:
        """Which engine this is: e.g. ("embedded ~/.local/share/sloth-tui", "embedded")."""
        self.query_one(EngineLabel).variants = variants

    def set_pulse(self, text: str) -> None:
        if text != self._pulse:
            self._pulse = text
            self.query_one("#pulse", Static).update(text)

    def set_banner(self, text: str) -> None:
        """A warning line under the tabs (the daemon is lost); "" hides it."""
        if text != self._banner:
            self._banner = text
            banner = self.query_one("#banner", Static)
            banner.update(text)
            banner.display = bool(text)
