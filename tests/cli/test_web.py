"""`sloth-tui web` without a browser: its refusals (no daemon, a non-loopback host,
--embedded, a taken port), the dashboard command line each tab runs, and a tab's
dashboard reached over textual-serve's own websocket, attached to a daemon on TCP.
The browser itself is in test_web_browser.py."""

from __future__ import annotations

import asyncio
import re
import shlex
import socket
import sys
from collections.abc import Callable
from pathlib import Path

import aiohttp
import pytest
from browserkit import free_port, web_server
from hypothesis import given, settings
from hypothesis import strategies as st
from sourcekit import SLOTH, DaemonProcess, run_cli, wait_for

from sloth_tui.commands.web_serve import (
    Attachment,
    dashboard_command,
    is_loopback,
    public_url_for,
)

Daemons = Callable[..., DaemonProcess]


def test_refuses_without_a_daemon(tmp_path: Path) -> None:
    home = tmp_path / "home"
    home.mkdir()
    done = run_cli("--home", str(home), "web", "--port", str(free_port()))
    assert done.returncode == 1
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr  # one line, no traceback
    assert "no sloth-tui daemon answers on" in lines[0]
    assert str(home / "sloth.sock") in lines[0]
    assert "start `sloth-tui serve` first" in lines[0]
    # No embedded engine was opened in its place (it would create the store).
    assert not (home / "sloth.db").exists()


def test_refuses_an_explicit_socket_nobody_answers(tmp_path: Path) -> None:
    gone = tmp_path / "nobody.sock"
    done = run_cli("--home", str(tmp_path / "h"), "--attach", str(gone), "web")
    assert done.returncode == 1
    assert done.stderr.count("\n") == 1 and "start `sloth-tui serve` first" in done.stderr
    assert str(gone) in done.stderr


@pytest.mark.parametrize("host", ["0.0.0.0", "::", "192.0.2.7", "example.org"])
def test_refuses_a_non_loopback_host(tmp_path: Path, host: str) -> None:
    # Checked before anything else: no daemon is needed to be told.
    done = run_cli("--home", str(tmp_path / "h"), "web", "--host", host, "--port", "8123")
    assert done.returncode == 2
    assert done.stderr.count("\n") == 1, done.stderr
    assert f"--host {host} is not loopback" in done.stderr
    assert "no authentication" in done.stderr
    assert "ssh -L 8123:127.0.0.1:8123" in done.stderr and "--allow-remote" in done.stderr


def test_refuses_a_public_url_that_is_not_http(tmp_path: Path) -> None:
    done = run_cli("--home", str(tmp_path / "h"), "web", "--public-url", "sloth.example:8000")
    assert done.returncode == 2 and done.stderr.count("\n") == 1
    assert "must start with http:// or https://" in done.stderr


def test_refuses_embedded(tmp_path: Path) -> None:
    done = run_cli("--home", str(tmp_path / "h"), "--embedded", "web")
    assert done.returncode == 2 and done.stderr.count("\n") == 1
    assert "--embedded does not apply" in done.stderr


def test_allow_remote_and_a_taken_port_is_one_line(daemons: Daemons, tmp_path: Path) -> None:
    d = daemons().start("--no-monitor")
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as taken:
        taken.bind(("0.0.0.0", 0))
        taken.listen()
        port = taken.getsockname()[1]
        web = ["web", "--host", "0.0.0.0", "--allow-remote", "--port", str(port)]
        nowhere = run_cli("--home", str(d.home), *web)
        url = ["--public-url", f"http://sloth.example:{port}"]
        done = run_cli("--home", str(d.home), *web, *url)
    # Every interface, but the page would point its websocket at 0.0.0.0: refused.
    assert nowhere.returncode == 2 and nowhere.stderr.count("\n") == 1, nowhere.stderr
    assert "--public-url http://THIS_HOST:" in nowhere.stderr
    assert done.returncode == 1, done.stderr
    assert done.stderr.count("\n") == 1 and f"cannot listen on 0.0.0.0:{port}" in done.stderr


async def test_title_is_text_not_markup(daemons: Daemons, tmp_path: Path) -> None:
    d = daemons().start("--no-monitor")
    port = free_port()
    title = "<img src=x onerror=alert(1)> ops & co"
    with web_server(SLOTH, d.home, port, tmp_path / "web.log", "--title", title):
        async with aiohttp.ClientSession() as http, http.get(f"http://127.0.0.1:{port}/") as reply:
            page = await reply.text()
    assert "&lt;img src=x onerror=alert(1)&gt; ops &amp; co" in page
    assert "<img src=x" not in page
    assert f'data-session-websocket-url="ws://127.0.0.1:{port}/ws"' in page


def test_help_explains_each_option() -> None:
    done = run_cli("web", "--help")
    assert done.returncode == 0
    text = " ".join(done.stdout.split())
    for option in ("--host", "--port", "--title", "--public-url", "--allow-remote"):
        assert option in text
    assert "no authentication" in text or "no login" in text
    assert "ssh -L" in text and "sloth-tui serve" in text


@pytest.mark.parametrize(
    ("host", "loopback"),
    [
        ("127.0.0.1", True),
        ("127.3.4.5", True),
        ("localhost", True),
        ("::1", True),
        ("[::1]", True),
        ("0.0.0.0", False),
        ("::", False),
        ("10.0.0.1", False),
        ("localhost.example.org", False),
        ("", False),
    ],
)
def test_is_loopback(host: str, loopback: bool) -> None:
    assert is_loopback(host) is loopback


def test_public_url_brackets_ipv6() -> None:
    assert public_url_for("127.0.0.1", 8000) == "http://127.0.0.1:8000"
    assert public_url_for("::1", 8000) == "http://[::1]:8000"
    assert public_url_for("[::1]", 80) == "http://[::1]:80"


_PATH_TEXT = st.text(
    st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"), min_size=1
)


@settings(max_examples=200, deadline=None)
@given(
    home=_PATH_TEXT,
    attach=_PATH_TEXT,
    token=st.none() | _PATH_TEXT,
    theme=st.none() | _PATH_TEXT,
)
def test_tab_command_line_keeps_every_argument_whole(
    home: str, attach: str, token: str | None, theme: str | None
) -> None:
    # textual-serve runs this line through /bin/sh: quotes, $(...), ;, spaces, newlines
    # and non-ASCII in a path must come back as the same single arguments.
    line = dashboard_command(
        ["/x/python", "-m", "sloth_tui"], Path(home), Attachment(attach, token), theme
    )
    argv = shlex.split(line)
    expected = ["/x/python", "-m", "sloth_tui", "--home", str(Path(home)), "--attach", attach]
    if token is not None:
        expected += ["--token-file", token]
    expected.append("dashboard")
    if theme:
        expected += ["--theme", theme]
    assert argv == expected


def test_tab_command_line_through_a_real_shell(tmp_path: Path) -> None:
    odd = tmp_path / "it's $(touch pwned); a home"
    line = dashboard_command(
        [sys.executable, "-c", "import sys; print(sys.argv[1:])"],
        odd,
        Attachment(str(odd / "s.sock")),
    )
    out = __import__("subprocess").run(
        ["/bin/sh", "-c", line], capture_output=True, text=True, cwd=tmp_path
    )
    assert out.returncode == 0, out.stderr
    assert repr(str(odd)) in out.stdout and not (tmp_path / "pwned").exists()


_ANSI = re.compile(r"\x1b\[[0-9;?]*[ -/]*[@-~]|\x1b[\]P_^][^\x07\x1b]*(?:\x07|\x1b\\)|\x1b.")


async def test_a_tab_attaches_over_tcp(daemons: Daemons, tmp_path: Path) -> None:
    """`--attach tcp://... --token-file` reaches each tab's dashboard: what textual-serve
    streams to a websocket client (as the page's script would) shows the daemon's events."""
    token = tmp_path / "token"
    token.write_text("a-long-enough-secret-token\n")
    d = daemons().start("--no-monitor", "--tcp", "127.0.0.1:0", "--token-file", str(token))
    tcp_port = int(
        wait_for(
            lambda: re.search(r"listening on tcp 127.0.0.1:(\d+)", d.output()), what="the tcp port"
        ).group(1)
    )
    sent = run_cli("--home", str(d.home), "emit", "task.started", "task_name=tcp-tab-marker")
    assert sent.returncode == 0, sent.stderr
    elsewhere = tmp_path / "elsewhere"  # only the TCP port leads to the daemon
    port = free_port()
    attach = ["--attach", f"tcp://127.0.0.1:{tcp_port}", "--token-file", str(token)]
    with web_server([*SLOTH, *attach], elsewhere, port, tmp_path / "web.log"):
        screen = ""
        async with aiohttp.ClientSession() as http:
            url = f"http://127.0.0.1:{port}/ws?width=160&height=40"
            async with http.ws_connect(url) as ws:
                deadline = asyncio.get_running_loop().time() + 60
                while "tcp-tab-marker" not in screen:
                    left = deadline - asyncio.get_running_loop().time()
                    assert left > 0, f"the tab never showed the event; it sent:\n{screen[-3000:]}"
                    msg = await ws.receive(timeout=left)
                    assert msg.type == aiohttp.WSMsgType.BINARY, (msg, screen[-3000:])
                    screen += _ANSI.sub("", msg.data.decode("utf-8", "replace"))
        assert f"tcp://127.0.0.1:{tcp_port}" in screen  # the top bar names the daemon


def test_a_wrong_token_is_one_line(daemons: Daemons, tmp_path: Path) -> None:
    token = tmp_path / "token"
    token.write_text("a-long-enough-secret-token\n")
    wrong = tmp_path / "wrong"
    wrong.write_text("not-the-token-but-long-enough\n")
    d = daemons().start("--no-monitor", "--tcp", "127.0.0.1:0", "--token-file", str(token))
    tcp_port = int(
        wait_for(
            lambda: re.search(r"listening on tcp 127.0.0.1:(\d+)", d.output()), what="the tcp port"
        ).group(1)
    )
    attach = ["--attach", f"tcp://127.0.0.1:{tcp_port}", "--token-file", str(wrong)]
    done = run_cli("--home", str(tmp_path / "h"), *attach, "web", "--port", str(free_port()))
    assert done.returncode == 1 and done.stderr.count("\n") == 1, done.stderr
    assert "wrong token" in done.stderr and "Traceback" not in done.stderr
