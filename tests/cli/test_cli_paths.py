"""Paths as operators type them (sloth_tui/user_path.py): `~name` for no user stays as
typed, and a symlink loop is a one-line error, on every Python we support (3.11 and 3.12
raise RuntimeError from Path.resolve() there, which reached operators as "unexpected")."""

from __future__ import annotations

import os
import pwd
from pathlib import Path

import pytest
from click.testing import CliRunner
from sourcekit import run_cli

from sloth_tui.cli import main
from sloth_tui.sources.upstream_db import SYSTEM_DATA_DIR, candidate_dirs
from sloth_tui.tui.widgets.lua_editor import display_path
from sloth_tui.user_path import resolved, user_path


def _loop(path: Path) -> Path:
    path.symlink_to(path)
    return path


def test_resolved_is_resolve_where_resolve_works(tmp_path: Path) -> None:
    (tmp_path / "real").mkdir()
    (tmp_path / "link").symlink_to(tmp_path / "real")
    for path in (tmp_path / "link", tmp_path / "link" / ".." / "real", tmp_path / "missing"):
        assert resolved(path) == path.resolve()
    assert resolved("relative") == Path.cwd().resolve() / "relative"


def test_a_loop_stays_in_the_path_for_the_open_to_refuse(tmp_path: Path) -> None:
    loop = _loop(tmp_path / "loop")
    assert resolved(loop) == loop
    assert resolved(loop / "h.lua") == loop / "h.lua"


def test_a_tilde_for_no_user_stays_as_typed() -> None:
    assert user_path("~nosuchuser0/x") == Path("~nosuchuser0/x")
    assert user_path("~/x") == Path(os.path.expanduser("~")) / "x"


def test_a_home_that_is_a_symlink_loop_is_one_line(tmp_path: Path) -> None:
    loop = _loop(tmp_path / "loop")
    for args in (["--home", str(loop)], []):
        env = {"SLOTH_TUI_HOME": str(loop)} if not args else None
        done = run_cli(*args, "event", "list", env=env)
        assert done.returncode == 1, done.stderr
        assert done.stderr == (
            f"error: cannot use the data dir {loop}: it is a symbolic link that leads nowhere"
            f" (a loop, or its target is missing: ls -l {loop}); fix it, or choose another"
            " --home\n"
        )


def test_a_hook_file_or_a_watched_path_that_loops_is_one_line(tmp_path: Path) -> None:
    home = tmp_path / "home"
    loop = _loop(tmp_path / "loop.lua")
    added = run_cli("--home", str(home), "hook", "add", "h", "-e", "task.started", "-f", str(loop))
    assert added.returncode == 2
    assert added.stderr.startswith(f"error: Invalid value for --file: no such file: {loop}")
    watched = run_cli("--home", str(home), "watch", "add", "w", str(loop))
    assert watched.returncode == 1
    assert watched.stderr == f"error: cannot watch {loop}: too many levels of symbolic links\n"


@pytest.fixture
def no_home(monkeypatch: pytest.MonkeyPatch) -> None:
    """A container run under an arbitrary uid: no HOME, no entry in the password database."""
    for name in ("HOME", "XDG_DATA_HOME", "XDG_CONFIG_HOME", "XDG_CACHE_HOME", "SLOTH_TUI_HOME"):
        monkeypatch.delenv(name, raising=False)

    def unknown(uid: int) -> pwd.struct_passwd:
        raise KeyError(f"getpwuid(): uid not found: {uid}")

    monkeypatch.setattr(pwd, "getpwuid", unknown)


@pytest.mark.usefixtures("no_home")
def test_no_home_at_all_is_one_line_that_says_what_to_do(tmp_path: Path) -> None:
    for args in (["event", "list"], ["hook", "list"], []):  # [] opens the dashboard
        done = CliRunner().invoke(main, args)
        assert done.exit_code == 1, done.output
        assert done.output == (
            "error: no home directory to keep sloth-tui's files under: HOME is not set and "
            f"user id {os.getuid()} has none in the password database; use --home DIR (or "
            "set SLOTH_TUI_HOME, or HOME)\n"
        )
    given = CliRunner().invoke(main, ["--home", str(tmp_path / "h"), "event", "list"])
    assert (given.exit_code, given.output) == (0, "(none)\n")


@pytest.mark.usefixtures("no_home")
def test_with_no_home_paths_are_shown_and_searched_as_they_are(tmp_path: Path) -> None:
    assert display_path(tmp_path / "h.lua") == str(tmp_path / "h.lua")
    assert candidate_dirs({}) == [SYSTEM_DATA_DIR, Path(".sloth-cache")]


def test_a_home_that_is_not_a_directory_says_so(tmp_path: Path) -> None:
    """A regular file click refuses itself (exit 2); a device or a FIFO gets here."""
    os.mkfifo(tmp_path / "fifo")
    for home in (tmp_path / "fifo", Path("/dev/null")):
        done = run_cli("--home", str(home), "event", "list")
        assert done.returncode == 1
        assert done.stderr == (
            f"error: cannot use the data dir {home}: it is not a directory; choose another --home\n"
        )
