"""file_ops' text edits as pure functions, under hypothesis: any pattern and any text (lone
surrogates from a file that is not UTF-8 included) answer or refuse in one line, and on
patterns that cannot match the empty string, replace agrees with Python's re.sub (both
are leftmost-first; they differ only where Go and Python treat empty matches apart)."""

from __future__ import annotations

import re

from hostile import hostile_text
from hypothesis import example, given, settings
from hypothesis import strategies as st

from sloth_tui.lua.modules import file_ops_text as text
from sloth_tui.lua.modules.base import HostError

# A file's text as _read_text gives it: its bytes decoded with surrogateescape.
texts = st.one_of(
    hostile_text(300).map(
        lambda s: s.encode("utf-8", "surrogatepass").decode("utf-8", "surrogateescape")
    ),
    st.text(alphabet="abc\n é", max_size=300),
    st.binary(max_size=200).map(lambda b: b.decode("utf-8", "surrogateescape")),
)
patterns = st.one_of(hostile_text(60), st.text(alphabet="()[]{}*+?|\\^$.abdwszP<>=!$", max_size=30))


@settings(max_examples=300, deadline=None)
@given(patterns, texts, st.sampled_from(["X", "$0$0", "${1}", "$$", "$name", ""]))
@example(r"(a+)+$", "a" * 40 + "!", "X")
@example(r"(a)\1", "aa", "X")
@example(".", "caf\udce9", "[$0]")
def test_any_pattern_on_any_text_answers_or_refuses_in_one_line(
    pattern: str, subject: str, replacement: str
) -> None:
    for edit in (
        lambda: text.replace(subject, pattern, replacement),
        lambda: text.lineinfile(subject, "line", "present", pattern),
        lambda: text.lineinfile(subject, "line", "absent", pattern),
    ):
        try:
            out = edit()
        except HostError as exc:
            assert str(exc) and "\n" not in str(exc) and len(str(exc)) <= 320
            continue
        assert isinstance(out, str)
        out.encode("utf-8", "surrogateescape")  # what file_ops writes back


# Not "c$": Python's $ also matches before a final newline, Go's (RE2's) does not.
NON_EMPTY = ["a+", "[ab]+c", "(a|b)c+", "a(?P<x>b+)", "b{2,3}", "a.c", "é+", "(?m)^a", "(?m)c$"]


@settings(max_examples=300, deadline=None)
@given(st.sampled_from(NON_EMPTY), st.text(alphabet="abc\n é", max_size=200))
def test_replace_agrees_with_re_sub_where_go_and_python_agree(pattern: str, subject: str) -> None:
    got = text.replace(subject, pattern, "[$0]")
    assert got == re.sub(pattern, lambda m: f"[{m.group(0)}]", subject)
