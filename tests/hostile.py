"""Hostile text: the strings strangers put in event data, hook names, logs, errors and paths.

Every parser and every screen takes these as test input. `hostile_text()` is a hypothesis
strategy; `SAMPLES` is a fixed list of the worst offenders, for tests that open a screen
once per sample instead of once per hypothesis example (a Pilot app costs ~0.3 s).
"""

from __future__ import annotations

from hypothesis import strategies as st

# Rich markup that must stay text: a closing tag with no opener raises MarkupError when
# parsed, an opener restyles everything after it, a link makes a click target.
MARKUP = [
    "[/srv]",
    "disk at [/srv] failed",
    "[bold]",
    "[/bold]",
    "[link=https://example.invalid]click[/link]",
    "[red on white]x[/]",
    "[@click=app.quit]quit[/]",
    "[completed]",
    "\\[escaped]",
    "[",
    "]",
    "[[/]]",
]
# Terminal control: SGR, clear screen, OSC 0 (retitle), OSC 8 (hyperlink), OSC 52 (clipboard),
# a C1 CSI, bell, backspace, carriage return, NUL.
CONTROL = [
    "\x1b[31mred\x1b[0m",
    "\x1b[2J\x1b[H",
    "\x1b]0;pwned\x07",
    "\x1b]8;;https://example.invalid\x1b\\link\x1b]8;;\x1b\\",
    "\x1b]52;c;aGVsbG8=\x07",
    "\x9b31m",
    "\x07\x08\r\x00",
    "tab\there",
    "line1\nline2",
    "\x7f",
]
UNICODE = [
    "\u202eevil\u202c",  # right-to-left override
    "\u200b\u200d\ufeff",  # zero-width characters
    "🦥🔥 emoji",
    "全角テキスト漢字",
    "café naïve",
    "\U0001f468\u200d\U0001f469\u200d\U0001f467",  # a ZWJ sequence
    "\ud800",  # a lone surrogate, as json.loads returns for "\\ud800"
    "",
]
SAMPLES: list[str] = MARKUP + CONTROL + UNICODE + ["x" * 100_000, "[/x]" * 5000]

_alphabet = st.characters(codec=None, exclude_categories=())


def hostile_text(max_size: int = 200) -> st.SearchStrategy[str]:
    """Fixed nasties, random unicode (surrogates and controls included), and mixes of both."""
    fixed = st.sampled_from(SAMPLES[:-2])  # the huge ones only through SAMPLES
    mixed = st.lists(st.one_of(fixed, st.text(_alphabet, max_size=20)), max_size=6).map("".join)
    return st.one_of(fixed, st.text(_alphabet, max_size=max_size), mixed)


def hostile_json(max_leaves: int = 12) -> st.SearchStrategy[object]:
    """JSON-like values whose strings (keys too) are hostile."""
    leaves = st.one_of(st.none(), st.booleans(), st.integers(-(2**63), 2**63 - 1), hostile_text(60))
    return st.recursive(
        leaves,
        lambda kids: st.one_of(
            st.lists(kids, max_size=4), st.dictionaries(hostile_text(20), kids, max_size=4)
        ),
        max_leaves=max_leaves,
    )


def hostile_data() -> st.SearchStrategy[dict[str, object]]:
    """Event data: a JSON object with hostile keys and values."""
    return st.dictionaries(hostile_text(30), hostile_json(), max_size=5)
