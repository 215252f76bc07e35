"""One-shot commands run without an event loop against a daemon (issue 19, cli_ratio).

`run(body, oneshot=True)` drives the command's body by hand over a blocking socket
(remote/wire.BlockingConnection): no asyncio import. These tests hold the two transports
to the same replies and errors, against a real `serve`, and check that the commands that
opted in really leave asyncio unloaded.
"""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import click
import pytest
from clirun import run_listing
from sourcekit import DaemonProcess, daemons  # noqa: F401 (a fixture)

from sloth_tui.commands.common import _run_without_loop, engine_for, run
from sloth_tui.config import load_settings
from sloth_tui.model.errors import NotFound
from sloth_tui.remote.client import RemoteEngine
from sloth_tui.remote.wire import Address, BlockingConnection


def run_cli(home: Path, *args: str) -> tuple[int, str, str, set[str]]:
    run = run_listing(home, *args)
    return run.code, run.out, run.err, run.modules


@pytest.fixture
def daemon(daemons: Callable[..., DaemonProcess], tmp_path: Path) -> DaemonProcess:  # noqa: F811
    return daemons(tmp_path / "home").start("--no-monitor", "--no-watchers")


@pytest.mark.parametrize(
    "args",
    [
        ("event", "list", "--limit", "1"),  # with --json, quick_query.py answers it
        ("event", "show", "1", "--json"),
        ("event", "dispatch", "custom", "name=oneshot", "message=m", "--json"),
        ("hook", "list"),
    ],
    ids=" ".join,
)
def test_a_one_shot_command_against_a_daemon_loads_no_asyncio(
    daemon: DaemonProcess, args: tuple[str, ...]
) -> None:
    code, _, err, modules = run_cli(daemon.home, *args)
    assert code == 0, err
    assert "sloth_tui.remote.client" in modules  # it did talk to the daemon
    assert "asyncio" not in modules
    assert "sloth_tui.catalog" not in modules or args[1] == "dispatch"


def test_a_one_shot_error_is_the_same_one_line(daemon: DaemonProcess) -> None:
    code, out, err, modules = run_cli(daemon.home, "event", "show", "987654")
    assert (code, out) == (1, "")
    assert err == "error: no event with id 987654"
    assert "asyncio" not in modules


def test_without_a_daemon_the_same_command_runs_under_asyncio(tmp_path: Path) -> None:
    home = tmp_path / "home"
    home.mkdir(mode=0o700)
    code, out, err, modules = run_cli(home, "event", "list", "--limit", "1", "--json")
    assert code == 0, err
    assert out.strip() == "[]"
    assert "asyncio" in modules


async def test_both_transports_give_the_same_records_and_errors(daemon: DaemonProcess) -> None:
    settings = load_settings(daemon.home)
    pooled = await RemoteEngine.open(settings)
    blocking = await RemoteEngine.open(settings, blocking=True)
    try:
        await pooled.dispatch_and_run("custom", {"name": "a", "message": "é\x1b[31m"})
        for engine in (pooled, blocking):
            assert isinstance(engine._idle[0], BlockingConnection) == (engine is blocking)
        assert await blocking.query_events(limit=5) == await pooled.query_events(limit=5)
        assert await blocking.list_hooks() == await pooled.list_hooks()
        assert blocking.info.keys() == pooled.info.keys()
        assert blocking.info["pid"] == pooled.info["pid"]
        with pytest.raises(NotFound) as remote_error:
            await pooled.get_event(10**9)
        with pytest.raises(NotFound) as blocking_error:
            await blocking.get_event(10**9)
        assert str(blocking_error.value) == str(remote_error.value)
    finally:
        await pooled.close()
        await blocking.close()


def test_a_blocking_engine_is_driven_without_a_loop(daemon: DaemonProcess) -> None:
    settings = load_settings(daemon.home)

    async def body() -> int:
        engine = await RemoteEngine.open(settings, blocking=True)
        try:
            return await engine.count_events()
        finally:
            await engine.close()

    assert _run_without_loop(body) >= 1  # the daemon's own start-up event at least


def test_a_body_that_suspends_is_refused_not_hung() -> None:
    async def body() -> None:
        await asyncio.sleep(0)  # yields once: it needs a loop

    with pytest.raises(AssertionError, match="suspended"):
        _run_without_loop(body)


def test_oneshot_falls_back_to_asyncio_when_embedded(tmp_path: Path) -> None:
    """The same body, --embedded: the local engine under asyncio.run."""
    home = tmp_path / "home"
    home.mkdir(mode=0o700)

    @click.command()
    @click.pass_context
    def command(ctx: click.Context) -> None:
        ctx.obj = {"home": str(home), "embedded": True}

        async def body() -> bool:
            async with engine_for(ctx, readonly=True) as engine:
                return engine.remote

        click.echo(f"remote={run(body, oneshot=True)}")

    from click.testing import CliRunner

    result = CliRunner().invoke(command, [])
    assert result.output.strip() == "remote=False", result.output


# -- BlockingConnection against a hand-made server: hang-ups and over-long lines -------


@pytest.fixture
def one_reply_server(tmp_path: Path) -> Iterator[tuple[Path, list[bytes]]]:
    """A Unix socket that answers each connection's first line with the next canned
    reply, then hangs up."""
    path = tmp_path / "s.sock"
    replies: list[bytes] = []
    server = socket.socket(socket.AF_UNIX)
    server.bind(str(path))
    server.listen()

    def serve() -> None:
        while True:
            try:
                conn, _ = server.accept()
            except OSError:
                return
            with conn:
                conn.makefile("rb").readline()
                conn.sendall(replies.pop(0) if replies else b"")

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield path, replies
    server.close()
    thread.join(timeout=5)


def drive(coro_fn: Callable[[], Any]) -> Any:
    return _run_without_loop(coro_fn)


def test_a_hung_up_connection_is_not_usable_and_says_so(
    one_reply_server: tuple[Path, list[bytes]],
) -> None:
    path, replies = one_reply_server
    replies += [b'{"ok": true}\n']
    conn = drive(lambda: BlockingConnection.open(Address(path=path)))
    assert drive(lambda: conn.request({"op": "ping"})) == {"ok": True}
    deadline = time.monotonic() + 10
    while conn.usable and time.monotonic() < deadline:  # the server hangs up after its reply
        time.sleep(0.01)
    assert not conn.usable
    # What RemoteEngine retries on (a query) or reports as a lost daemon: an OSError.
    with pytest.raises(OSError):
        drive(lambda: conn.request({"op": "ping"}))
    conn.close()
    assert not conn.usable


def test_a_reply_that_is_not_an_object_is_a_value_error(
    one_reply_server: tuple[Path, list[bytes]],
) -> None:
    path, replies = one_reply_server
    replies += [b"[1, 2]\n"]
    conn = drive(lambda: BlockingConnection.open(Address(path=path)))
    with pytest.raises(ValueError, match="not a JSON object"):
        drive(lambda: conn.request({"op": "ping"}))
    conn.close()


def test_nothing_listening_is_daemon_unavailable(tmp_path: Path) -> None:
    from sloth_tui.remote.protocol import DaemonUnavailable

    with pytest.raises(DaemonUnavailable, match="no sloth-tui daemon answers on"):
        drive(lambda: BlockingConnection.open(Address(path=tmp_path / "none.sock")))
