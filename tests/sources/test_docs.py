"""README.md: the protocol examples work as written, and the systemd unit is well formed."""

from __future__ import annotations

import configparser
import json
import re
import shutil
import signal
import subprocess
import tempfile
from collections.abc import Callable
from pathlib import Path

import pytest
from sourcekit import DaemonProcess

DOC = Path(__file__).resolve().parents[2] / "README.md"
EXAMPLE = re.compile(r"<!-- example: (\w+) -->\n```sh\n(.*?)```", re.S)


def examples() -> list[tuple[str, str]]:
    return EXAMPLE.findall(DOC.read_text())


def test_the_doc_has_the_three_examples() -> None:
    assert [name for name, _ in examples()] == ["socat", "nc", "python3"]


def test_protocol_examples_work_as_written(
    daemons: Callable[..., DaemonProcess],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    request: pytest.FixtureRequest,
) -> None:
    # A plain `sloth-tui serve` in a fresh $HOME: its socket is where the doc says. The
    # home is a short path of its own: tmp_path under pytest-xdist (popen-gwN/...) can
    # put the socket past the 107 bytes a Unix socket path may have.
    user = Path(tempfile.mkdtemp(prefix="u", dir="/tmp"))
    request.addfinalizer(lambda: shutil.rmtree(user, ignore_errors=True))
    monkeypatch.setenv("HOME", str(user))
    for var in ("XDG_DATA_HOME", "XDG_CONFIG_HOME", "SLOTH_TUI_HOME"):
        monkeypatch.delenv(var, raising=False)
    data = user / ".local" / "share" / "sloth-tui"
    d = daemons(data).start("--no-monitor", home_args=False)  # no --home, no --socket
    everything = all(shutil.which(tool) for tool in ("socat", "nc"))
    ran = []
    for name, script in examples():
        if name != "python3" and not shutil.which(name):
            continue  # .ci/run installs socat and netcat-openbsd; a bare machine may not
        done = subprocess.run(
            ["bash", "-c", script], capture_output=True, text=True, timeout=20, cwd=tmp_path
        )
        assert done.returncode == 0, f"{name}: {done.stderr}"
        got = [json.loads(line) for line in done.stdout.splitlines()]
        documented = [
            json.loads(line[2:]) for line in script.splitlines() if line.startswith("# {")
        ]
        assert got and all(r["ok"] for r in got), f"{name}: {done.stdout}"
        if everything:  # run in the doc's order, each reply is exactly the one shown
            assert got == documented, name
        ran.append(name)
    assert "python3" in ran
    assert d.signal(signal.SIGTERM) == 0


def test_the_systemd_unit_is_well_formed() -> None:
    block = re.search(r"```ini\n(.*?)```", DOC.read_text(), re.S)
    assert block is not None
    unit = configparser.ConfigParser(strict=True, interpolation=None)
    unit.optionxform = str  # type: ignore[assignment,method-assign]
    unit.read_string(block.group(1))
    assert unit.sections() == ["Unit", "Service", "Install"]
    assert unit["Service"]["ExecStart"].endswith("sloth-tui serve")
    assert unit["Service"]["KillSignal"] == "SIGTERM"
    assert unit["Install"]["WantedBy"] == "default.target"
