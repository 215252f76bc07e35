"""Shell completion, driven the way click's own tests and the shells do it: the
`_SLOTH_TUI_COMPLETE` variable with COMP_WORDS / COMP_CWORD, the candidates read back
from stdout. Hook names come from a real store or a real daemon; a failure completes
nothing and prints nothing."""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from sourcekit import SLOTH, DaemonProcess, run_cli

from sloth_tui.cli import main
from sloth_tui.config import load_settings
from sloth_tui.engine.engine import Engine

HOOKS = {"deploy-alert": "Alert ops\x1b[2J on\nfailures", "deploy-audit": "", "cpu-page": "p"}


def add_hooks(home: Path, tmp_path: Path, names: dict[str, str] = HOOKS) -> None:
    async def go() -> None:
        engine = await Engine.open(load_settings(home))
        try:
            for name, description in names.items():
                path = tmp_path / f"{name}.lua"
                path.write_text("function on_event() return true end\n")
                await engine.add_hook(name, ["deploy.*"], path, description=description)
        finally:
            await engine.close()

    asyncio.run(go())


def complete(line: str, shell: str = "bash", env: dict[str, str] | None = None) -> Result:
    """Complete the last word of `line` (after `sloth-tui `; a trailing space: a new,
    empty word), as the shell script click installs would ask."""
    words = ["sloth-tui", *line.split(" ")]
    return CliRunner().invoke(
        main,
        [],
        prog_name="sloth-tui",
        env={
            "_SLOTH_TUI_COMPLETE": f"{shell}_complete",
            "COMP_WORDS": " ".join(words),
            "COMP_CWORD": str(len(words) - 1),
            **(env or {}),
        },
    )


def values(result: Result) -> list[str]:
    """bash_complete prints `type,value` per line."""
    assert result.exit_code == 0, result.output
    assert result.stderr == ""
    return [line.split(",", 1)[1] for line in result.stdout.splitlines() if line]


def test_hook_names_from_the_store(home: Path, tmp_path: Path) -> None:
    add_hooks(home, tmp_path)
    for command in ("show", "update", "delete", "enable", "disable", "logs", "test", "replay"):
        assert values(complete(f"--home {home} hook {command} dep")) == [
            "deploy-alert",
            "deploy-audit",
        ], command
    assert values(complete(f"--home {home} hook show ")) == sorted(HOOKS)
    assert values(complete(f"--home {home} hook explain 12 cpu")) == ["cpu-page"]
    assert values(complete(f"--home {home} event rerun 3 --hook c")) == ["cpu-page"]


def test_home_from_the_environment(home: Path, tmp_path: Path) -> None:
    add_hooks(home, tmp_path)
    result = complete("hook show cpu", env={"SLOTH_TUI_HOME": str(home)})
    assert values(result) == ["cpu-page"]


def test_a_new_hook_name_is_not_completed(home: Path, tmp_path: Path) -> None:
    add_hooks(home, tmp_path)
    assert values(complete(f"--home {home} hook add dep")) == []


def test_descriptions_are_shown_as_plain_text(home: Path, tmp_path: Path) -> None:
    add_hooks(home, tmp_path)
    out = complete(f"--home {home} hook show deploy-al", shell="zsh").stdout
    # zsh_complete: type, value, help; one line each, the escape shown, never sent.
    assert out.split("\n")[:3] == ["plain", "deploy-alert", "Alert ops\\x1b[2J on\\nfailures"]
    assert "\x1b" not in out


@pytest.mark.parametrize(
    "setup",
    ["no-home", "empty-home", "broken-config", "dead-attach", "home-is-a-file", "store-is-junk"],
)
def test_trouble_completes_nothing_and_says_nothing(tmp_path: Path, setup: str) -> None:
    home = tmp_path / "h"
    line = f"--home {home} hook show "
    if setup == "empty-home":
        home.mkdir()
    elif setup == "broken-config":
        home.mkdir()
        (home / "config.toml").write_text("concurrency = [\n")
    elif setup == "dead-attach":
        line = f"--home {home} --attach {tmp_path / 'none.sock'} hook show "
    elif setup == "home-is-a-file":
        home.write_text("not a dir")
    elif setup == "store-is-junk":
        home.mkdir()
        (home / "sloth.db").write_bytes(b"\x00junk" * 100)
    result = complete(line)
    assert values(result) == []
    if setup in ("no-home", "dead-attach"):
        assert not home.exists()  # completing never creates a data dir


def test_hook_names_through_the_daemon(
    daemons: Callable[..., DaemonProcess], tmp_path: Path
) -> None:
    served = tmp_path / "served"
    add_hooks(served, tmp_path, {"via-daemon": "d"})
    sock = Path("/tmp") / f"sloth-compl-{tmp_path.name[-20:]}.sock"
    daemon = daemons(served).start("--no-monitor", socket_path=sock)
    try:
        # Another home, with no store at all: only the daemon can answer.
        other = tmp_path / "other"
        result = complete(f"--home {other} --attach {sock} hook show v")
        assert values(result) == ["via-daemon"]
        # The real console script, as the shell runs it.
        done = run_cli(
            env={
                "_SLOTH_TUI_COMPLETE": "bash_complete",
                "COMP_WORDS": f"sloth-tui --home {other} --attach {sock} hook disable ",
                "COMP_CWORD": "7",
            }
        )
        assert (done.returncode, done.stdout.strip(), done.stderr) == (0, "plain,via-daemon", "")
        assert daemon.signal(signal.SIGTERM) == 0
    finally:
        sock.unlink(missing_ok=True)


def test_event_types_from_the_catalog(home: Path) -> None:
    assert values(complete("event dispatch deploy.f")) == ["deploy.failed"]
    security = values(complete("emit securi"))  # the `emit` alias completes the same
    assert security and all(v.startswith("security.") for v in security)
    assert "custom" in values(complete("event dispatch cu"))
    assert values(complete(f"--home {home} hook test x --event deploy.fa")) == ["deploy.failed"]


def test_type_patterns_offer_category_globs_first(home: Path) -> None:
    got = values(complete(f"--home {home} hook add x --event deploy"))
    assert got[0] == "deploy.*"
    assert "deploy.failed" in got and all(v.startswith("deploy") for v in got)
    assert values(complete("event list --type restore."))[0] == "restore.*"
    assert "deploy.*" in values(complete(f"--home {home} hook update x --event d"))


def test_categories(home: Path) -> None:
    assert sorted(values(complete("event list --category sec"))) == ["secret", "security"]
    assert values(complete("event types --category dep")) == ["deploy"]


@pytest.mark.skipif(shutil.which("bash") is None, reason="bash is not installed")
def test_the_bash_script_as_documented(home: Path, tmp_path: Path) -> None:
    """README: `eval "$(_SLOTH_TUI_COMPLETE=bash_source sloth-tui)"`, then Tab."""
    add_hooks(home, tmp_path)
    script = (
        'eval "$(_SLOTH_TUI_COMPLETE=bash_source sloth-tui)"\n'
        f"COMP_WORDS=(sloth-tui --home {home} hook enable deploy-)\n"
        "COMP_CWORD=5\n"
        "_sloth_tui_completion sloth-tui\n"
        'printf "%s\\n" "${COMPREPLY[@]}"\n'
    )
    bin_dir = str(Path(SLOTH[0]).parent) if len(SLOTH) == 1 else None
    if bin_dir is None:
        pytest.skip("no sloth-tui console script in this environment")
    done = subprocess.run(
        ["bash", "--norc", "--noprofile", "-c", script],
        capture_output=True,
        text=True,
        timeout=30,
        env={**os.environ, "PATH": f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}"},
    )
    assert (done.returncode, done.stderr) == (0, "")
    assert done.stdout.split() == ["deploy-alert", "deploy-audit"]
