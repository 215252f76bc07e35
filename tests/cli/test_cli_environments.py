"""The environments operators run commands in, as the CLI fuzz test does for arguments:
no HOME and no passwd entry (a container under an arbitrary uid), a closed stdin, a
terminal encoding that is not UTF-8, a data dir that loops, names no user, or is not a
directory. Whatever the mix, a command succeeds or says why in `error:` lines: never a
traceback, never "unexpected" (each cell once was one, session 19)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

# `sloth-tui ARGS`, with the password database knowing no one, or giving a home under the
# test's temporary dir (never the real user's: no test touches their data).
RUN = """\
import os, pwd, sys
passwd_home = os.environ.pop("SLOTH_TEST_PASSWD_HOME", "")
def lookup(uid):
    if not passwd_home:
        raise KeyError(f"getpwuid(): uid not found: {uid}")
    return pwd.struct_passwd(("op", "x", uid, uid, "", passwd_home, "/bin/sh"))
pwd.getpwuid = lookup
sys.argv = ["sloth-tui", *sys.argv[1:]]
from sloth_tui.entry import main
main()
"""

COMMANDS = [
    ["event", "list"],
    ["event", "list", "--json"],
    ["hook", "list"],
    ["emit", "custom", "name=n", "message=héllo ✓ 😀"],
    ["event", "import", "-"],
    [],  # the dashboard: there is no terminal here, which it must say in a line
    # Commands that write files of their own beside the store (session 21 swept every
    # command so, three environments each, clean): a sample of them here.
    ["hook", "add", "h", "-e", "custom", "-f", "h.lua"],
    ["schedule", "add", "nightly", "--cron", "0 2 * * *"],
    ["secret", "set", "TOKEN"],  # its value from stdin: closed, empty or a line
    ["backup"],
    ["doctor"],
]
HOMES = ["fresh", "loop", "fifo", "no-user", "default"]


def _home(kind: str, tmp: Path) -> list[str]:
    if kind == "fresh":
        return ["--home", str(tmp / "home")]
    if kind == "loop":
        loop = tmp / "loop"
        if not loop.is_symlink():
            loop.symlink_to(loop)
        return ["--home", str(loop)]
    if kind == "fifo":
        fifo = tmp / "fifo"
        if not fifo.exists():
            os.mkfifo(fifo)
        return ["--home", str(fifo)]
    if kind == "no-user":
        return ["--home", "~nosuchuser0/home"]
    return []  # the platform's default, under HOME (or none)


@pytest.fixture(scope="module")
def tmp(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("envs")


@settings(
    max_examples=40,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    command=st.sampled_from(COMMANDS),
    home=st.sampled_from(HOMES),
    has_home_var=st.booleans(),
    in_passwd=st.booleans(),
    stdin=st.sampled_from(["closed", "empty", "a line"]),
    encoding=st.sampled_from(["utf-8", "latin-1"]),
)
def test_every_environment_gets_an_answer_or_a_line(
    tmp: Path,
    command: list[str],
    home: str,
    has_home_var: bool,
    in_passwd: bool,
    stdin: str,
    encoding: str,
) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("XDG_", "SLOTH_TUI"))}
    env.pop("HOME", None)
    if has_home_var:
        env["HOME"] = str(tmp / "user")
    if in_passwd:
        env["SLOTH_TEST_PASSWD_HOME"] = str(tmp / "passwd-home")
    env["PYTHONIOENCODING"] = encoding
    cwd = tmp / "cwd"  # `~nosuchuser0/home` is relative: made here, not in the repo
    cwd.mkdir(exist_ok=True)
    (cwd / "h.lua").write_text("function on_event() return true end\n")
    done = subprocess.run(
        [sys.executable, "-c", RUN, *_home(home, tmp), *command],
        input=None if stdin == "closed" else (b"" if stdin == "empty" else b"{}\n"),
        preexec_fn=(lambda: os.close(0)) if stdin == "closed" else None,
        capture_output=True,
        env=env,
        cwd=cwd,
        timeout=60,
        check=False,
    )
    err = done.stderr.decode(encoding)
    said = (command, home, has_home_var, in_passwd, stdin, encoding, err[-2000:])
    assert done.returncode in (0, 1, 2), said
    assert "Traceback" not in err and "unexpected" not in err, said
    if done.returncode:
        assert any(line.startswith("error:") for line in err.splitlines()), said
