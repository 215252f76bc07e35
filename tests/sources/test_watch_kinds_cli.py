"""`sloth-tui watch list/remove` with the polled kinds of [[watchers]] (process, port,
log, command, service): listed read-only beside the file watchers, removable by name,
and a running `serve` reloads them (only when they changed) on `reload_watchers`."""

from __future__ import annotations

import json
import signal
import socket
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from hostile import hostile_text
from hypothesis import HealthCheck, given, settings
from sourcekit import DaemonProcess, ask, events_of, run_cli, wait_for, write_config

from sloth_tui.cli import main
from sloth_tui.config import load_settings
from sloth_tui.sources.watchconf import toml_string

MIXED = """# mine
[[watchers]]
name = "etc"
path = "/etc"

[[watchers]]
name = "nginx-up"
kind = "process"
process = "nginx"

[[watchers]]
name = "disk"
kind = "command"
command = ["df", "-h", "/"]
interval = 30

[[watchers]]
name = "ssh"
kind = "log"
preset = "ssh-auth"
"""


def cli(home: Path, *args: str) -> Result:
    return CliRunner().invoke(main, ["--home", str(home), *args])


def test_list_shows_every_kind(home: Path) -> None:
    write_config(home, MIXED)
    result = cli(home, "watch", "list")
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert any(line.startswith("etc ") and "/etc" in line for line in lines)
    row = {line.split()[0]: line for line in lines if line.split()}
    assert row["nginx-up"].split()[1:] == ["process", "process", "nginx", "5s"]
    assert row["disk"].split()[1:] == ["command", "df", "-h", "/", "30s"]
    assert "/var/log/auth.log preset ssh-auth" in row["ssh"]
    assert "edited in" in lines[-1] and "config.toml" in lines[-1]

    listed = json.loads(cli(home, "watch", "list", "--json").output)
    assert [(w["name"], w["kind"]) for w in listed] == [
        ("etc", "file"),
        ("nginx-up", "process"),
        ("disk", "command"),
        ("ssh", "log"),
    ]
    assert listed[2]["command"] == ["df", "-h", "/"] and listed[2]["interval"] == 30.0
    assert listed[1]["edited_in"] == str(home / "config.toml")


def test_list_of_only_other_kinds_and_of_none(home: Path) -> None:
    assert cli(home, "watch", "list").output.strip() == "(none)"
    write_config(home, '[[watchers]]\nname = "p"\nkind = "port"\nport = 8080\n')
    out = cli(home, "watch", "list").output
    assert "port 8080" in out and "RECURSIVE" not in out


def _utf8(text: str) -> bool:
    try:
        text.encode("utf-8")  # a file holds no lone surrogate
    except UnicodeEncodeError:
        return False
    return True


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(text=hostile_text().filter(_utf8))
def test_hostile_config_text_is_listed_as_text(home: Path, text: str) -> None:
    """A command's arguments and a log's pattern come from the file: listed, they are one
    row each with control characters escaped, whatever they hold."""
    entry = f'[[watchers]]\nname = "c"\nkind = "command"\ncommand = ["echo", {toml_string(text)}]\n'
    write_config(home, entry)
    result = cli(home, "watch", "list")
    if result.exit_code != 0:  # refused by the parser (NUL, too long): one line
        assert len(result.output.strip().splitlines()) == 1
        return
    lines = result.output.splitlines()
    assert len(lines) == 3 and lines[1].startswith("c ")
    assert not any(ch in result.output for ch in "\x1b\x07\x9b\r\x00")
    listed = json.loads(cli(home, "watch", "list", "--json").output)
    assert listed[0]["command"] == ["echo", text]


def test_a_bad_entry_is_one_line_but_can_be_removed(home: Path) -> None:
    write_config(home, MIXED + '\n[[watchers]]\nname = "bad"\nkind = "port"\nport = 0\n')
    listed = cli(home, "watch", "list")
    assert listed.exit_code == 1 and "bad" in listed.output and "port" in listed.output
    assert len(listed.output.strip().splitlines()) == 1
    removed = cli(home, "watch", "remove", "bad")
    assert removed.exit_code == 0, removed.output
    assert cli(home, "watch", "list").exit_code == 0


def test_remove_says_what_it_removed_and_when_it_counts(home: Path) -> None:
    write_config(home, MIXED)
    result = cli(home, "watch", "remove", "disk")
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[0] == f"removed command watcher disk from {home / 'config.toml'}"
    assert lines[1] == "takes effect when `sloth-tui serve` starts"
    text = (home / "config.toml").read_text()
    assert "df" not in text and text.startswith("# mine") and "nginx" in text
    settings = load_settings(home)
    assert [e["name"] for _, e in settings.watch_kinds] == ["nginx-up", "ssh"]
    assert [w.name for w in settings.watchers] == ["etc"]
    assert cli(home, "watch", "remove", "etc").output.startswith("removed file watcher etc")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


@pytest.fixture
def listener() -> Iterator[Callable[[int], socket.socket]]:
    opened: list[socket.socket] = []

    def listen(port: int) -> socket.socket:
        sock = socket.socket()
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", port))
        sock.listen(8)
        opened.append(sock)
        return sock

    yield listen
    for sock in opened:
        sock.close()


def port_watcher(name: str, port: int) -> str:
    return (
        f'[[watchers]]\nname = "{name}"\nkind = "port"\nport = {port}\n'
        'method = "connect"\ninterval = 0.1\n'
    )


def port_events(home: Path, kind: str) -> list[dict[str, object]]:
    return [e["data"] for e in events_of(home, f"port.{kind}")]


def test_a_running_daemon_reloads_the_other_kinds(
    daemons: Callable[..., DaemonProcess], listener: Callable[[int], socket.socket]
) -> None:
    first, second = free_port(), free_port()
    d = daemons()
    write_config(d.home, port_watcher("p1", first))
    d.start("--no-monitor")
    health = {"op": "source_health"}

    def running() -> set[str]:
        [reply] = ask(d.socket, health)
        return {s["name"] for s in reply["sources"] if s["state"] == "running"}

    def looked(name: str) -> bool:
        """Its first look (the baseline) is taken: a port opened after it is news. A
        watcher is "running" from its start, and on a loaded machine the baseline can
        come after the test opened the port, which then is no news (no event)."""
        [reply] = ask(d.socket, health)
        return any(
            s["name"] == f"watcher:{name}" and "not listening" in s["detail"]
            for s in reply["sources"]
        )

    wait_for(lambda: "watcher:p1" in running(), what="p1 running")
    wait_for(lambda: looked("p1"), what="p1's first look")
    a = listener(first)
    wait_for(lambda: port_events(d.home, "opened"), what="p1 sees its port open")

    removed = run_cli("--home", str(d.home), "watch", "remove", "p1")
    assert removed.returncode == 0, removed.stderr
    assert removed.stdout.splitlines() == [
        f"removed port watcher p1 from {d.home / 'config.toml'}",
        "the running daemon reloaded its watchers",
    ]
    assert "watcher:p1" not in running()
    a.close()  # p1, were it still running, would report port.closed

    write_config(d.home, port_watcher("p2", second))
    [reply] = ask(d.socket, {"op": "reload_watchers"})
    assert reply["ok"] and reply["watchers"] == ["p2"], reply
    wait_for(lambda: "watcher:p2" in running(), what="p2 running")
    wait_for(lambda: looked("p2"), what="p2's first look")
    listener(second)
    wait_for(lambda: len(port_events(d.home, "opened")) == 2, what="p2 sees its port open")
    assert [e["port"] for e in port_events(d.home, "opened")] == [first, second]
    assert port_events(d.home, "closed") == []

    # A bad entry changes nothing: p2 keeps running.
    write_config(d.home, port_watcher("p2", second) + port_watcher("p3", 0))
    [broken] = ask(d.socket, {"op": "reload_watchers"})
    assert broken["ok"] is False and "p3" in broken["error"]
    assert "watcher:p2" in running()
    assert d.signal(signal.SIGTERM) == 0
