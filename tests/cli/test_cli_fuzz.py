"""Fuzzing the command line: random argument vectors, built from the real commands and
options (click's own description of them) with hostile and out-of-range values.

No traceback, no "unexpected" crash line, no hang: every bad input is a one-line error.
SLOTH_CLI_FUZZ_EXAMPLES sets the count (default 2000: about 15 s here).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import click
import pytest
from click.testing import CliRunner
from hostile import hostile_text
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sloth_tui.cli import main

EXAMPLES = int(os.environ.get("SLOTH_CLI_FUZZ_EXAMPLES", "2000"))
# Long-running by design (a screen, a daemon, a benchmark, a follow) or interactive.
SKIP = {
    ("dashboard",),
    ("demo",),
    ("serve",),
    ("bench",),
    ("event", "tail"),
    ("bridge", "sloth-runner"),  # follows until a signal (its --once: test_cli_bridge.py)
}


def _commands(group: click.Group, path: tuple[str, ...] = ()) -> list[tuple[tuple[str, ...], Any]]:
    """Every command, through click's own lookup (the top level loads them when named)."""
    found = []
    ctx = click.Context(group)
    for name in group.list_commands(ctx):
        cmd = group.get_command(ctx, name)
        assert cmd is not None, name
        here = (*path, name)
        if isinstance(cmd, click.Group):
            found += _commands(cmd, here)
        elif here not in SKIP:
            found.append((here, cmd))
    return found


COMMANDS = _commands(main)

numbers = st.one_of(
    st.integers(-(2**70), 2**70).map(str),
    st.sampled_from(["nan", "inf", "-inf", "1e400", "0", "-1", "99999999999999999999999"]),
)
depths = st.one_of(st.integers(1, 64), st.sampled_from([1000, 2000, 5000]))
deep = depths.map(lambda n: "[" * n + "]" * n)
deep_pair = depths.map(lambda n: "x=" + "[" * n + "]" * n)
filters = st.sampled_from(
    ["id:99999999999999999999999", "a=[1]", "type:[", "type:", "!", "src:hook:*", "a.=1",
     'x="unterminated', "status:nope", "k=NaN", "café", "type:[!d]*"]
)  # fmt: skip
values = st.one_of(hostile_text(60), numbers, deep, filters)


@st.composite
def argv(draw: st.DrawFn) -> list[str]:
    path, cmd = draw(st.sampled_from(COMMANDS))
    args = list(path)
    for param in cmd.params:
        if isinstance(param, click.Argument):
            if param.nargs == -1:
                args += draw(st.lists(st.one_of(values, deep_pair), max_size=3))
            elif draw(st.booleans()) or param.required:
                args.append(draw(values))
        elif draw(st.integers(0, 3)) == 0:
            opt = param.opts[-1]
            if getattr(param, "is_flag", False):
                args.append(opt)
            elif not (opt == "--file" and draw(st.booleans())):
                args += [opt, draw(values)]
    if draw(st.integers(0, 9)) == 0:
        args.insert(draw(st.integers(0, len(args))), draw(values))  # a stray word
    return args


@pytest.fixture(scope="module")
def fuzz_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("fuzz-home")


@settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(args=argv())
def test_no_argument_vector_crashes(
    fuzz_home: Path, args: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(fuzz_home)  # `backup --to NAME` writes NAME here, not in the repo
    result = CliRunner().invoke(
        main, ["--home", str(fuzz_home), *args], input="", catch_exceptions=True
    )
    shown = result.output
    assert "Traceback" not in shown, (args, shown)
    assert "error: unexpected" not in shown, (args, shown)
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise AssertionError(f"{args!r} raised {result.exception!r}") from result.exception
    assert result.exit_code in (0, 1, 2), (args, result.exit_code, shown)
    if result.exit_code != 0:
        errors = [line for line in shown.splitlines() if line.startswith("error:")]
        assert errors, (args, shown)


@pytest.mark.parametrize(
    "args",
    [
        ["emit", "custom", "x=" + "[" * 2000 + "]" * 2000],
        ["event", "dispatch", "custom", "--data", "[" * 2000 + "]" * 2000],
        ["event", "delete", str(2**63)],
        ["event", "show", "99999999999999999999999"],
        ["event", "list", "--filter", "id:99999999999999999999999"],
        ["event", "list", "--filter", "a=[1]"],
        ["hook", "add", "h", "--file", "x" * 5000],
        ["hook", "add", "h", "--file", "a\x00b"],
        ["hook", "add", "h", "--file", "/dev/null", "--timeout", "nan"],
        ["watch", "add", "w", "y" * 5000],
        # `~name` for no user: Path.expanduser raised RuntimeError; a shell keeps it as typed
        ["hook", "export", "~0"],
        ["hook", "add", "h", "--file", "~nosuchuser0/h.lua"],
        ["watch", "add", "w", "~nosuchuser0/x.log"],
    ],
)
def test_the_inputs_that_once_crashed(
    fuzz_home: Path, args: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(fuzz_home)  # `hook export ~0` writes the folder `~0` here
    result = CliRunner().invoke(main, ["--home", str(fuzz_home), *args], catch_exceptions=True)
    assert "unexpected" not in result.output and "Traceback" not in result.output, result.output
    assert result.exit_code in (0, 1, 2)
    assert result.exception is None or isinstance(result.exception, SystemExit)


def test_a_nul_in_an_argument_is_one_line(fuzz_home: Path) -> None:
    """exec cannot pass one, an embedder can: refused before any command sees it."""
    result = CliRunner().invoke(main, ["--home", str(fuzz_home), "hook", "show", "a\x00b"])
    assert result.exit_code == 2
    assert result.output.strip() == "error: argument 5 holds a NUL character: 'a\\x00b'"
