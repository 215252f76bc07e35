"""A command that talks to a running daemon imports only what it uses (issue 19).

The command line's cost over the socket is mostly imports (bench: cli_ratio). Each
command runs in a fresh interpreter against a real `serve`, and the modules it loaded
are read back: none of the dashboard, the Lua runtime, the local engine, the producers,
the HTTP listener, or the libraries only they need.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest
from clirun import run_listing
from sourcekit import DaemonProcess, daemons  # noqa: F401 (a fixture)

# Packages a socket client has no use for, and the project's parts behind the socket.
HEAVY = frozenset(
    {
        "textual",
        "rich",
        "lupa",
        "aiosqlite",
        "sqlite3",
        "aiohttp",
        "prometheus_client",
        "textual_serve",
        "cryptography",
        "psutil",
        "watchdog",
        "re2",
    }
)
BEHIND_THE_SOCKET = (
    "sloth_tui.engine.engine",
    "sloth_tui.engine.store",
    "sloth_tui.lua",
    "sloth_tui.sources",
    "sloth_tui.tui",
    "sloth_tui.http",
)


def loaded_by(home: Path, *args: str) -> tuple[str, set[str]]:
    """The command's stdout and the modules it imported."""
    run = run_listing(home, *args)
    assert run.code == 0, run.err[-2000:]
    return run.out, run.modules


def unwanted(modules: set[str]) -> list[str]:
    return sorted(m for m in modules if m.split(".")[0] in HEAVY or m.startswith(BEHIND_THE_SOCKET))


@pytest.fixture
def daemon(daemons: Callable[..., DaemonProcess], tmp_path: Path) -> DaemonProcess:  # noqa: F811
    return daemons(tmp_path / "home").start("--no-monitor", "--no-watchers")


@pytest.mark.parametrize(
    "args",
    [
        ("event", "list", "--limit", "1"),  # with --json, quick_query.py answers it
        ("event", "list", "--limit", "1", "--json", "--since", "1h"),
        ("event", "dispatch", "custom", "name=lean", "message=imports"),
        ("event", "show", "1", "--json"),
        ("hook", "list"),
        ("event", "trace", "1", "--json"),
    ],
    ids=" ".join,
)
def test_talking_to_a_daemon_loads_nothing_behind_the_socket(
    daemon: DaemonProcess, args: tuple[str, ...]
) -> None:
    out, modules = loaded_by(daemon.home, *args)
    assert "sloth_tui.remote.client" in modules  # it did talk to the daemon
    assert unwanted(modules) == []
    if "--json" in args:
        json.loads(out)


def test_the_check_sees_an_import_of_the_local_engine(tmp_path: Path) -> None:
    """Without a daemon the same command opens the engine itself: the check notices."""
    home = tmp_path / "home"
    home.mkdir(mode=0o700)
    _, modules = loaded_by(home, "event", "list", "--limit", "1", "--json")
    assert "sloth_tui.engine.engine" in unwanted(modules)
