"""What a command's start-up leaves out (issue 19, cli_ratio), beyond the lean-imports test.

Each command runs in a fresh interpreter, as `python -m sloth_tui` does, against a real
`serve`, and the modules it loaded are read back. The event and hook groups load their
sibling subcommands only when named, the catalog's resource reader and typo matcher wait
for a lookup, and config.py reaches for platformdirs and tomllib only when there is no
--home or there is a config.toml.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from clirun import run_listing
from sourcekit import DaemonProcess, daemons  # noqa: F401 (a fixture)

# Modules a plain listing has no use for: the other subcommands, and what only a
# default data dir, a config file, a typo suggestion or a catalog lookup needs.
NOT_FOR_A_LISTING = (
    "sloth_tui.commands.tail",
    "sloth_tui.commands.event_io",
    "sloth_tui.commands.event_trace",
    "sloth_tui.commands.hook_explain",
    "sloth_tui.commands.hook_replay",
    "sloth_tui.commands.hook_export",
    "sloth_tui.commands.hook_import",
    "sloth_tui.catalog",
    # engine.api and the records of the other operations (their dataclasses are most
    # of a model module's import time): remote/ops.py decodes them when they arrive
    "sloth_tui.engine.api",
    "sloth_tui.engine.retry",
    "sloth_tui.model.explain",
    "sloth_tui.model.mirror",
    "sloth_tui.model.replay",
    "sloth_tui.model.stats",
    "sloth_tui.model.trace",
    "difflib",
    "platformdirs",
    "tomllib",
)


def run_cli(home: Path, *args: str) -> tuple[str, set[str]]:
    run = run_listing(home, *args)
    assert run.code == 0, run.err[-2000:]
    return run.out, run.modules


def loaded(modules: set[str], names: tuple[str, ...]) -> list[str]:
    return sorted(n for n in names if n in modules)


@pytest.fixture
def daemon(daemons: Callable[..., DaemonProcess], tmp_path: Path) -> DaemonProcess:  # noqa: F811
    return daemons(tmp_path / "home").start("--no-monitor", "--no-watchers")


@pytest.mark.parametrize(
    "args",
    [("event", "list", "--limit", "1"), ("hook", "list")],  # --json: quick_query.py's
    ids=" ".join,
)
def test_a_listing_loads_no_sibling_command_nor_unused_helpers(
    daemon: DaemonProcess, args: tuple[str, ...]
) -> None:
    _, modules = run_cli(daemon.home, *args)
    assert "sloth_tui.remote.client" in modules  # it did talk to the daemon
    assert loaded(modules, NOT_FOR_A_LISTING) == []


@pytest.mark.parametrize("module", ["event", "hook", "completion", "common"])
def test_declaring_the_commands_loads_no_event_loop(module: str) -> None:
    """asyncio (and ssl with it) is loaded by run() when a body runs, not by the modules
    that declare commands and their completers."""
    probe = f"import sys, sloth_tui.commands.{module}; print('asyncio' in sys.modules)"
    done = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, timeout=60, check=True
    )
    assert done.stdout.strip() == "False"


@pytest.mark.parametrize(
    ("group", "named"),
    [
        ("event", ("tail", "trace", "export", "import")),
        ("hook", ("explain", "replay", "export", "import")),
    ],
)
def test_the_lazy_subcommands_are_listed_and_run(
    tmp_path: Path, group: str, named: tuple[str, ...]
) -> None:
    home = tmp_path / "home"
    home.mkdir(mode=0o700)
    out, _ = run_cli(home, group, "--help")
    listed = {line.split()[0] for line in out.splitlines() if line.startswith("  ")}
    assert set(named) <= listed
    for name in named:
        helped, _ = run_cli(home, group, name, "--help")
        assert f"{group} {name}" in helped


def test_a_config_file_and_the_default_home_still_load_their_parsers(tmp_path: Path) -> None:
    """The lazy imports are still made when needed: a config.toml is read (a bad value
    in it is reported), and without --home the platform's dirs are asked."""
    home = tmp_path / "home"
    home.mkdir(mode=0o700)
    (home / "config.toml").write_text("[monitor]\ninterval = 'soon'\n", encoding="utf-8")
    done = subprocess.run(
        [sys.executable, "-m", "sloth_tui", "--home", str(home), "event", "list"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 1
    assert done.stderr.startswith("error: ") and "interval" in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1
