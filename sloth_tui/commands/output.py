"""Everything the CLI prints goes through here, so outside text cannot drive the terminal.

Event data, types, sources, hook names and descriptions, logs, errors and paths come
from strangers. Printed raw, an escape sequence in them could retitle the terminal, clear
the screen, plant a hyperlink, write the clipboard, or reorder a line (bidi overrides).
Human output shows such characters as visible escapes (ESC -> ``\\x1b``, a newline inside
a value -> ``\\n``, U+202E -> ``\\u202e``); JSON output escapes them the JSON way
(``\\u001b``), which any JSON reader turns back into exactly the same text.
"""

from __future__ import annotations

import json
import re
from typing import Any

import click

from sloth_tui.json_out import UNSAFE_PAST_C0 as _REST
from sloth_tui.json_out import json_text as json_text  # re-exported for the commands

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
    lines on purpose, such as source code."""
    unsafe = _UNSAFE_BUT_NEWLINE_TAB if tabs else _UNSAFE_BUT_NEWLINE
    return unsafe.sub(_escape, text) if unsafe.search(text) else text


_AMBIGUOUS_IN_PAIRS = re.compile(r'[\s="\\]')


def value_text(value: Any, *, spaces_ok: bool = False) -> str:
    """A value for a human, as JSON: true, null, 3, [1, 2], {"a": 1}. A string stays
    bare when nothing could misread it, and is quoted (JSON) when it is empty, starts or
    ends with a space, reads as another JSON value (`"true"`, `"3"`, `"null"`), or holds
    whitespace, `=`, `"` or `\\` (in `key=value` pairs, a space would end the value;
    `spaces_ok` allows inner spaces where the value runs to the line end). Not cleaned."""
    if isinstance(value, str) and not _ambiguous(value, spaces_ok):
        return value
    return json.dumps(value, ensure_ascii=False, default=str)


def _ambiguous(text: str, spaces_ok: bool) -> bool:
    if not text or text != text.strip():
        return True
    if spaces_ok:  # control characters are escaped by clean(), as elsewhere
        if text.startswith('"'):
            return True
    elif _AMBIGUOUS_IN_PAIRS.search(text):
        return True
    try:
        json.loads(text)
    except (ValueError, RecursionError):
        return False
    return True  # `true`, `3`, `null`, `[1]`: the same text as a non-string value


def say(text: str = "", *, err: bool = False, nl: bool = True) -> None:
    """click.echo for human output: line ends kept, everything else unsafe escaped."""
    click.echo(clean_block(text), err=err, nl=nl)


def warn(message: str) -> None:
    say(f"warning: {clean(message)}", err=True)


def error_line(message: str) -> None:
    say(f"error: {clean(message)}", err=True)


def emit_json(value: Any) -> None:
    click.echo(json_text(value, indent=2))
