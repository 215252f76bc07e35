"""Regular expressions that come from a stranger (a hook's Lua code, config.toml),
compiled with RE2 (google-re2), never with Python's `re`.

RE2 runs in time linear in the text (no backtracking, so `(a+)+$` or `.*.*x` cannot
stall anything), its memory is capped per pattern (MAX_MEM: a pattern whose compiled
form would not fit is refused), and its syntax is the one Sloth Runner's Go `regexp`
takes: named groups `(?P<name>...)`, `\\d`/`\\w`/`\\s`/`\\b` in ASCII, `\\pL` for Unicode
classes, no backreferences and no lookaround. google-re2 never falls back to `re`: a
pattern RE2 cannot run raises, and RegexError says in one line what is unsupported.

The compiled object is re2's (no stubs): Regex below is the part of it we use. It
takes str or bytes to search (str patterns match either); callers whose text may hold
lone surrogates (surrogateescape) search its UTF-8 bytes, which RE2 reads as Go does.
"""

from __future__ import annotations

from typing import Any, Protocol

import re2

PATTERN_MAX = 4096  # characters in a pattern
MAX_MEM = 2 << 20  # bytes for one compiled pattern: its program and its DFA caches
# A pattern's worst case is about (program size x text bytes) steps of RE2's NFA, a
# few nanoseconds each: WORK_MAX bounds that product where a run has a deadline the
# C code cannot see (a hook's file_ops call), about 3 s on a slow machine.
WORK_MAX = 1 << 29


class RegexError(ValueError):
    """A pattern refused, with a one-line reason (callers add what the pattern was for)."""


class Match(Protocol):
    def group(self, *groups: int | str) -> Any: ...
    def groups(self, default: Any = None) -> tuple[Any, ...]: ...
    def groupdict(self, default: Any = None) -> dict[str, Any]: ...
    def start(self, group: int = 0) -> int: ...
    def end(self, group: int = 0) -> int: ...


class Regex(Protocol):
    @property
    def pattern(self) -> str: ...
    @property
    def programsize(self) -> int: ...
    @property
    def groupindex(self) -> dict[str, int]: ...
    def search(
        self, text: str | bytes, pos: int | None = None, endpos: int | None = None
    ) -> Match | None: ...


def _options() -> Any:
    options = re2.Options()
    options.max_mem = MAX_MEM
    options.log_errors = False  # RE2 would print each refusal on stderr
    return options


_OPTIONS = _options()
# re2.compile keeps the last 128 patterns in an LRU cache, each with DFA caches of up to
# MAX_MEM: patterns a hook builds from event data would pin up to 256 MiB there. The
# class compile() instantiates builds one uncached; the owner keeps what it needs.
_UNCACHED: Any = getattr(re2, "_Regexp", None)


def compile_regex(text: str) -> Regex:
    """`text` compiled by RE2, or RegexError naming what is wrong in one line."""
    if not isinstance(text, str):
        raise RegexError("must be a string")
    if len(text) > PATTERN_MAX:
        raise RegexError(f"is longer than {PATTERN_MAX} characters")
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        raise RegexError("is not valid UTF-8 text") from None
    try:
        compiled: Regex = (_UNCACHED or re2.compile)(text, _OPTIONS)
    except re2.error as exc:
        raise RegexError(_why(exc, text)) from None
    return compiled


def check_work(regex: Regex, text_bytes: int) -> None:
    """Refuse a search whose worst case (program size x text) passes WORK_MAX."""
    steps = regex.programsize * max(text_bytes, 1)
    if steps > WORK_MAX:
        raise RegexError(
            f"is too complex for {text_bytes:,} bytes of text"
            f" ({regex.programsize:,} RE2 steps per byte; at most {WORK_MAX:,} in all)"
        )


# -- RE2's error text, in words: each reads after its subject ("pattern ...") -------------

_NO = ": RE2, like Sloth Runner's Go regexp, has no backreferences or lookaround"
_OPERATORS = {
    "(?=": "uses lookahead (?=...)",
    "(?!": "uses negative lookahead (?!...)",
    "(?<=": "uses lookbehind (?<=...)",
    "(?<!": "uses negative lookbehind (?<!...)",
    "(?P=": "uses a backreference (?P=name)",
    "(?>": "uses an atomic group (?>...), which RE2 does not have",
    "(?#": "uses a comment (?#...), which RE2 does not have",
    "(?(": "uses a conditional (?(...)), which RE2 does not have",
}


def _why(exc: Exception, text: str) -> str:
    raw = exc.args[0] if exc.args else ""
    message = raw.decode("utf-8", "replace") if isinstance(raw, bytes) else str(raw)
    kind, _, fragment = message.partition(": ")
    if message.startswith("pattern too large"):
        return f"is too large: its compiled form would pass RE2's {MAX_MEM >> 20} MiB cap"
    if kind == "invalid escape sequence" and fragment[1:2].isdigit():
        return f"uses a backreference ({_shown(fragment)}){_NO}"
    if kind == "invalid escape sequence" and fragment == "\\Z":
        return "uses \\Z, which RE2 does not have: write \\z for the end of the text"
    if kind == "invalid perl operator":
        for start, what in _OPERATORS.items():
            # RE2 quotes only "(?P" for "(?P=name)": the pattern itself tells.
            if fragment.startswith(start) or (start.startswith(fragment) and start in text):
                return what if "RE2" in what else what + _NO
    return f"is not a valid regular expression (RE2 syntax): {_shown(message)}"


def _shown(text: str, limit: int = 80) -> str:
    """Outside text inside our message: one line, control characters escaped."""
    out = []
    for ch in text[:limit]:
        if ch.isprintable():
            out.append(ch)
        elif ord(ch) < 0x100:
            out.append(f"\\x{ord(ch):02x}")
        else:
            out.append(f"\\u{ord(ch):04x}" if ord(ch) < 0x10000 else f"\\U{ord(ch):08x}")
    shown = "".join(out)  # cut after escaping: an escape is up to ten characters
    return shown if len(shown) <= limit else shown[: limit - 3] + "..."
