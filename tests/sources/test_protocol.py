"""The wire format: line framing, decoding, records and filters over the wire, errors."""

from __future__ import annotations

import socket
import threading
from pathlib import Path

import pytest

from sloth_tui.engine.bus import Notice
from sloth_tui.model.errors import EventRefused, NotFound, SlothError
from sloth_tui.model.filters import Term, parse_filter
from sloth_tui.model.records import Event, Execution, LogLine
from sloth_tui.remote.protocol import (
    LineSplitter,
    ProtocolError,
    TooLong,
    decode_line,
    error_from_reply,
    error_reply,
    error_type_of,
    filter_from_wire,
    filter_to_wire,
    notice_from_wire,
    notice_to_wire,
    probe,
)
from sloth_tui.remote.server import ServerError, TcpAddress, read_token


def test_splitter_cuts_lines_and_holds_a_partial_one() -> None:
    s = LineSplitter(limit=100)
    assert s.feed(b'{"a":1}\n{"b"') == [b'{"a":1}']
    assert s.partial
    assert s.feed(b":2}\n\n  \n") == [b'{"b":2}']  # blank lines are skipped
    assert not s.partial


def test_splitter_skips_an_overlong_line_across_chunks_and_goes_on() -> None:
    s = LineSplitter(limit=10)
    assert s.feed(b"ok1\n" + b"x" * 8) == [b"ok1"]
    assert s.feed(b"y" * 20) == []  # past the limit: skipped, not buffered
    assert s.partial
    out = s.feed(b"zz\nok2\n")
    assert out == [TooLong(30), b"ok2"]
    assert s.feed(b"a" * 11 + b"\n" + b"b" * 10 + b"\n") == [TooLong(11), b"b" * 10]


def test_splitter_reports_overlong_within_one_chunk() -> None:
    s = LineSplitter(limit=4)
    assert s.feed(b"12345\n1234\n") == [TooLong(5), b"1234"]


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        (b"\xff\xfe{}", "not valid UTF-8"),
        (b"hello", "not JSON"),
        (b"[1, 2]", "must be a JSON object, not list"),
        (b'"text"', "not str"),
        (b"[" * 200_000 + b"]" * 200_000, "nests too deeply"),
    ],
)
def test_decode_line_errors_are_one_line(raw: bytes, message: str) -> None:
    with pytest.raises(ProtocolError, match=message) as info:
        decode_line(raw)
    assert "\n" not in str(info.value)


def test_decode_line_accepts_an_object() -> None:
    assert decode_line(b'{"type": "x.y"}\r') == {"type": "x.y"}


def test_records_survive_the_wire() -> None:
    event = Event(7, "deploy.failed", "deploy", {"service": "api"}, "socket", status="failed")
    execution = Execution(
        "h",
        7,
        "error",
        1.0,
        2.5,
        error="boom",
        error_line=3,
        logs=[LogLine("info", 1.0, "hi")],
        calls=[{"fn": "http.post"}],
    )
    for notice in (
        Notice("event", event),
        Notice("event_status", event),
        Notice("execution", execution),
        Notice("hooks", "h"),
        Notice("dropped", 4),
    ):
        back = notice_from_wire(notice_to_wire(notice))
        assert back == notice
        assert type(back.payload) is type(notice.payload)


def test_filters_survive_the_wire_with_terms_their_text_lacks() -> None:
    flt = parse_filter("type:deploy.* !src:demo service=api id:3")
    flt = flt.with_terms(Term("status", "failed"))
    back = filter_from_wire(filter_to_wire(flt))
    assert back is not None and back.terms == flt.terms
    assert filter_from_wire("cat:security") == parse_filter("cat:security")
    assert filter_to_wire(None) is None and filter_from_wire(None) is None


@pytest.mark.parametrize(
    "wire",
    [
        42,
        [{"kind": "column; DROP TABLE events", "value": "x"}],
        [{"kind": "id", "value": "3"}],
        [{"kind": "type", "value": 3}],
        [{"kind": "field", "value": 1, "path": "a.b"}],
        ["type:x"],
    ],
)
def test_bad_wire_filters_are_refused(wire: object) -> None:
    with pytest.raises(ProtocolError):
        filter_from_wire(wire)


def test_errors_keep_their_class_across_the_wire() -> None:
    for exc in (NotFound("no event with id 9"), EventRefused("bad"), ProtocolError("x")):
        back = error_from_reply(error_reply(str(exc), error_type_of(exc)))
        assert type(back) is type(exc) and str(back) == str(exc)
    unknown = error_from_reply({"ok": False, "error": "odd", "error_type": "martian"})
    assert type(unknown) is SlothError and str(unknown) == "odd"


def test_probe_says_none_for_no_socket_and_for_a_stranger(tmp_path: Path) -> None:
    assert probe(tmp_path / "none.sock") is None
    path = tmp_path / "stranger.sock"
    listener = socket.socket(socket.AF_UNIX)
    listener.bind(str(path))
    listener.listen()

    def answer() -> None:
        conn, _ = listener.accept()
        conn.recv(100)
        conn.sendall(b"HTTP/1.0 400 what\n")
        conn.close()

    thread = threading.Thread(target=answer)
    thread.start()
    assert probe(path, timeout=2) is None
    thread.join()
    listener.close()


@pytest.mark.parametrize("text", ["127.0.0.1:7071", "localhost:0", "[::1]:7071", "127.9.9.9:1"])
def test_tcp_address_loopback_only(text: str) -> None:
    assert TcpAddress.parse(text).port in (7071, 0, 1)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("0.0.0.0:7071", "only loopback"),
        ("192.168.1.4:7071", "only loopback"),
        ("example.com:7071", "only loopback"),
        ("127.0.0.1", "HOST:PORT"),
        ("127.0.0.1:http", "HOST:PORT"),
        ("127.0.0.1:70000", "HOST:PORT"),
    ],
)
def test_tcp_address_refusals(text: str, message: str) -> None:
    with pytest.raises(ServerError, match=message):
        TcpAddress.parse(text)


def test_read_token(tmp_path: Path) -> None:
    good = tmp_path / "token"
    good.write_text("  s3cret-token-0123456789\n")
    assert read_token(good) == "s3cret-token-0123456789"
    short = tmp_path / "short"
    short.write_text("abc")
    with pytest.raises(ServerError, match="shorter than 16"):
        read_token(short)
    with pytest.raises(ServerError, match="cannot read the token file"):
        read_token(tmp_path / "missing")
