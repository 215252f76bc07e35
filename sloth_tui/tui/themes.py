"""Theme files: TOML in the shipped `themes/` folder and in the user's config dir.

A theme file holds the fields of `textual.theme.Theme` (name, primary, background, ...)
and a `[variables]` table; `cat-<category>` variables colour each event category.
A broken user file is reported, never fatal: the app shows the message as a notification.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from importlib import resources
from importlib.resources.abc import Traversable
from pathlib import Path

from textual.color import Color, ColorParseError
from textual.theme import Theme

from sloth_tui import catalog

DEFAULT_THEME = "sloth-dark"
COLOR_FIELDS = (
    "primary", "secondary", "warning", "error", "success", "accent",
    "foreground", "background", "surface", "panel", "boost",
)  # fmt: skip
OTHER_FIELDS = {"name": str, "dark": bool, "luminosity_spread": float, "text_alpha": float}

# Used when a theme (e.g. one of Textual's own) does not colour a category.
FALLBACK_CATEGORY_COLORS: dict[str, str] = {
    "agent": "#7dcfff", "task": "#7aa2f7", "workflow": "#bb9af7", "system": "#a9b1d6",
    "schedule": "#2ac3de", "state": "#73daca", "secret": "#ff9e64", "stack": "#b4f9f8",
    "backup": "#9ece6a", "db": "#e0af68", "network": "#41a6b5", "security": "#f7768e",
    "file": "#c3e88d", "deploy": "#ff79c6", "health": "#57e389", "custom": "#d5d6db",
    "resource": "#fca7ea", "watcher": "#ffc777",  # sloth-runner extension categories
}  # fmt: skip


class ThemeFileError(ValueError):
    pass


@dataclass
class ThemeSet:
    themes: list[Theme] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)  # one readable line per bad file


def _color(value: object, where: str) -> str:
    if not isinstance(value, str):
        raise ThemeFileError(f'{where} must be a colour string like "#7aa2f7"')
    try:
        Color.parse(value)
    except ColorParseError:
        raise ThemeFileError(f"{where} = {value!r} is not a colour") from None
    return value


def parse_theme(text: str, source: str = "<theme>") -> Theme:
    """Build a Theme from TOML text; ThemeFileError says what is wrong and where."""
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ThemeFileError(f"{source}: {exc}") from None
    kwargs: dict[str, object] = {}
    variables = raw.pop("variables", {})
    for key, value in raw.items():
        if key in COLOR_FIELDS:
            kwargs[key] = _color(value, f"{source}: {key}")
        elif key in OTHER_FIELDS:
            kind = OTHER_FIELDS[key]
            ok = isinstance(value, kind) or (kind is float and isinstance(value, int))
            if not ok or isinstance(value, bool) != (kind is bool):
                raise ThemeFileError(f"{source}: {key} must be a {kind.__name__}")
            kwargs[key] = value
        else:
            raise ThemeFileError(f"{source}: unknown key {key!r}")
    if not kwargs.get("name"):
        raise ThemeFileError(f"{source}: a theme needs a name")
    if "primary" not in kwargs:
        raise ThemeFileError(f"{source}: a theme needs a primary colour")
    if not isinstance(variables, dict):
        raise ThemeFileError(f"{source}: [variables] must be a table")
    clean: dict[str, str] = {}
    for key, value in variables.items():
        if key.startswith("cat-"):
            clean[key] = _color(value, f"{source}: variables.{key}")
        elif isinstance(value, str):
            clean[key] = value
        else:
            raise ThemeFileError(f"{source}: variables.{key} must be a string")
    return Theme(variables=clean, **kwargs)  # type: ignore[arg-type]


def package_theme_dir() -> Traversable | Path | None:
    """The shipped themes: `sloth_tui/themes` in a wheel, `<repo>/themes` in a source tree."""
    installed = resources.files("sloth_tui").joinpath("themes")
    if installed.is_dir():
        return installed
    repo = Path(__file__).resolve().parents[2] / "themes"
    return repo if repo.is_dir() else None


def _theme_files(folder: Traversable | Path | None) -> list[Traversable | Path]:
    if folder is None or not folder.is_dir():
        return []
    return sorted((f for f in folder.iterdir() if f.name.endswith(".toml")), key=lambda f: f.name)


def load_themes(user_dir: Path | None = None) -> ThemeSet:
    """Shipped themes, then the user's (a user theme may replace a shipped one by name)."""
    out = ThemeSet()
    by_name: dict[str, Theme] = {}
    for folder, user in ((package_theme_dir(), False), (user_dir, True)):
        for file in _theme_files(folder):
            where = str(file) if user else f"themes/{file.name}"
            try:
                theme = parse_theme(file.read_text(encoding="utf-8"), where)
            except (ThemeFileError, OSError, UnicodeDecodeError) as exc:
                out.errors.append(
                    str(exc) if isinstance(exc, ThemeFileError) else f"{where}: {exc}"
                )
                continue
            by_name[theme.name] = theme
    out.themes = list(by_name.values())
    return out


def category_colors(theme: Theme) -> dict[str, str]:
    """category -> colour for a theme, falling back per category."""
    colors = dict(FALLBACK_CATEGORY_COLORS)
    for cat in catalog.categories(extensions=True):
        value = theme.variables.get(f"cat-{cat.name}")
        if value:
            colors[cat.name] = value
    return colors


def variable_defaults() -> dict[str, str]:
    """CSS defaults so `$cat-*` resolves under any theme, Textual's own included."""
    return {f"cat-{name}": value for name, value in FALLBACK_CATEGORY_COLORS.items()}
