"""model/saferegex.py: a stranger's pattern is compiled by RE2 or refused in one line.

That RE2 runs it is checked by what only RE2 does: the classic catastrophic pattern
returns at all (Python's `re` would need ~2^30 steps), `\\d` is ASCII, and a
backreference is refused instead of falling back to a backtracking engine."""

from __future__ import annotations

import pytest
from hostile import hostile_text
from hypothesis import example, given, settings
from hypothesis import strategies as st

from sloth_tui.model.saferegex import (
    MAX_MEM,
    PATTERN_MAX,
    WORK_MAX,
    RegexError,
    check_work,
    compile_regex,
)

MESSAGE_MAX = 300  # characters of any refusal


def refusal(pattern: str) -> str:
    with pytest.raises(RegexError) as caught:
        compile_regex(pattern)
    text = str(caught.value)
    assert text and "\n" not in text and len(text) <= MESSAGE_MAX
    return text


def test_the_classic_catastrophic_pattern_returns() -> None:
    # Backtracking takes 2^30 steps here; RE2 answers in one pass.
    regex = compile_regex(r"(a+)+$")
    assert regex.search("a" * 30 + "b") is None
    assert regex.search(("a" * 30 + "b").encode()) is None
    assert compile_regex(r"(x+x+)+y").search("x" * 5000) is None
    assert compile_regex(r".*.*.*=.*").search("x" * 20_000) is None


def test_it_is_re2_and_never_falls_back_to_re() -> None:
    assert type(compile_regex("a")).__module__ == "re2"
    assert "backreference (\\1)" in refusal(r"(a)\1")


@pytest.mark.parametrize(
    ("pattern", "words"),
    [
        (r"(a)\1", "uses a backreference (\\1): RE2, like Sloth Runner's Go regexp, has no"),
        (r"(?P<n>a)x(?P=n)", "uses a backreference (?P=name)"),
        (r"foo(?=bar)", "uses lookahead (?=...)"),
        (r"foo(?!bar)", "uses negative lookahead (?!...)"),
        (r"(?<=a)b", "uses lookbehind (?<=...)"),
        (r"(?<!a)b", "uses negative lookbehind (?<!...)"),
        (r"(?>a+)", "uses an atomic group"),
        (r"a\Z", "write \\z for the end of the text"),
        (r"a++", "is not a valid regular expression (RE2 syntax): bad repetition operator"),
        ("(unclosed\n\x1b", "missing ): (unclosed\\x0a\\x1b"),
        (r"\pL{500}", f"is too large: its compiled form would pass RE2's {MAX_MEM >> 20} MiB"),
        ("a" * (PATTERN_MAX + 1), f"is longer than {PATTERN_MAX} characters"),
        ("a\ud800", "is not valid UTF-8 text"),
    ],
)
def test_refusals_name_what_is_unsupported(pattern: str, words: str) -> None:
    assert words in refusal(pattern)


def test_a_refusal_prints_nothing_on_stderr(capfd: pytest.CaptureFixture[str]) -> None:
    refusal(r"(a)\1")  # RE2 logs its parse errors to fd 2 unless told not to
    assert capfd.readouterr().err == ""


def test_go_syntax_and_classes() -> None:
    m = compile_regex(r"(?P<key>\w+)=(?P<port>\d+)").search("x listen=8080;")
    assert m is not None and m.groupdict() == {"key": "listen", "port": "8080"}
    assert compile_regex(r"\d").search("٣") is None  # ASCII, as in Go
    assert compile_regex(r"\pN").search("٣") is not None  # Unicode by name
    assert compile_regex(r"(?i)é").search("É") is not None
    assert compile_regex(r"a$").search("a\n") is None  # $ is the end of the text
    assert compile_regex(r"(?m)a$").search("a\nb") is not None


def test_check_work_bounds_program_times_text() -> None:
    small = compile_regex(r"port=(\d+)")
    check_work(small, 8 << 20)
    big = compile_regex(r"\pL{20}")
    check_work(big, 1000)
    with pytest.raises(RegexError, match="is too complex for 1,048,576 bytes of text"):
        check_work(big, 1 << 20)
    assert big.programsize * (1 << 20) > WORK_MAX


patterns = st.one_of(
    hostile_text(80),
    st.text(alphabet="()[]{}*+?|\\^$.aA0-,:=<>!Pp{}LdwsbzZ", max_size=40),
)


@settings(max_examples=400, deadline=None)
@given(patterns, st.one_of(hostile_text(300), st.binary(max_size=300)))
@example(r"(a+)+$", "a" * 30 + "b")
@example("(" * 500 + ")" * 500, "")
@example("a{99999999999999999999}", "a")
@example(r"((a{1000}){1000})", "a")
@example(r"(?P<é>.)", "é")
def test_any_pattern_on_any_text_answers_or_refuses_in_words(
    pattern: str, subject: str | bytes
) -> None:
    try:
        regex = compile_regex(pattern)
    except RegexError as exc:
        text = str(exc)
        assert text and "\n" not in text and len(text) <= MESSAGE_MAX
        return
    if isinstance(subject, str) and not subject.isascii():
        try:
            subject.encode("utf-8")
        except UnicodeEncodeError:  # lone surrogates: callers search such text as bytes
            subject = subject.encode("utf-8", "surrogatepass")
    m = regex.search(subject)
    if m is not None:
        assert 0 <= m.start() <= m.end() <= len(subject)
        m.groups()
        m.groupdict()


def test_compiled_patterns_stay_out_of_re2s_module_cache() -> None:
    # re2.compile's LRU keeps 128 patterns (and their DFA memory) alive: not ours.
    import re2

    before = re2._Regexp._make.cache_info().currsize
    for i in range(10):
        compile_regex(f"event-{i}-[0-9]+")
    assert re2._Regexp._make.cache_info().currsize == before
