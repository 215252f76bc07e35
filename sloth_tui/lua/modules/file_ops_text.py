"""The text edits of file_ops, as pure functions of the old text: lineinfile,
blockinfile, replace (upstream's semantics, its Go regexps run by RE2 as Go runs
them: model/saferegex.py) and template (upstream's `{{.key}}` / `{{.a.b}}` only),
plus the unified diff a call records.

The regexps search the text's UTF-8 bytes (a file that is not UTF-8 arrives with
surrogate escapes, which RE2 cannot take as str), as Go's regexp does."""

from __future__ import annotations

import difflib
import json
import re
import time
from typing import Any

from sloth_tui.lua.modules.base import HostError
from sloth_tui.model.saferegex import Match, Regex, RegexError, check_work, compile_regex

_ACTION = re.compile(r"\{\{(.*?)\}\}", re.DOTALL)
_FIELD = re.compile(r"\s*\.([A-Za-z_]\w*(?:\.[A-Za-z_]\w*)*)\s*")
_ONLY = "only {{.key}} and {{.a.b}} are"
_GO_GROUP = re.compile(r"\$(?:(\$)|\{(\w+)\}|(\w+))")  # in our replacement string only


def diff(path: str, old: str, new: str) -> str:
    lines = difflib.unified_diff(
        old.splitlines(keepends=True), new.splitlines(keepends=True), path, path
    )
    return "".join(line if line.endswith("\n") else line + "\n" for line in lines)


def _split(text: str) -> tuple[list[str], bool]:
    """Lines, and whether the text ended with a newline (kept on rewrite; upstream
    drops it, which leaves a blank line on the next append)."""
    if not text:
        return [], False
    ends = text.endswith("\n")
    return (text[:-1] if ends else text).split("\n"), ends


def _join(lines: list[str], newline: bool) -> str:
    return "\n".join(lines) + ("\n" if newline and lines else "")


def _utf8(text: str) -> bytes:
    return text.encode("utf-8", "surrogateescape")


def _regex(pattern: Any, what: str, text: str) -> Regex | None:
    """The hook's regexp compiled by RE2, and its worst case on `text` bounded (the
    run's deadline cannot stop RE2 inside C); HostError naming the option otherwise."""
    if pattern is None or pattern == "":
        return None
    try:
        compiled = compile_regex(str(pattern))
        check_work(compiled, len(_utf8(text)))
    except RegexError as exc:
        raise HostError(f"{what} {exc}") from None
    return compiled


def _past(deadline: float | None, what: str) -> None:
    if deadline is not None and time.monotonic() > deadline:
        raise HostError(f"{what}: the run's deadline passed")


def lineinfile(
    text: str, line: str, state: str, pattern: Any, deadline: float | None = None
) -> str:
    regex = _regex(pattern, "regexp", text)
    seen = [0]

    def hit(x: str) -> bool:
        if regex is None:
            return False
        seen[0] += 1
        if seen[0] % 4096 == 0:
            _past(deadline, "lineinfile")
        return regex.search(_utf8(x)) is not None

    lines, newline = _split(text)
    if state == "absent":
        kept = [x for x in lines if x != line and not hit(x)]
        return _join(kept, newline)
    found, out = False, []
    for x in lines:
        if hit(x):
            out.append(line)
            found = True
        else:
            found = found or x == line
            out.append(x)
    if not found:
        out.append(line)
    return _join(out, newline)


def blockinfile(text: str, block: str, state: str, begin: str, end: str) -> str:
    lines, newline = _split(text)
    # Upstream takes the last line holding each marker.
    b = max((i for i, x in enumerate(lines) if begin in x), default=-1)
    e = max((i for i, x in enumerate(lines) if end in x), default=-1)
    if state == "absent":
        if b >= 0 and e >= 0:
            lines = lines[:b] + lines[e + 1 :]
        return _join(lines, newline)
    new_block = [begin, *block.split("\n"), end]
    found = b >= 0 and e >= 0
    return _join(lines[:b] + new_block + lines[e + 1 :] if found else lines + new_block, newline)


def replace(text: str, pattern: str, replacement: str, deadline: float | None = None) -> str:
    regex = _regex(pattern, "pattern", text)
    if regex is None:
        raise HostError("pattern parameter is required")
    template = _template(replacement)
    src = _utf8(text)
    out: list[bytes] = []
    # Go's Regexp.ReplaceAllString, step for step: an empty match right after a
    # match is not replaced, and the search always moves on by at least one rune.
    last_end = search_at = count = 0
    while search_at <= len(src):
        count += 1
        if count % 4096 == 0:  # each match costs Python time the Lua deadline cannot see
            _past(deadline, "replace")
        m = regex.search(src, search_at)
        if m is None:
            break
        start, end = m.start(), m.end()
        out.append(src[last_end:start])
        if end > last_end or start == 0:
            out.append(_expand(template, m))
        last_end = end
        # A rune is at most 4 bytes: past that the match moves the search on anyway.
        width = _rune_width(src, search_at) if end - search_at < 4 else 1
        if search_at + width > end:
            search_at += width
        elif search_at + 1 > end:
            search_at += 1  # at the end of the text (width 0)
        else:
            search_at = end
    out.append(src[last_end:])
    return b"".join(out).decode("utf-8", "surrogateescape")


Piece = bytes | int | str  # literal text, a group's number, a group's name


def _template(replacement: str) -> list[Piece]:
    """Go's template for ReplaceAllString: $1, ${1}, $name, ${name}, $$."""
    pieces: list[Piece] = []
    at = 0
    for g in _GO_GROUP.finditer(replacement):
        pieces.append(_utf8(replacement[at : g.start()]))
        at = g.end()
        if g.group(1):
            pieces.append(b"$")
            continue
        key = g.group(2) or g.group(3)
        # Go reads a name of digits as a number when it is below 1e8.
        number = key.isascii() and key.isdigit() and len(key) <= 8
        pieces.append(int(key) if number else key)
    pieces.append(_utf8(replacement[at:]))
    return pieces


def _expand(template: list[Piece], m: Match) -> bytes:
    out = []
    for piece in template:
        if isinstance(piece, bytes):
            out.append(piece)
            continue
        try:
            value = m.group(piece)
        except IndexError:  # no such group: Go expands it to nothing
            value = None
        out.append(value or b"")
    return b"".join(out)


def _rune_width(src: bytes, at: int) -> int:
    """The bytes of the UTF-8 character at `at` (1 for a byte that starts none, as Go's
    utf8.DecodeRune; 0 at the end)."""
    for width in range(1, 5):
        piece = src[at : at + width]
        if len(piece) < width:
            break
        try:
            piece.decode("utf-8")
        except UnicodeDecodeError:
            continue
        return width
    return 1 if at < len(src) else 0


def _value_text(value: Any) -> str:
    if value is None:
        return "<no value>"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, str):
        return value
    if isinstance(value, int | float):
        return str(value)
    return json.dumps(value, ensure_ascii=False)


def template(source: str, variables: Any) -> str:
    """Upstream renders Go text/template; here only field lookups: anything richer
    (calls, pipelines, range, if, comments, trim markers) is refused, not half-run."""
    data = variables if isinstance(variables, dict) else {}

    def field(m: re.Match[str]) -> str:
        found = _FIELD.fullmatch(m.group(1))
        if found is None:
            action = m.group(0) if len(m.group(0)) <= 60 else m.group(0)[:57] + "..."
            raise HostError(f"template action {action} is not supported: {_ONLY}")
        value: Any = data
        for key in found.group(1).split("."):
            value = value.get(key) if isinstance(value, dict) else None
        return _value_text(value)

    rendered = _ACTION.sub(field, source)
    if "{{" in _ACTION.sub("", source):
        raise HostError("template has an unclosed '{{'")
    return rendered
