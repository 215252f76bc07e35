"""`sloth-tui watch add/list/remove`: config.toml edits that keep everything else."""

from __future__ import annotations

import json
import signal
import stat
import tomllib
from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from sourcekit import DaemonProcess, ask, events_of, run_cli, wait_for, write_config

from sloth_tui.cli import main
from sloth_tui.config import load_settings
from sloth_tui.sources.watchconf import toml_string

ORIGINAL = """# my settings, with comments
theme = "sloth-light"   # keep me

[monitor]
interval = 30.0

[[watchers]]
name = "first"
path = "/var/log"   # a comment inside the block
"""


def cli(home: Path, *args: str) -> Result:
    return CliRunner().invoke(main, ["--home", str(home), *args])


def test_add_list_remove_keep_the_rest_of_the_file(home: Path, tmp_path: Path) -> None:
    write_config(home, ORIGINAL)
    (home / "config.toml").chmod(0o640)
    target = tmp_path / "drop zone"
    target.mkdir()
    added = cli(
        home,
        "watch",
        "add",
        "drop",
        str(target),
        "--no-recursive",
        "--pattern",
        "*.csv",
        "--pattern",
        "*.tsv",
        "--ignore",
        ".*",
    )
    assert added.exit_code == 0, added.output
    assert "takes effect when `sloth-tui serve` starts" in added.output
    text = (home / "config.toml").read_text()
    assert text.startswith(ORIGINAL)  # byte for byte, comments included
    settings = load_settings(home)
    assert settings.theme == "sloth-light" and settings.monitor.interval == 30.0
    drop = settings.watchers[1]
    assert (drop.name, drop.path, drop.recursive) == ("drop", str(target), False)
    assert drop.patterns == ("*.csv", "*.tsv") and drop.ignore == (".*",)
    assert stat.S_IMODE((home / "config.toml").stat().st_mode) == 0o640

    listed = json.loads(cli(home, "watch", "list", "--json").output)
    assert [(w["name"], w["exists"]) for w in listed] == [("first", True), ("drop", True)]
    assert "drop zone" in cli(home, "watch", "list").output

    removed = cli(home, "watch", "remove", "first")
    assert removed.exit_code == 0, removed.output
    text = (home / "config.toml").read_text()
    assert "first" not in text and "# my settings, with comments" in text
    assert "keep me" in text and "[monitor]" in text
    assert [w.name for w in load_settings(home).watchers] == ["drop"]
    assert cli(home, "watch", "remove", "drop").exit_code == 0
    assert load_settings(home).watchers == ()
    assert list(home.glob(".config.*")) == []  # no temporary file left behind


def test_a_config_kept_in_a_dotfiles_repo_stays_linked(home: Path, tmp_path: Path) -> None:
    repo = tmp_path / "dotfiles"
    repo.mkdir()
    (repo / "sloth.toml").write_text(ORIGINAL)
    home.mkdir(parents=True, exist_ok=True)
    (home / "config.toml").symlink_to(repo / "sloth.toml")
    target = tmp_path / "drop"
    target.mkdir()
    assert cli(home, "watch", "add", "drop", str(target)).exit_code == 0
    assert (home / "config.toml").is_symlink()
    text = (repo / "sloth.toml").read_text()
    assert text.startswith(ORIGINAL) and 'name = "drop"' in text
    assert [p.name for p in repo.iterdir()] == ["sloth.toml"]  # no temporary file left


def test_add_to_a_home_without_a_config(home: Path, tmp_path: Path) -> None:
    assert cli(home, "watch", "add", "w", str(tmp_path)).exit_code == 0
    [w] = load_settings(home).watchers
    assert w.patterns == ("*",) and w.recursive is True
    assert stat.S_IMODE((home / "config.toml").stat().st_mode) == 0o600


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["add", "first", "{tmp}"], "a watcher named 'first' already exists"),
        (["add", "new", "{tmp}/missing"], "no such file or directory"),
        (["add", "bad name", "{tmp}"], "invalid watcher name"),
        (["remove", "nobody"], "no watcher named 'nobody'"),
    ],
)
def test_refusals_are_one_line_and_leave_the_file_alone(
    home: Path, tmp_path: Path, args: list[str], message: str
) -> None:
    write_config(home, ORIGINAL)
    result = cli(home, "watch", *[a.format(tmp=tmp_path) for a in args])
    assert result.exit_code == 1 and message in result.output
    assert len(result.output.strip().splitlines()) == 1
    assert (home / "config.toml").read_text() == ORIGINAL


def test_a_config_it_cannot_edit_safely_is_refused(home: Path, tmp_path: Path) -> None:
    inline = 'watchers = [{name = "a", path = "/tmp"}]\n'
    write_config(home, inline)
    result = cli(home, "watch", "add", "b", str(tmp_path))
    assert result.exit_code == 1 and "config.toml" in result.output
    removed = cli(home, "watch", "remove", "a")
    assert removed.exit_code == 1 and "edit it by hand" in removed.output
    assert (home / "config.toml").read_text() == inline
    write_config(home, "theme = [broken\n")
    broken = cli(home, "watch", "list")
    assert broken.exit_code == 1 and "config.toml" in broken.output


def test_toml_strings_round_trip() -> None:
    for text in ["plain", 'quote " and \\ back', "tab\tnew\nline\x7f", "ünï 🦥"]:
        assert tomllib.loads(f"x = {toml_string(text)}")["x"] == text


def test_a_running_daemon_picks_up_changes(
    daemons: Callable[..., DaemonProcess], tmp_path: Path
) -> None:
    d = daemons().start("--no-monitor")
    target = tmp_path / "incoming"
    target.mkdir()
    added = run_cli("--home", str(d.home), "watch", "add", "in", str(target))
    assert added.returncode == 0 and "the running daemon reloaded its watchers" in added.stdout
    (target / "x.txt").write_text("x")
    wait_for(lambda: events_of(d.home, "file.created"), what="an event from the new watcher")
    removed = run_cli("--home", str(d.home), "watch", "remove", "in")
    assert removed.returncode == 0 and "reloaded" in removed.stdout
    (target / "y.txt").write_text("y")
    write_config(d.home, "[[watchers]]\nname = 1\n")
    [broken] = ask(d.socket, {"op": "reload_watchers"})
    assert broken["ok"] is False and "needs a name and a path" in broken["error"]
    assert d.signal(signal.SIGTERM) == 0
    assert [e["data"]["path"] for e in events_of(d.home, "file.*")] == [str(target / "x.txt")]
