"""Outside text made harmless for a terminal, without click: what the command line
prints (commands/output.py) and what log lines carry (sources/log_format.py).

Event data, types, sources, hook names and descriptions, logs, errors and paths come
from strangers. Printed raw, an escape sequence in them could retitle the terminal, clear
the screen, plant a hyperlink, write the clipboard, or reorder a line (bidi overrides).
Such characters are shown as visible escapes instead: ESC -> ``\\x1b``, a newline inside
a value -> ``\\n``, U+202E -> ``\\u202e``.
"""

from __future__ import annotations

import re

from sloth_tui.json_out import UNSAFE_PAST_C0 as _REST

_UNSAFE = re.compile(rf"[\x00-\x1f{_REST}]")
_UNSAFE_BUT_NEWLINE = re.compile(rf"[\x00-\x09\x0b-\x1f{_REST}]")
_UNSAFE_BUT_NEWLINE_TAB = re.compile(rf"[\x00-\x08\x0b-\x1f{_REST}]")
_NAMED = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}


def _escape(match: re.Match[str]) -> str:
    char = match.group()
    named = _NAMED.get(char)
    if named is not None:
        return named
    code = ord(char)
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def clean(value: object) -> str:
    """One value as one line of harmless text: every control character, newline included,
    becomes a visible escape."""
    text = value if isinstance(value, str) else str(value)
    return _UNSAFE.sub(_escape, text) if _UNSAFE.search(text) else text


def clean_block(text: str, *, tabs: bool = False) -> str:
    """Like clean(), but newlines stay (and tabs, if asked): for text that is several
    lines on purpose, such as source code or a traceback."""
    unsafe = _UNSAFE_BUT_NEWLINE_TAB if tabs else _UNSAFE_BUT_NEWLINE
    return unsafe.sub(_escape, text) if unsafe.search(text) else text
