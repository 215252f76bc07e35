"""What the filter matched, marked in the Events rows: free text, `key=` of field terms,
and the whole type cell for `type:` globs (only terms that select, not `!` ones)."""

from __future__ import annotations

from rich.segment import Segment
from rich.style import Style

from sloth_tui.model.filters import Filter

MATCH_STYLE = Style(reverse=True)  # text the filter found, as `less` and k9s mark it
TYPE_STYLE = Style(underline=True)  # a type the glob matched: every row has one, so light


def needles_of(flt: Filter) -> tuple[str, ...]:
    """Text to mark wherever it shows (compared case-insensitively, as free text is)."""
    out: list[str] = []
    for term in flt.terms:
        if term.negate:
            continue
        if term.kind == "text" and term.value:
            out.append(term.value)
        elif term.kind == "field" and term.path:
            out.append(".".join(term.path) + "=")  # the summary shows `key=value`
    return tuple(out)


def marks_type(flt: Filter) -> bool:
    return any(t.kind == "type" and not t.negate for t in flt.terms)


def spans(text: str, needles: tuple[str, ...]) -> list[tuple[int, int]]:
    """Where the needles are in `text`, merged, as (start, end) character offsets.

    Folding must keep offsets: when lower-casing changes the length (`İ`), nothing is
    marked rather than the wrong characters."""
    folded = text.lower()
    if not needles or len(folded) != len(text):
        return []
    found: list[tuple[int, int]] = []
    for needle in needles:
        n = needle.lower()
        if not n or len(n) != len(needle):
            continue
        start = folded.find(n)
        while start >= 0:
            found.append((start, start + len(n)))
            start = folded.find(n, start + len(n))
    merged: list[tuple[int, int]] = []
    for start, end in sorted(found):
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], end))
        else:
            merged.append((start, end))
    return merged


def marked(text: str, style: Style, needles: tuple[str, ...], whole: bool = False) -> list[Segment]:
    """`text` as segments, the matched parts (or, with `whole`, all but the padding) marked."""
    mark = MATCH_STYLE
    if whole:
        body = text.rstrip(" ")
        found = [(0, len(body))] if body else []
        mark = TYPE_STYLE
    else:
        found = spans(text, needles)
    if not found:
        return [Segment(text, style)]
    segments: list[Segment] = []
    pos = 0
    for start, end in found:
        if start > pos:
            segments.append(Segment(text[pos:start], style))
        segments.append(Segment(text[start:end], style + mark))
        pos = end
    if pos < len(text):
        segments.append(Segment(text[pos:], style))
    return segments
