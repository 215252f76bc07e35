"""`event list --json` answered without click (sloth_tui/quick_query.py), held to the full
command line byte for byte, against a real `serve` holding hostile events.

The property: for any command line, the quick path either prints exactly what the click
command line prints (stdout and exit code) or prints nothing and leaves it to click.
"""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner
from clirun import run_listing
from hostile import SAMPLES, hostile_text
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sourcekit import DaemonProcess, ask

from sloth_tui.cli import main as command_line
from sloth_tui.model.statuses import EVENT_STATUSES
from sloth_tui.quick_query import answer

TYPES = ["deploy.failed", "deploy.completed", "custom", "task.started", "security.login_failed"]


@pytest.fixture(autouse=True)
def _no_settings_in_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """Any SLOTH_TUI_* setting sends a command line to click (tested below on purpose)."""
    for key in [k for k in os.environ if k.startswith("SLOTH_TUI_")]:
        monkeypatch.delenv(key)


@pytest.fixture
def daemon(daemons: Callable[..., DaemonProcess], tmp_path: Path) -> Iterator[DaemonProcess]:
    """A daemon holding events whose data, names and sources are hostile text."""
    home = tmp_path / "home"
    home.mkdir(mode=0o700)
    proc = daemons(home).start("--no-monitor", "--no-watchers")
    lines = []
    for i, sample in enumerate(SAMPLES[:-1]):  # the 100k-character one included
        data = {"note": sample, "n": i, "nested": {"deep": [sample[:40], {"k": sample[:10]}]}}
        if sample[:20]:
            data[sample[:20]] = sample[:20]
        source = "socket" if i % 3 else f"socket:{sample[:30] or 'x'}"
        lines.append({"type": TYPES[i % len(TYPES)], "data": data, "source": source})
    replies = ask(proc.socket, *lines)
    assert sum(r["ok"] for r in replies) > len(lines) // 2, replies
    yield proc


def quick(argv: list[str]) -> tuple[int | None, bytes]:
    """The quick path in this process: (its exit code or None, what it printed)."""
    captured = io.BytesIO()
    saved, wrapper = sys.stdout, io.TextIOWrapper(captured, encoding="utf-8")
    sys.stdout = wrapper
    try:
        code = answer(argv)
        wrapper.flush()
    finally:
        sys.stdout = saved
        wrapper.detach()  # or closing the wrapper would close `captured`
    return code, captured.getvalue()


def full(argv: list[str]) -> tuple[int, bytes]:
    """The click command line in this process, on the same daemon."""
    result = CliRunner().invoke(command_line, argv)
    return result.exit_code, result.stdout_bytes


@pytest.mark.parametrize(
    "args",
    [
        ["event", "list", "--json"],
        ["event", "list", "--limit", "1", "--json"],
        ["event", "list", "--json", "--limit=5", "--type", "deploy.*"],
        ["event", "list", "--status", "completed", "--json", "--source", "socket"],
        ["event", "list", "--category=deploy", "--json"],
        ["event", "list", "--json", "--filter", "type:deploy.* !src:cli n=3"],
        ["event", "list", "--json", "--filter", "red"],
        ["event", "list", "--json", "--type", "nothing.matches"],
    ],
    ids=" ".join,
)
def test_the_quick_path_answers_these_exactly_as_click_does(
    daemon: DaemonProcess, args: list[str]
) -> None:
    argv = ["--home", str(daemon.home), *args]
    code, out = quick(argv)
    assert code == 0  # answered here, not left to click
    assert (code, out) == full(argv)
    assert isinstance(json.loads(out), list)


OPTION_VALUES = {
    "--type": st.sampled_from(["deploy.*", "custom", "*", "", "deploy.[", "a b"]),
    "--category": st.sampled_from(["deploy", "security", "", "nope"]),
    "--status": st.sampled_from([*EVENT_STATUSES, "", "nope", "Completed"]),
    "--source": st.sampled_from(["socket", "socket:*", "cli", ""]),
    "--filter": st.one_of(
        st.sampled_from(
            ["type:deploy.*", "bad:x", "n=3", "'open", "@saved", "since:1h", "", "red", "-x"]
        ),
        hostile_text(40),
    ),
    "--limit": st.sampled_from(["1", "50", "100000", "0", "100001", "007", "x", "", "+3"]),
}
STRAYS = ["--jsonl", "--since", "1h", "-h", "--help", "--", "extra", "--json", "--embedded"]


@st.composite
def command_lines(draw: st.DrawFn, home: str) -> list[str]:
    """`event list` command lines: the quick path's options in both spellings and any
    order, with values good and bad, and now and then something it must leave alone."""
    parts: list[list[str]] = []
    for option, values in OPTION_VALUES.items():
        if draw(st.booleans()):
            value = draw(values)
            parts.append([f"{option}={value}"] if draw(st.booleans()) else [option, value])
    if draw(st.integers(0, 9)):
        parts.append(["--json"])
    if not draw(st.integers(0, 5)):
        parts.append([draw(st.sampled_from(STRAYS))])
    order = draw(st.permutations(range(len(parts)))) if parts else []
    head = draw(st.sampled_from([["--home", home], [f"--home={home}"], []]))
    return [*head, "event", "list", *(arg for i in order for arg in parts[i])]


@settings(
    max_examples=300,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(data=st.data())
def test_the_quick_path_prints_what_click_prints_or_nothing(
    daemon: DaemonProcess, data: st.DataObject
) -> None:
    argv = data.draw(command_lines(str(daemon.home)))
    saved = os.environ.get("SLOTH_TUI_HOME")
    os.environ["SLOTH_TUI_HOME"] = str(daemon.home)  # for the lines without --home
    try:
        code, out = quick(argv)
        if code is None:
            assert out == b""  # left to click, having printed nothing
        else:
            assert (code, out) == full(argv)
    finally:
        if saved is None:
            del os.environ["SLOTH_TUI_HOME"]
        else:
            os.environ["SLOTH_TUI_HOME"] = saved


def test_a_quick_answer_loads_neither_click_nor_the_engine(daemon: DaemonProcess) -> None:
    run = run_listing(daemon.home, "event", "list", "--limit", "1", "--json")
    assert run.code == 0, run.err
    assert len(json.loads(run.out)) == 1
    assert "sloth_tui.quick_query" in run.modules
    loaded = run.modules & {"click", "sloth_tui.cli", "dataclasses", "asyncio", "typing"}
    assert not loaded


def test_what_it_leaves_alone_the_full_command_line_answers(
    daemon: DaemonProcess, tmp_path: Path
) -> None:
    # A saved filter lives in config.toml, which only config.py reads.
    (daemon.home / "config.toml").write_text('[filters]\ndeploys = "type:deploy.*"\n')
    run = run_listing(daemon.home, "event", "list", "--json", "--filter", "@deploys")
    assert run.code == 0, run.err
    assert "click" in run.modules
    assert {e["type"] for e in json.loads(run.out)} <= {"deploy.failed", "deploy.completed"}
    # No daemon: the engine runs in this process, as always.
    empty = tmp_path / "empty"
    empty.mkdir(mode=0o700)
    run = run_listing(empty, "event", "list", "--json")
    assert (run.code, run.out.strip()) == (0, "[]")
    assert "click" in run.modules
    # A bad filter is refused in click's words.
    run = run_listing(daemon.home, "event", "list", "--json", "--filter", "bad:x")
    assert run.code == 2 and run.err.startswith("error: Invalid value for --filter: ")


def test_a_setting_in_the_environment_is_left_to_the_full_command_line(
    daemon: DaemonProcess, monkeypatch: pytest.MonkeyPatch
) -> None:
    """config.py checks SLOTH_TUI_* settings (a bad one is an error there), and a token
    file without --attach is refused: neither is this module's to judge."""
    argv = ["--home", str(daemon.home), "event", "list", "--json"]
    assert quick(argv)[0] == 0
    for key, value in (("SLOTH_TUI_CONCURRENCY", "many"), ("SLOTH_TUI_TOKEN_FILE", "/t")):
        with monkeypatch.context() as env:
            env.setenv(key, value)
            assert quick(argv) == (None, b"")
            code, out = full(argv)
            assert code != 0 and out == b""


def test_a_reader_that_leaves_early_is_no_error(daemon: DaemonProcess) -> None:
    """`| head`: the output is larger than a pipe holds; the reader takes a byte and
    goes. The quick path ends quietly, as the full command line does."""
    argv = ["--home", str(daemon.home), "event", "list", "--json", "--limit", "1000"]
    proc = subprocess.Popen(
        [sys.executable, "-m", "sloth_tui", *argv],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    assert proc.stdout is not None and proc.stderr is not None
    assert proc.stdout.read(1) == b"["
    proc.stdout.close()
    err = proc.stderr.read()
    assert proc.wait(timeout=30) == 0
    assert err == b""


def test_the_copied_limits_are_the_full_command_lines() -> None:
    """quick_query.py cannot import these without loading what it exists to skip."""
    from sloth_tui import quick_query
    from sloth_tui.commands.event import event_list
    from sloth_tui.remote import ops, wire
    from sloth_tui.remote.wire import BlockingConnection

    assert quick_query.MAX_PAGE == ops.MAX_PAGE
    assert quick_query.REPLY_LIMIT == wire.REPLY_LIMIT
    limit = next(p for p in event_list.params if p.name == "limit")
    assert limit.default == quick_query.DEFAULT_LIMIT
    timeout = BlockingConnection.open.__defaults__
    assert timeout is not None and quick_query.CONNECT_TIMEOUT in timeout
