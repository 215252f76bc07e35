"""The socket protocol's wire format, shared by the server and the client.

Newline-delimited JSON, one object per line, UTF-8, at most MAX_LINE bytes a
line. Replies come back in request order. Records travel as their `to_dict()`
shapes and are rebuilt with `from_dict()` on the client, so an attached
dashboard sees the same Event/Execution/Hook objects an embedded one does.

This module is the format only (was sources/protocol.py); which requests exist,
their fields and their replies are the table in remote/ops.py.
"""

from __future__ import annotations

import json
import socket
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sloth_tui.model.errors import EngineLocked, EventRefused, HookError, NotFound, SlothError
from sloth_tui.model.filters import KEYS, TIME_KINDS, Filter, FilterError, Term, parse_filter
from sloth_tui.model.records import Event, Execution
from sloth_tui.model.rules import MAX_DATA_BYTES, MAX_DEPTH, nesting_depth

if TYPE_CHECKING:  # engine.bus is asyncio's: a one-shot command runs without it (issue 19)
    from sloth_tui.engine.bus import Notice

MAX_LINE = 1024 * 1024  # bytes, newline excluded
PROTOCOL_VERSION = 1


class ProtocolError(SlothError):
    """A request line the server cannot act on (bad JSON, bad field, unknown op)."""


class Unauthorized(SlothError):
    """A TCP client that did not present the right token."""


class DaemonUnavailable(SlothError):
    """No daemon answers on the socket, or the connection to it was lost."""


class Disconnected(DaemonUnavailable):
    """The daemon hung up on this client: it fell too far behind, or a line took too long."""


# Error classes by the `error_type` carried in an error reply, so the client raises
# the same exception an embedded engine would (the CLI's handling stays the same).
ERROR_TYPES: dict[str, type[SlothError]] = {
    "refused": EventRefused,
    "hook": HookError,
    "not_found": NotFound,
    "locked": EngineLocked,
    "filter": FilterError,
    "bad_request": ProtocolError,
    "unauthorized": Unauthorized,
    "too_slow": Disconnected,  # the last line before the daemon hangs up
    "timeout": Disconnected,
}
_TYPE_NAMES = {cls: name for name, cls in ERROR_TYPES.items()}


def error_type_of(exc: BaseException) -> str:
    for cls in type(exc).__mro__:
        if cls in _TYPE_NAMES:
            return _TYPE_NAMES[cls]
    return "error"


def error_from_reply(reply: dict[str, Any]) -> SlothError:
    cls = ERROR_TYPES.get(str(reply.get("error_type")), SlothError)
    return cls(str(reply.get("error") or "the daemon refused the request"))


def encode(obj: dict[str, Any]) -> bytes:
    text = json.dumps(obj, separators=(",", ":"), ensure_ascii=False, default=str)
    try:
        return text.encode() + b"\n"
    except UnicodeEncodeError:  # a lone surrogate ("\\ud800" in a ref or in stored data)
        return json.dumps(obj, separators=(",", ":"), default=str).encode() + b"\n"


def error_reply(message: str, error_type: str = "bad_request") -> dict[str, Any]:
    return {"ok": False, "error": message, "error_type": error_type}


def decode_line(raw: bytes) -> dict[str, Any]:
    """One request line -> a dict; ProtocolError with a one-line reason otherwise."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ProtocolError(f"line is not valid UTF-8 (byte {exc.start})") from None
    try:
        if text.startswith("\ufeff"):  # what json.loads says of a BOM, in its words
            raise ValueError(
                "Unexpected UTF-8 BOM (decode using utf-8-sig): line 1 column 1 (char 0)"
            )
        value = _DECODER.decode(text)
    except RecursionError:
        raise ProtocolError("line nests too deeply") from None
    except ValueError as exc:
        raise ProtocolError(f"line is not JSON: {exc}") from None
    if not isinstance(value, dict):
        raise ProtocolError(f"line must be a JSON object, not {type(value).__name__}")
    # `data` has its own limits (and words); every other field gets the same ones, so a
    # `ref` nested 970 deep cannot make its reply unencodable (and the connection silent).
    if text.count("{") + text.count("[") > MAX_DEPTH + 1 or len(raw) > MAX_DATA_BYTES:
        for key, field in value.items():
            if key != "data" and isinstance(field, dict | list):
                _check_field(key, field)
    return value


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


# Built once: json.loads with any option builds a new decoder per call, a few µs of
# every event line (issue 19, socket_events_per_s).
_DECODER = json.JSONDecoder(parse_constant=_no_constant)


def _check_field(key: str, field: dict[str, Any] | list[Any]) -> None:
    depth = nesting_depth(field)
    if depth > MAX_DEPTH:
        raise ProtocolError(f"field {key!r} nests {depth} levels deep; the limit is {MAX_DEPTH}")
    size = len(json.dumps(field, ensure_ascii=False).encode("utf-8", "surrogatepass"))
    if size > MAX_DATA_BYTES:
        raise ProtocolError(f"field {key!r} is {size} bytes; the limit is {MAX_DATA_BYTES}")


@dataclass(frozen=True, slots=True)
class TooLong:
    """Stands in for a line past MAX_LINE: it is skipped whole and answered with an error."""

    size: int


class LineSplitter:
    """Cuts a byte stream into lines, skipping (not buffering) lines past the limit.

    A trailing piece without a newline is held until more bytes come; at EOF it
    is dropped, since a client that vanished mid-line sent no whole request.
    Each byte is looked at once: a line dripped in small pieces is appended to
    a bytearray and only the new piece is searched for its end (copying and
    rescanning the held part on every piece cost a core for 40 dripping clients).
    """

    def __init__(self, limit: int = MAX_LINE) -> None:
        self.limit = limit
        self._buf = bytearray()
        self._skipping = 0  # > 0: inside an over-long line, bytes seen so far
        self.renewed = False  # any partial line after the last feed began in that feed

    @property
    def partial(self) -> bool:
        return bool(self._buf) or self._skipping > 0

    def feed(self, chunk: bytes) -> list[bytes | TooLong]:
        out: list[bytes | TooLong] = []
        end = chunk.find(b"\n")
        self.renewed = end >= 0 or not self.partial
        if end < 0:
            self._hold(chunk)
            return out
        if self._skipping:
            out.append(TooLong(self._skipping + end))
            self._skipping = 0
        elif self._buf:
            size = len(self._buf) + end
            if size > self.limit:
                out.append(TooLong(size))
            else:
                self._buf += chunk[:end]
                if self._buf.strip():
                    out.append(bytes(self._buf))
            self._buf = bytearray()
        else:
            self._add(out, chunk[:end])
        pieces = chunk[end + 1 :].split(b"\n")
        tail = pieces.pop()
        for piece in pieces:
            self._add(out, piece)
        self._hold(tail)
        return out

    def _add(self, out: list[bytes | TooLong], piece: bytes) -> None:
        if len(piece) > self.limit:
            out.append(TooLong(len(piece)))
        elif piece.strip():
            out.append(piece)

    def _hold(self, data: bytes) -> None:
        if self._skipping:
            self._skipping += len(data)
        elif len(self._buf) + len(data) > self.limit:
            self._skipping = len(self._buf) + len(data)
            self._buf = bytearray()
        else:
            self._buf += data


# -- records over the wire ---------------------------------------------------------


def notice_to_wire(notice: Notice) -> dict[str, Any]:
    payload = notice.payload
    if hasattr(payload, "to_dict"):
        payload = payload.to_dict()
    return {"notice": notice.kind, "payload": payload}


def notice_from_wire(line: dict[str, Any]) -> Notice:
    """Rebuild a Notice with real records; `stats` stays a dict (the client rebuilds it)."""
    from sloth_tui.engine.bus import Notice  # only where notices flow: an event loop runs

    kind, payload = str(line.get("notice")), line.get("payload")
    if kind in ("event", "event_status") and isinstance(payload, dict):
        payload = Event.from_dict(payload)
    elif kind == "execution" and isinstance(payload, dict):
        payload = Execution.from_dict(payload)
    return Notice(kind, payload)


_TERM_KINDS = frozenset(KEYS.values()) | {"field", "text"}


def filter_to_wire(flt: Filter | None) -> list[dict[str, Any]] | None:
    """Terms, not text: a Filter built with `with_terms` has terms its text lacks."""
    if not flt:
        return None
    return [
        {"kind": t.kind, "value": t.value, "negate": t.negate, "path": list(t.path)}
        for t in flt.terms
    ]


def filter_from_wire(value: Any) -> Filter | None:
    """A filter string in the dashboard syntax, or a list of terms from filter_to_wire."""
    if value is None or value == "":
        return None
    if isinstance(value, str):
        return parse_filter(value)
    if not isinstance(value, list):
        raise ProtocolError("'filter' must be a string or a list of terms")
    terms = []
    for raw in value:
        if not isinstance(raw, dict) or raw.get("kind") not in _TERM_KINDS:
            raise ProtocolError(f"bad filter term {raw!r}")
        path = raw.get("path") or []
        if not isinstance(path, list) or not all(isinstance(p, str) for p in path):
            raise ProtocolError(f"bad filter term path {path!r}")
        value_ = raw.get("value")
        if raw["kind"] == "id" and not isinstance(value_, int):
            raise ProtocolError("an id term needs an integer value")
        if raw["kind"] in TIME_KINDS:  # epoch seconds, as the parser makes them
            if isinstance(value_, bool) or not isinstance(value_, int | float):
                raise ProtocolError(f"a {raw['kind']} term needs a number (epoch seconds)")
            try:
                value_ = float(value_)
            except OverflowError:
                raise ProtocolError(f"a {raw['kind']} term's time is out of range") from None
        elif raw["kind"] not in ("field", "id") and not isinstance(value_, str):
            raise ProtocolError(f"a {raw['kind']} term needs a string value")
        terms.append(Term(raw["kind"], value_, bool(raw.get("negate")), tuple(path)))
    return Filter(tuple(terms))


def probe(path: str | Path, timeout: float = 2.0) -> dict[str, Any] | None:
    """The daemon's `ping` info when one answers on the Unix socket `path`, else None.

    Blocking on purpose: it runs once, before any event loop, to pick the engine.
    """
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
            sock.settimeout(timeout)
            sock.connect(str(path))
            sock.sendall(encode({"op": "ping"}))
            data = b""
            while not data.endswith(b"\n") and len(data) < 65536:
                chunk = sock.recv(65536)
                if not chunk:
                    return None
                data += chunk
        reply = json.loads(data)
    except (OSError, ValueError):
        return None
    if not isinstance(reply, dict) or not reply.get("ok"):
        return None
    info = reply.get("engine")
    return info if isinstance(info, dict) else None
