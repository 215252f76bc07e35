"""Fuzzing the socket: generated lines against a real `serve`, over its real Unix socket.

Valid ops with hostile field values, broken JSON, huge and deep values, control
characters, NUL, invalid UTF-8, lines cut anywhere and sent in random pieces. Every
whole line gets an answer (a reply or a one-line refusal) before a deadline, the daemon
keeps answering ping, and no traceback reaches its log.
SLOTH_SOCKET_FUZZ_EXAMPLES sets the count (default 500: 10 to 25 s on 2 busy cores).
"""

from __future__ import annotations

import json
import os
import socket
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hostile import hostile_text
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sourcekit import DaemonProcess, ask, write_config

from sloth_tui.remote.ops import OPS
from sloth_tui.remote.protocol import MAX_LINE

EXAMPLES = int(os.environ.get("SLOTH_SOCKET_FUZZ_EXAMPLES", "500"))
DEADLINE = 20.0  # seconds for every answer of one example

OP_NAMES = sorted({*OPS, "ping", "subscribe", "auth", "reload_watchers", "no_such_op"})
FIELDS = [  # every field an op reads (sources/ops.py and connection.py)
    "after_id", "before_id", "changes", "code", "data", "description", "enabled", "event",
    "event_id", "event_type", "file", "filter", "hook", "hooks", "id", "ids",
    "include_dry_runs", "kinds", "limit", "max_instructions", "max_memory_mb", "maxsize",
    "name", "older_than", "only_failed", "ref", "since", "source", "status", "strict",
    "timeout", "token", "type", "until", "wait", "stack", "agent", "run_id",
]  # fmt: skip


def _deep(n: int) -> str:
    return "[" * n + "]" * n


# Values as JSON text, so that what json.dumps cannot write (NaN, 2,000 deep) is sent too.
scalar_json = st.one_of(
    st.integers(-(2**70), 2**70).map(str),
    st.floats(allow_nan=False, allow_infinity=False).map(json.dumps),
    st.sampled_from(["NaN", "Infinity", "-Infinity", "1e400", "-0", "true", "null", '""']),
    st.sampled_from(['"\\ud800"', '"a\\udfffb"', '"\\u0000"', '"\\u001b[2J"', '"\\ufeff"']),
    hostile_text(40).map(json.dumps),
)
deep_json = st.one_of(st.integers(1, 40), st.sampled_from([33, 64, 500, 970, 2000, 5000])).map(
    _deep
)
big_json = st.sampled_from([300_000, 2**18 + 10]).map(lambda n: json.dumps("h" * n))


def _object(pairs: list[tuple[str, str]]) -> str:
    return "{" + ",".join(f"{json.dumps(k)}:{v}" for k, v in pairs) + "}"


flat_json = st.one_of(scalar_json, deep_json)
value_json = st.one_of(
    flat_json,
    st.lists(flat_json, max_size=3).map(lambda xs: "[" + ",".join(xs) + "]"),
    st.lists(st.tuples(st.sampled_from(FIELDS), flat_json), max_size=3).map(_object),
)


@st.composite
def op_line(draw: st.DrawFn) -> bytes:
    pairs: list[tuple[str, str]] = []
    if draw(st.integers(0, 4)):  # mostly an op; else a plain event line
        pairs.append(("op", json.dumps(draw(st.sampled_from(OP_NAMES)))))
    else:
        pairs.append(("type", draw(st.one_of(st.just('"custom"'), value_json))))
    keys = draw(st.lists(st.sampled_from(FIELDS), max_size=4, unique=True))
    if draw(st.booleans()):
        keys = ["ref", *(k for k in keys if k != "ref")]  # echoed back: its reply must encode
    pairs += [(k, draw(value_json)) for k in keys]
    if draw(st.integers(0, 40)) == 17:  # rarely: past the data and field size limits
        pairs.append((draw(st.sampled_from(FIELDS)), draw(big_json)))
    return _object(pairs).encode("utf-8", "surrogatepass")


junk_line = st.one_of(
    st.binary(max_size=200),
    st.sampled_from(
        [b"\x00", b"\xff\xfe\xfd", b'{"op": "ping"\x00}', b"{\xc3(}", b'{"op": "\xed\xa0\x80"}',
         b"\x1b[2J", b"{", b"}", b"[]", b"null", b'"op"', b"{\"op\": \"ping\",}", b"\r", b" "]
    ),
    hostile_text(80).map(lambda t: t.encode("utf-8", "surrogatepass")),
)  # fmt: skip


@st.composite
def broken(draw: st.DrawFn) -> bytes:
    """A valid line cut short, or with a byte changed."""
    raw = draw(op_line())
    if not raw:
        return raw
    at = draw(st.integers(0, len(raw) - 1))
    if draw(st.booleans()):
        return raw[:at]
    return raw[:at] + bytes([draw(st.integers(0, 255))]) + raw[at + 1 :]


one_line = st.one_of(op_line(), op_line(), junk_line, broken())
too_long = st.just(b'{"op": "ping", "pad": "' + b"x" * (MAX_LINE + 10) + b'"}')


@st.composite
def conversation(draw: st.DrawFn) -> tuple[list[bytes], int]:
    """The bytes to send, in pieces, and how many whole lines they hold (one answer each)."""
    lines = draw(st.lists(one_line, min_size=1, max_size=6))
    if draw(st.integers(0, 40)) == 17:  # rarely (0 and 40 are drawn often)
        lines.insert(draw(st.integers(0, len(lines))), draw(too_long))
    stream = b"".join(x.replace(b"\n", b" ") + b"\n" for x in lines)
    if draw(st.booleans()):  # a partial last line: dropped at EOF, never answered
        stream += draw(one_line).replace(b"\n", b" ")
    expected = sum(1 for piece in stream.split(b"\n")[:-1] if piece.strip())
    cuts = sorted(draw(st.lists(st.integers(0, len(stream)), max_size=6)))
    pieces = [stream[a:b] for a, b in zip([0, *cuts], [*cuts, len(stream)], strict=True)]
    return [p for p in pieces if p], expected


@pytest.fixture(scope="module")
def daemon(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DaemonProcess]:
    home = tmp_path_factory.mktemp("fuzz") / "home"
    home.mkdir(mode=0o700)
    write_config(home, "[monitor]\nenabled = false\n")
    d = DaemonProcess(home).start("--no-watchers")
    yield d
    d.kill()


def converse(path: Path, pieces: list[bytes]) -> list[dict[str, Any]]:
    """Send the pieces, half-close, and read every line until the daemon hangs up."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.settimeout(DEADLINE)
        sock.connect(str(path))
        for piece in pieces:
            sock.sendall(piece)
        sock.shutdown(socket.SHUT_WR)
        data = b""
        deadline = time.monotonic() + DEADLINE
        while chunk := sock.recv(1 << 20):
            data += chunk
            assert time.monotonic() < deadline, "the daemon is still talking after the deadline"
    assert data == b"" or data.endswith(b"\n"), data[-200:]
    return [json.loads(x) for x in data.splitlines()]


@settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(talk=conversation())
def test_every_line_is_answered_and_the_daemon_lives(
    daemon: DaemonProcess, talk: tuple[list[bytes], int]
) -> None:
    pieces, expected = talk
    lines = converse(daemon.socket, pieces)
    replies = [x for x in lines if "notice" not in x]  # a `subscribe` among them brings notices
    assert len(replies) == expected, (pieces, replies)
    for reply in replies:
        assert isinstance(reply.get("ok"), bool), reply
        if not reply["ok"]:
            assert isinstance(reply["error"], str) and "\n" not in reply["error"], reply
            assert "Traceback" not in reply["error"] and "internal error" not in reply["error"]
    assert daemon.proc is not None and daemon.proc.poll() is None, daemon.output()[-3000:]
    assert ask(daemon.socket, {"op": "ping"}, timeout=DEADLINE)[0]["ok"]


@pytest.mark.parametrize(
    "raw",
    [  # found by the fuzzing: a reply holding a lone surrogate could not be encoded, and the
        # connection went silent (an op's reply lost, an event batch's never sent at all)
        b'{"op":"add_hook","ref":"\\ud800"}\n',
        b'{"type":"custom","ref":"\\ud800"}\n',
        b'{"op":"nope\\udfff"}\n',
    ],
)
def test_the_lines_that_once_hung(daemon: DaemonProcess, raw: bytes) -> None:
    [reply] = converse(daemon.socket, [raw])
    assert isinstance(reply["ok"], bool)


def test_the_daemon_answers_and_logged_no_traceback(daemon: DaemonProcess) -> None:
    """Runs after the fuzzing (same module, same daemon)."""
    assert ask(daemon.socket, {"op": "ping"})[0]["ok"]
    assert "Traceback" not in daemon.output(), daemon.output()[-5000:]
