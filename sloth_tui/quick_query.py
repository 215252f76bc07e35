"""`sloth-tui --home H event list ... --json` against a running daemon, without click.

Scripts ask a daemon for events in loops, and such a command is mostly start-up:
importing click alone takes as long as a bare interpreter does to start and ask the
socket (bench: cli_ratio; click 8.x pulls in `inspect`, `typing`, `uuid`). So the entry
point (entry.py) first offers the command line here.

This module answers only what it can answer exactly as the full command line would,
byte for byte (tests/cli/test_quick_query.py holds the two to that): the JSON list of
`event list --json` with --type/--category/--status/--source or --filter (not both)
and --limit, for a data dir named by --home or SLOTH_TUI_HOME that has no config.toml,
from the daemon on its socket, with no other SLOTH_TUI_* setting in the environment.
For anything else - another command or option, --help, the default data dir, a config
file, a saved filter, no daemon, an error reply - it answers None before printing
anything, and the full command line runs as always and says whatever there is to say.
It never words an error of its own.
"""

from __future__ import annotations

import json
import os
import socket
import sys

from sloth_tui.json_out import json_text
from sloth_tui.model.statuses import EVENT_STATUSES
from sloth_tui.pipe import silence_stdout

SOCKET_NAME = "sloth.sock"  # config.Settings.socket_path without a config.toml
CONNECT_TIMEOUT = 5.0  # as remote/wire.BlockingConnection waits to connect
MAX_PAGE = 100_000  # remote/ops.MAX_PAGE: larger --limit values page, in the full CLI
DEFAULT_LIMIT = 50  # `event list --limit`'s default
REPLY_LIMIT = 512 * 1024 * 1024  # remote/wire.REPLY_LIMIT
# `event list` options that take a value -> the filter term kind (None: not a term).
_VALUED = {
    "--type": "type",
    "--category": "category",
    "--status": "status",
    "--source": "source",
    "--filter": None,
    "--limit": None,
}


def answer(argv: list[str]) -> int | None:
    """Print the answer to `argv` and return the exit code, or print nothing: None."""
    try:
        request = _request(argv)
        if request is None:
            return None
        home, body = request
        events = _ask(os.path.join(home, SOCKET_NAME), body)
        if events is None:
            return None
        out = (json_text(events, indent=2) + "\n").encode(sys.stdout.encoding or "utf-8")
        stdout = sys.stdout.buffer
    except Exception:  # whatever it was, the full command line meets it again and says it
        return None
    try:
        stdout.write(out)
        stdout.flush()
    except BrokenPipeError:  # `| head`: the reader left, which is not an error
        silence_stdout()
    except OSError as exc:  # printed in part: said as the full command line says it
        sys.stderr.write(f"error: {exc.strerror or exc}\n")
        return 1
    return 0


def _request(argv: list[str]) -> tuple[str, dict[str, object]] | None:
    """(data dir, the query_events request) when `argv` is one this module answers."""
    if any("\x00" in arg or _undecodable(arg) for arg in argv):
        return None  # the full command line refuses these, in its words
    home: str | None = None
    rest = list(argv)
    while rest and (rest[0] == "--home" or rest[0].startswith("--home=")):
        if home is not None:
            return None  # repeated: left to click's rules
        home, rest = _value(rest)
        if home is None:
            return None
    if home is None:
        home = os.environ.get("SLOTH_TUI_HOME")
    if any(key.startswith("SLOTH_TUI_") and key != "SLOTH_TUI_HOME" for key in os.environ):
        return None  # settings (checked by config.py) or a token file (refused alone)
    if not home or rest[:2] != ["event", "list"]:
        return None
    options = _options(rest[2:])
    if options is None or options.pop("--json", None) != "":
        return None
    home = os.path.realpath(os.path.expanduser(home))
    if os.path.exists(os.path.join(home, "config.toml")):
        return None  # its settings (a socket elsewhere, saved filters) are config.py's
    limit_text = options.pop("--limit", str(DEFAULT_LIMIT))
    if not (limit_text.isascii() and limit_text.isdigit() and len(limit_text) <= 6):
        return None
    limit = int(limit_text)
    if not 0 < limit <= MAX_PAGE:
        return None
    if options.get("--status", EVENT_STATUSES[0]) not in EVENT_STATUSES:
        return None  # click.Choice refuses it ("" too)
    body: dict[str, object] = {"op": "query_events", "limit": limit}
    text = options.pop("--filter", "")
    terms = [  # in the full command line's order, whatever the order given
        {"kind": kind, "value": options[option], "negate": False, "path": []}
        for option, kind in _VALUED.items()
        if kind is not None and options.get(option)  # an empty value is no term
    ]
    if text and ("@" in text or terms):
        return None  # a saved filter; or text and terms, which only the full CLI joins
    if text:
        body["filter"] = text
    elif terms:
        body["filter"] = terms
    return home, body


def _undecodable(arg: str) -> bool:
    try:
        arg.encode("utf-8")
    except UnicodeEncodeError:  # a lone surrogate: bytes that were not UTF-8
        return True
    return False


def _value(args: list[str]) -> tuple[str | None, list[str]]:
    """The value of the option at args[0] (`--opt=value` or `--opt value`), and the rest."""
    _, eq, value = args[0].partition("=")
    if eq:
        return value, args[1:]
    if len(args) < 2 or args[1].startswith("-"):
        return None, args  # missing, or a value click might read otherwise
    return args[1], args[2:]


def _options(args: list[str]) -> dict[str, str] | None:
    """`event list`'s options as given ("" for --json), or None for anything else."""
    options: dict[str, str] = {}
    while args:
        name = args[0].partition("=")[0]
        if args[0] == "--json":
            value: str | None = ""
            args = args[1:]
        elif name in _VALUED:
            value, args = _value(args)
        else:
            return None  # --since, --jsonl, -h, a positional, `--`, a typo: click's
        if value is None or name in options:
            return None
        options[name] = value
    return options


def _ask(path: str, body: dict[str, object]) -> list[object] | None:
    """The daemon's events for `body`, or None when it did not answer them."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.settimeout(CONNECT_TIMEOUT)
        try:
            sock.connect(path)
        except OSError:  # no daemon (the full CLI then runs the engine in this process)
            return None
        sock.settimeout(None)  # a reply takes what it takes, as in the full CLI
        sock.sendall(json.dumps(body).encode() + b"\n")
        reply = bytearray()
        while not reply.endswith(b"\n"):
            part = sock.recv(1 << 20)
            if not part or len(reply) > REPLY_LIMIT:
                return None
            reply += part
    value = json.loads(reply)
    if not isinstance(value, dict) or value.get("ok") is not True:
        return None
    events = value.get("events")
    return events if isinstance(events, list) else None
