"""Everything the CLI prints goes through here, so outside text cannot drive the terminal.

Human output shows control characters as visible escapes (sloth_tui/plain_text.py says
why); JSON output escapes them the JSON way (``\\u001b``), which any JSON reader turns
back into exactly the same text.
"""

from __future__ import annotations

import codecs
import errno
import io
import json
import os
import re
import sys
from typing import Any

import click

from sloth_tui.json_out import json_text as json_text  # re-exported for the commands
from sloth_tui.plain_text import clean as clean
from sloth_tui.plain_text import clean_block as clean_block

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


ESCAPE_UNENCODABLE = "sloth-tui-escape"


def _escape_unencodable(error: UnicodeError) -> tuple[str, int]:
    """`\\u26a0` for a character the terminal's encoding lacks (a surrogate pair past
    U+FFFF): a visible escape in human output, and the same character to any JSON reader
    in --json output, where every such character sits inside a string."""
    assert isinstance(error, UnicodeEncodeError)
    escaped = []
    for char in error.object[error.start : error.end]:
        code = ord(char)
        if code > 0xFFFF:
            code -= 0x10000
            escaped.append(f"\\u{0xD800 + (code >> 10):04x}\\u{0xDC00 + (code & 0x3FF):04x}")
        else:
            escaped.append(f"\\u{code:04x}")
    return "".join(escaped), error.end


codecs.register_error(ESCAPE_UNENCODABLE, _escape_unencodable)


def byte_size(n: int) -> str:
    """A count of bytes for an operator: 512 B, 84.0 KB, 3.8 MB, 227.6 GB."""
    value = float(n)
    for unit in ("B", "KB", "MB", "GB"):
        if value < 1024 or unit == "GB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    raise AssertionError("unreachable")


class ClosedOutput(io.TextIOBase):
    """Standard output when it is closed (`>&-`). Python makes sys.stdout None, print()
    then writes nothing, and `event list >&-` exited 0 having shown nothing: lost
    output passed for success. Writing here raises, so the command line says so in one
    line and exits 1 (as `ls >&-` does). A command that prints nothing still succeeds."""

    def writable(self) -> bool:
        return True

    def write(self, text: str) -> int:
        if not text:
            return 0
        raise OSError(errno.EBADF, "standard output is closed: the command's output was lost")


def suit_the_terminal() -> None:
    """The standard streams as the commands expect them.

    On a terminal (or pipe) whose encoding is not UTF-8, a latin-1 locale say, print what
    it cannot encode as an escape instead of failing halfway through a listing with
    UnicodeEncodeError (an event's data, the ⚠ of a warning). A closed stdin (`<&-`,
    some service managers) reads as empty, as /dev/null does: Python makes it None,
    and `event import -` or `secret set` failed on that as an unexpected error."""
    if sys.stdin is None:
        sys.stdin = open(os.devnull, encoding="utf-8")  # noqa: SIM115 (the process's stdin)
    if sys.stdout is None:
        sys.stdout = ClosedOutput()
    for stream in (sys.stdout, sys.stderr):
        if not isinstance(stream, io.TextIOWrapper) or stream.errors != "strict":
            continue
        if codecs.lookup(stream.encoding).name != "utf-8":
            stream.reconfigure(errors=ESCAPE_UNENCODABLE)
