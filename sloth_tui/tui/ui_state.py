"""What the dashboard remembers between runs: `<home>/tui-state.json`, not config.toml.

config.toml is the operator's file (hand-written, checked, never rewritten by us); this
one is ours: filter history, last filter, theme, split layout. A missing, unreadable or
hand-mangled file is no error: each field that does not read as its type falls back to
its default, and keys we do not know are kept (a newer version may have written them).

Writes are atomic (a temporary file in the same directory, then `os.replace`) and the file
is mode 0600 from its creation: filters quote event data, which can be private.

    state = load_state(home)
    state.filter_history.append("type:deploy.*")
    save_state(home, state)
    # or, changing only some fields (others, written meanwhile, stay):
    update_state(home, theme="sloth-light")
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

from sloth_tui.atomic_file import PRIVATE, write_atomically

STATE_FILE = "tui-state.json"
MAX_HISTORY = 50  # filters remembered; the oldest go first
MAX_ENTRY = 2000  # characters of one remembered filter
MAX_BYTES = 1_000_000  # a bigger state file is not ours: ignored


@dataclass(slots=True)
class UiState:
    filter_history: list[str] = field(default_factory=list)  # oldest first
    last_filter: str | None = None
    theme: str | None = None
    split: bool | None = None  # the Events split view, open or not
    column_widths: dict[str, int] = field(default_factory=dict)
    extra: dict[str, Any] = field(default_factory=dict)  # keys this version does not know

    def to_dict(self) -> dict[str, Any]:
        known = {f.name: getattr(self, f.name) for f in fields(self) if f.name != "extra"}
        return {**self.extra, **known}


def state_path(home: Path) -> Path:
    return Path(home) / STATE_FILE


def _str_list(value: Any) -> list[str]:
    if not isinstance(value, list):
        return []
    return [v for v in value if isinstance(v, str) and 0 < len(v) <= MAX_ENTRY][-MAX_HISTORY:]


def _from_dict(raw: dict[str, Any]) -> UiState:
    def opt(key: str, kind: type) -> Any:
        value = raw.get(key)
        return value if isinstance(value, kind) and not (kind is int and value is True) else None

    widths = raw.get("column_widths")
    return UiState(
        filter_history=_str_list(raw.get("filter_history")),
        last_filter=opt("last_filter", str),
        theme=opt("theme", str),
        split=opt("split", bool),
        column_widths={
            k: v
            for k, v in (widths.items() if isinstance(widths, dict) else ())
            if isinstance(k, str) and type(v) is int and 0 <= v <= 10_000
        },
        extra={k: v for k, v in raw.items() if k not in {f.name for f in fields(UiState)}},
    )


def load_state(home: Path) -> UiState:
    """The saved state, or defaults where there is none (never raises for a bad file)."""
    path = state_path(home)
    try:
        if path.stat().st_size > MAX_BYTES:
            return UiState()
        raw = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError, RecursionError):
        return UiState()
    return _from_dict(raw) if isinstance(raw, dict) else UiState()


def save_state(home: Path, state: UiState) -> None:
    """Write the whole state atomically, mode 0600. Raises OSError (the caller says so)."""
    # ASCII: a lone surrogate (json.loads makes one of "\\ud800") still writes.
    text = json.dumps(state.to_dict(), indent=1, default=str)
    write_atomically(state_path(home), text, mode=PRIVATE)


def update_state(home: Path, **changes: Any) -> UiState:
    """Re-read the file, change only the given fields, write it back; the new state."""
    state = replace(load_state(home), **changes)
    save_state(home, state)
    return state


def remember_filter(history: list[str], text: str) -> list[str]:
    """History with `text` as its newest entry (moved there if it was already in it)."""
    text = text.strip()
    if not text or len(text) > MAX_ENTRY:
        return list(history)
    kept = [h for h in history if h != text][-(MAX_HISTORY - 1) :]
    return [*kept, text]
