"""`hook replay` from the command line: a real engine on a temp home (and a real `serve`
daemon for the socket op), real hooks and events, the table, the exit codes and the
one-line errors; hostile --file content stays escaped text."""

from __future__ import annotations

import asyncio
import json
import re
import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from hypothesis import HealthCheck, given
from hypothesis import settings as hsettings
from hypothesis import strategies as st
from sourcekit import DaemonProcess, db_rows, run_cli, wait_for

from sloth_tui.cli import main
from sloth_tui.config import load_settings
from sloth_tui.engine.engine import Engine

OK = 'function on_event() log.info("seen " .. event.data.service) return true end\n'
BROKEN = 'function on_event() error("now broken") end\n'
# Raw terminal controls must never reach the output (commands/output.py escapes them).
RAW_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")


def seed(home: Path, tmp_path: Path, n: int = 3, patterns: tuple[str, ...] = ("deploy.*",)) -> None:
    """Hook `h` and n events it ran on for real, through a real engine."""

    async def go() -> None:
        engine = await Engine.open(load_settings(home))
        try:
            path = tmp_path / "h.lua"
            path.write_text(OK)
            await engine.add_hook("h", list(patterns), path)
            for i in range(n):
                await engine.dispatch_and_run("deploy.started", {"service": f"s{i}"})
            assert await engine.wait_idle(30)
        finally:
            await engine.close()

    asyncio.run(go())


@pytest.fixture
def cli(home: Path) -> Callable[..., Result]:
    runner = CliRunner()

    def invoke(*args: str) -> Result:
        return runner.invoke(main, ["--home", str(home), *args], catch_exceptions=False)

    return invoke


def counts(home: Path) -> tuple[int, int, int]:
    (row,) = db_rows(
        home,
        "SELECT (SELECT count(*) FROM events), (SELECT count(*) FROM executions), "
        "(SELECT count(*) FROM state)",
    )
    return row  # type: ignore[return-value]


def test_same_code_is_a_table_of_same_rows_exit_0(
    cli: Callable[..., Result], home: Path, tmp_path: Path
) -> None:
    seed(home, tmp_path)
    result = cli("hook", "replay", "h")
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[0].split() == ["EVENT", "TYPE", "RECORDED", "NEW", "WHAT", "CHANGED"]
    assert [line.split()[-1] for line in lines[1:4]] == ["same"] * 3
    assert lines[-1].startswith("its current code over the last 3 events of hook h: 3 same")


def test_code_that_errors_is_worse_exit_1(
    cli: Callable[..., Result], home: Path, tmp_path: Path
) -> None:
    seed(home, tmp_path)
    before = counts(home)
    edited = tmp_path / "edited.lua"
    edited.write_text(BROKEN)
    result = cli("hook", "replay", "h", "--file", str(edited), "--last", "2")
    assert result.exit_code == 1, result.output
    assert result.stdout.count("WORSE: success -> error") == 2
    assert "error now: " in result.stdout and "now broken" in result.stdout
    assert "- log info: seen s2" in result.stdout
    assert "2 worse" in result.stdout.splitlines()[-1]
    assert counts(home) == before


def test_added_http_post_is_shown_and_nothing_is_sent(
    cli: Callable[..., Result], home: Path, tmp_path: Path, http_server: Server
) -> None:
    seed(home, tmp_path, n=2)
    before = counts(home)
    edited = tmp_path / "edited.lua"
    edited.write_text(
        "function on_event()\n"
        '  log.info("seen " .. event.data.service)\n'
        f'  http.post("{http_server.url}/page", {{s = event.data.service}})\n'
        '  state.set("k", 1)\n'
        "  return true\n"
        "end\n"
    )
    result = cli("hook", "replay", "h", "--file", str(edited))
    assert result.exit_code == 0, result.output
    assert result.stdout.count("+2 calls") == 2  # http.post and state.set
    assert f"+ call http.post {http_server.url}/page" in result.stdout
    assert http_server.received == []
    assert counts(home) == before


def test_json_is_the_report(cli: Callable[..., Result], home: Path, tmp_path: Path) -> None:
    seed(home, tmp_path, n=2)
    edited = tmp_path / "edited.lua"
    edited.write_text(BROKEN)
    result = cli("hook", "replay", "h", "--file", str(edited), "--json")
    assert result.exit_code == 1
    report = json.loads(result.stdout)
    assert (report["matched"], report["worse"], report["same"]) == (2, 2, 0)
    assert report["rows"][0]["worse"] and report["rows"][0]["new"]["status"] == "error"
    assert report["edited"] is True


def test_zero_events_is_one_line_exit_0(
    cli: Callable[..., Result], home: Path, tmp_path: Path
) -> None:
    seed(home, tmp_path, n=0)
    result = cli("hook", "replay", "h")
    assert result.exit_code == 0
    assert result.stdout.splitlines() == [
        "no stored event matches hook h's patterns yet: nothing to replay"
    ]


def test_errors_are_one_line(cli: Callable[..., Result], home: Path, tmp_path: Path) -> None:
    seed(home, tmp_path, n=1)
    binary = tmp_path / "bin.lua"
    binary.write_bytes(b"\xff\xfe\x00junk")
    huge = tmp_path / "huge.lua"
    huge.write_text("-- " + "x" * 600_000)
    cases = {
        ("hook", "replay", "nope"): "no hook",
        ("hook", "replay", "h", "--file", str(tmp_path / "missing.lua")): "does not exist",
        ("hook", "replay", "h", "--file", str(tmp_path)): "is a directory",
        ("hook", "replay", "h", "--file", str(binary)): "not UTF-8",
        ("hook", "replay", "h", "--file", str(huge)): "at most",
    }
    for args, words in cases.items():
        result = cli(*args)
        assert result.exit_code == 1, (args, result.output)
        lines = result.stderr.splitlines()
        assert len(lines) == 1 and lines[0].startswith("error: ") and words in lines[0], lines
    for bad in ("0", "501", "x"):
        result = cli("hook", "replay", "h", "--last", bad)
        assert result.exit_code == 2 and "--last" in result.stderr


def test_help_explains_the_options(cli: Callable[..., Result]) -> None:
    result = cli("hook", "replay", "--help")
    assert result.exit_code == 0
    for words in ("--last", "--file", "--json", "Exits 1", "dry run"):
        assert words in result.stdout


hostile = st.text(st.characters(codec="utf-8", exclude_characters="\x00"), max_size=200) | (
    st.sampled_from(["[bold red]x[/]", "\x1b]0;pwned\x07", "\u202eevil", "a\nb\r\x9b2J"])
)


@hsettings(max_examples=12, suppress_health_check=list(HealthCheck), deadline=None)
@given(text=hostile, as_code=st.booleans())
def test_hostile_file_content_stays_escaped_text(
    cli: Callable[..., Result], home: Path, tmp_path: Path, text: str, as_code: bool
) -> None:
    if not (home / "sloth.db").exists():
        seed(home, tmp_path, n=1)
    edited = tmp_path / "hostile.lua"
    # Either the text is the code itself (it rarely compiles: the error quotes it), or
    # the code logs it (a log line that differs from the recorded one).
    code = text if as_code else f"function on_event() log.info({json.dumps(text)}) end"
    edited.write_text(code, encoding="utf-8", errors="surrogatepass")
    result = cli("hook", "replay", "h", "--file", str(edited))
    assert result.exit_code in (0, 1), result.output
    assert not RAW_CONTROL.search(result.stdout), result.stdout
    assert not RAW_CONTROL.search(result.stderr), result.stderr
    assert "Traceback" not in result.output
    assert result.stdout.splitlines()[-1].startswith("the edited code over the last 1 event")


def test_replay_over_the_socket_of_a_real_daemon(
    tmp_path: Path, daemons: Callable[[Path | None], DaemonProcess]
) -> None:
    daemon = daemons(None)
    home = daemon.home
    daemon.start("--no-monitor")
    path = tmp_path / "h.lua"
    path.write_text(OK)
    base = ("--home", str(home))
    added = run_cli(*base, "hook", "add", "h", "--event", "deploy.*", "--file", str(path))
    assert added.returncode == 0, added.stderr
    for i in range(3):
        data = json.dumps({"service": f"s{i}"})
        sent = run_cli(*base, "event", "dispatch", "deploy.started", "--data", data)
        assert sent.returncode == 0, sent.stderr
    wait_for(lambda: counts(home)[1] == 3, timeout=30, what="the daemon's three runs")
    before = counts(home)
    edited = tmp_path / "edited.lua"
    edited.write_text(BROKEN)
    # --attach: through the daemon's socket (the REPLAY op), or an error if none answers
    attach = (*base, "--attach", str(daemon.socket))
    done = run_cli(*attach, "hook", "replay", "h", "--file", str(edited), "--json", timeout=60)
    assert done.returncode == 1, done.stderr
    report = json.loads(done.stdout)
    assert (report["matched"], report["worse"]) == (3, 3)
    same = run_cli(*attach, "hook", "replay", "h", timeout=60)
    assert same.returncode == 0 and "3 same" in same.stdout, same.stdout + same.stderr
    missing = run_cli(*attach, "hook", "replay", "nope", timeout=60)
    assert missing.returncode == 1 and missing.stderr.count("\n") == 1, missing.stderr
    assert counts(home) == before


# -- a real HTTP server that records what reaches it ---------------------------------


class Server:
    def __init__(self, url: str) -> None:
        self.url = url
        self.received: list[tuple[str, str]] = []


@pytest.fixture
def http_server() -> Iterator[Server]:
    holder: list[Server] = []

    class Handler(BaseHTTPRequestHandler):
        def _any(self) -> None:
            holder[0].received.append((self.command, self.path))
            self.send_response(200)
            self.end_headers()

        do_GET = do_POST = do_PUT = do_DELETE = _any

        def log_message(self, *args: object) -> None:
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    holder.append(Server(f"http://127.0.0.1:{httpd.server_address[1]}"))
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield holder[0]
    httpd.shutdown()
    httpd.server_close()
    thread.join(5)
