"""Where each key works, and `[keymap]` in config.toml, which rebinds keys by binding id.

Every binding of the dashboard carries an id (`screen.hooks`, `events.pause`, `nav.down`,
...). Textual's `App.set_keymap` swaps the keys of the bindings with those ids, as Posting
does; this module checks the ids against the bindings that exist (a typo is one line
naming the known ids) and gives the help screen and the README their sections.

The sections come from the app class's declarations (its BINDINGS, SCREEN_SPECS and
PLACES, which are tui/screen_specs.py's), so this module imports no screen.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from textual.binding import Binding
from textual.dom import DOMNode
from textual.keys import _character_to_key
from textual.screen import Screen

from sloth_tui.tui.nav import NAV_BINDINGS, as_bindings, key_name, own_bindings

if TYPE_CHECKING:
    from sloth_tui.tui.app import SlothApp

Section = tuple[str, list[Binding]]  # (where, its bindings), in the order the help shows

ANYWHERE = "Anywhere"
SHARED = "Every list and detail view"
# The app's bindings the help leaves out: ctrl+c is said in q's line.
NOT_LISTED = frozenset({"app.interrupt"})


def key_sections(
    app_class: type[SlothApp], keymap: Mapping[str, str] | None = None
) -> list[Section]:
    """(where, bindings) in the order the help and the README list them; with `keymap`,
    each binding shows the keys the keymap gave it."""
    anywhere = [b for b in as_bindings(app_class.BINDINGS) if b.id not in NOT_LISTED]
    sections: list[Section] = [(ANYWHERE, anywhere), (SHARED, list(NAV_BINDINGS))]
    for spec in app_class.SCREEN_SPECS:
        sections.append((spec.title, _place_bindings(spec.screen, spec.widgets)))
        sections += [(p.title, _place_bindings(p.screen, p.widgets)) for p in spec.opens]
    sections += [(p.title, _place_bindings(p.screen, p.widgets)) for p in app_class.PLACES]
    if keymap:
        sections = [(where, [rebound(b, keymap) for b in bindings]) for where, bindings in sections]
    return sections


def _place_bindings(screen: type[Screen[Any]], widgets: Iterable[type[DOMNode]]) -> list[Binding]:
    """A screen's own keys, then its widgets' (those with a tooltip: the rest, like an
    arrow key, repeat the shared grammar)."""
    extra = [b for w in widgets for b in own_bindings(w) if b.tooltip]
    return [*own_bindings(screen), *extra]


def binding_classes(app_class: type[SlothApp]) -> list[type[DOMNode]]:
    """Every class whose BINDINGS a [keymap] entry may name."""
    classes: list[type[DOMNode]] = [app_class]
    places = [p for spec in app_class.SCREEN_SPECS for p in spec.opens] + list(app_class.PLACES)
    for spec in app_class.SCREEN_SPECS:
        classes += [spec.screen, *spec.widgets]
    for place in places:
        classes += [place.screen, *place.widgets]
    return classes


def default_keys(app_class: type[SlothApp]) -> dict[str, str]:
    """binding id -> its keys as declared (before any [keymap])."""
    keys = {b.id: b.key for b in NAV_BINDINGS if b.id}
    for cls in binding_classes(app_class):
        keys |= {b.id: b.key for b in as_bindings(getattr(cls, "BINDINGS", ())) if b.id}
    return keys


def known_ids(app_class: type[SlothApp]) -> list[str]:
    """The binding ids a [keymap] may rebind, sorted."""
    return sorted(default_keys(app_class))


def check_keymap(
    pairs: Sequence[tuple[str, str]], known: Sequence[str]
) -> tuple[dict[str, str], list[str]]:
    """(the entries to apply, one line per unknown id). An unknown id does not stop the
    dashboard: its keys stay as they were, and the line names the ids that exist."""
    usable: dict[str, str] = {}
    problems: list[str] = []
    for binding_id, keys in pairs:
        if binding_id in known:
            usable[binding_id] = keys
            continue
        near = difflib.get_close_matches(binding_id, known, n=1)
        hint = f"did you mean {near[0]}? " if near else ""
        problems.append(
            f"config.toml [keymap]: no binding {binding_id[:70]!r}; {hint}"
            f"known ids: {', '.join(known)}"
        )
    return usable, problems


def clashes(app_class: type[SlothApp], keymap: Mapping[str, str]) -> list[str]:
    """One line per key the keymap gives a binding while another binding of the same
    screen (or of the app) still has it. Textual lets the keymap win and drops the
    other silently (its clash hook misses this case), so the operator is told here."""
    lines: list[str] = []
    for cls in binding_classes(app_class):
        owners: dict[str, list[str]] = {}
        for b in as_bindings(getattr(cls, "BINDINGS", ())):
            keys = keymap.get(b.id or "", b.key)
            for key in (_normalize(k) for k in keys.split(",")):
                if b.id and b.id not in owners.setdefault(key, []):
                    owners[key].append(b.id)
        for key, ids in owners.items():
            moved = [i for i in ids if i in keymap]
            if len(ids) > 1 and moved:
                others = [i for i in ids if i not in moved] or ids[1:]
                line = (
                    f"config.toml [keymap]: {key_name(key)} gives {' and '.join(moved)} "
                    f"the key of {' and '.join(others)}"
                )
                if line not in lines:
                    lines.append(line)
    return lines


def _normalize(key: str) -> str:
    """A key as Textual compares them: `?` and `question_mark` are one key."""
    key = key.strip()
    return _character_to_key(key) if len(key) == 1 else key


def rebound(binding: Binding, keymap: Mapping[str, str]) -> Binding:
    """The binding with the keys the keymap gives its id (as Textual applies it)."""
    keys = keymap.get(binding.id or "")
    return binding.with_key(keys, key_display=None) if keys else binding


def live_bindings(screen: Screen[Any]) -> list[tuple[Binding, bool]]:
    """(binding, enabled) for every key that works on `screen` now, from Textual's own
    binding chain (the focused widget's, the screen's, the app's, with the keymap
    applied); the keys of one binding joined again ("j,down" was split in two), the
    screen's own first."""
    merged: dict[tuple[int, str], tuple[Binding, list[str], bool]] = {}
    for key, active in screen.active_bindings.items():
        b = active.binding
        ident = (id(active.node), b.id or f"{b.action}:{b.description}")
        if ident in merged:
            merged[ident][1].append(key)
        else:
            merged[ident] = (b, [key], active.enabled)
    out: list[tuple[Binding, bool, int]] = []
    for (node_id, _ident), (b, keys, enabled) in merged.items():
        display = b.key_display if len(keys) == 1 else None
        # The screen's own keys first, then the focused widget's, then the app's.
        rank = 0 if node_id == id(screen) else 2 if node_id == id(screen.app) else 1
        out.append((b.with_key(",".join(keys), key_display=display), enabled, rank))
    out.sort(key=lambda item: item[2])  # stable: each node's keys keep their order
    return [(b, enabled) for b, enabled, _rank in out]
