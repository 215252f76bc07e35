"""Hostile log lines and patterns through the log watcher's reading and matching: never a
traceback, and the event data stays plain JSON the engine takes."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

from hostile import hostile_text
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from sloth_tui.engine.events import catalog_warnings, encode_data
from sloth_tui.sources.watch_base import fit, vet_regex
from sloth_tui.sources.watch_config import LogWatch
from sloth_tui.sources.watch_log import LogFollower, PatternMatcher
from sloth_tui.sources.watch_sshauth import SshAuthMatcher

H = "Dec  2 01:02:03 web1 sshd[4242]: "
lines = st.one_of(
    hostile_text(300),
    st.text(max_size=3000),
    st.binary(max_size=3000).map(lambda b: b.decode("latin-1")),
    st.sampled_from(["\x00" * 20_000, "é" * 9000, "\x1b[2J" * 5000, "\ud7ff\ue000" * 100]),
)


def plain(value: Any) -> None:
    """Only JSON's own types, and text the store takes (no lone surrogate)."""
    if isinstance(value, str):
        value.encode("utf-8")
    elif isinstance(value, list):
        for v in value:
            plain(v)
    elif isinstance(value, dict):
        for k, v in value.items():
            assert isinstance(k, str)
            plain(v)
    else:
        assert value is None or isinstance(value, bool | int | float)


def through(follower: LogFollower, path: Path, raw: bytes) -> list[tuple[str, bool]]:
    with open(path, "ab") as f:
        f.write(raw)
    return follower.read()


def accepted(event_type: str, data: dict[str, Any]) -> None:
    data = fit(data)
    encode_data(data)  # the engine's door: JSON, within the size limit
    assert catalog_warnings(event_type, data) == []
    plain(data)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(lines, min_size=1, max_size=4), st.sampled_from(["utf-8", "latin-1"]))
@example(["x" * 70_000], "utf-8")
def test_any_line_through_a_pattern(texts: list[str], encoding: str) -> None:
    spec = LogWatch("h", path="/x", pattern=r"(?P<all>.*)(x)?", max_line=8192)
    matcher = PatternMatcher(spec)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "h.log"
        path.write_bytes(b"")
        follower = LogFollower(str(path), spec.max_line, from_start=True)
        errors = "surrogatepass" if encoding == "utf-8" else "replace"  # bytes not UTF-8
        raw = "\n".join(texts).encode(encoding, errors) + b"\n"
        got = through(follower, path, raw)
        follower.close()
    assert len(got) >= len(texts)
    for line, cut in got:
        assert "\n" not in line and len(line.encode()) <= 3 * spec.max_line
        for event_type, data in matcher.match(line, cut):
            assert data["line"] == line and data["named"]["all"] == data["match"]
            accepted(event_type, data)


@settings(max_examples=150, deadline=None)
@given(hostile_text(300))
@example("x from 10.9.9.9 port 1")
@example("x from 10.9.9.9 port 1 ssh2")
@example("[/bold] \x1b]0;pwned\x07 from ")
def test_any_user_name_through_ssh_auth(user: str) -> None:
    matcher = SshAuthMatcher("ssh")
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "auth.log"
        path.write_bytes(b"")
        follower = LogFollower(str(path), 4096, from_start=True)
        line = H + f"Invalid user {user} from 203.0.113.9 port 22\n"
        got = through(follower, path, line.encode("utf-8", "surrogatepass"))
        follower.close()
    for text, cut in got:
        for event_type, data in matcher.match(text, cut):
            accepted(event_type, data)
            if text.startswith(H):  # the whole line: the address is sshd's, not the user's
                assert data["ip_address"] == "203.0.113.9" and data["port"] == 22


@settings(max_examples=300, deadline=None)
@given(st.one_of(hostile_text(80), st.text(alphabet="()[]{}*+?|\\^$.aA0-,:=<>!P", max_size=40)))
@example("a{99999999999999999999}")
@example("(" * 500 + ")" * 500)
@example(r"(a+)+$")
@example(r"(a)\1")
def test_any_pattern_is_compiled_or_refused_in_words(text: str) -> None:
    try:
        regex = vet_regex(text)
    except ValueError as exc:
        assert str(exc) and "\n" not in str(exc) and len(str(exc)) <= 300
        return
    # Whatever it compiled to, hostile lines through it return (RE2: linear), and a
    # match is data the engine takes.
    assert type(regex).__module__ == "re2"
    matcher = PatternMatcher(LogWatch("h", path="/x", pattern=text, max_line=8192))
    for line in ["a" * 8192, "a" * 30 + "b", "é\x00" * 2000, ""]:
        for event_type, data in matcher.match(line, False):
            accepted(event_type, data)


def test_a_cubic_pattern_on_a_hostile_line_returns() -> None:
    # `.*.*x` and `(a+)+$` backtrack for seconds (cubic, exponential) in Python's re on
    # a long line without a match; RE2 makes one pass.
    for pattern in [r".*.*.*x", r"(a+)+$", r"(\w+\s?)+$"]:
        matcher = PatternMatcher(LogWatch("h", path="/x", pattern=pattern, max_line=65_536))
        assert matcher.match("a" * 65_536 + "!", False) == []


def test_fit_cuts_what_would_pass_the_engines_limit() -> None:
    line = "\x01" * 65_536  # six bytes each as JSON: past the limit
    data = {"line": line, "groups": [line, line], "named": {"a": line}, "watcher_id": "w"}
    fitted = fit(data)
    encode_data(fitted)
    assert fitted["truncated"] is True and fitted["watcher_id"] == "w"
    assert fitted["line"] == line[:1024] and fitted["groups"] == [line[:1024]] * 2
    small = {"line": "ok", "watcher_id": "w"}
    assert fit(small) is small
