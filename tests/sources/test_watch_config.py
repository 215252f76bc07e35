"""[[watchers]] of the polled kinds in config.toml: parsed, refused in one line, built."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from sourcekit import async_wait_for

from sloth_tui.config import ConfigError, WatcherSettings, load_settings
from sloth_tui.engine.engine import Engine
from sloth_tui.model.filters import parse_filter
from sloth_tui.sources.options import SourceOptions
from sloth_tui.sources.registry import build_sources
from sloth_tui.sources.watch_config import (
    CommandWatch,
    LogWatch,
    PortWatch,
    ProcessWatch,
    ServiceWatch,
    parse_watch_kinds,
)
from sloth_tui.sources.watch_kinds import host_watcher_sources
from sloth_tui.sources.watch_log import LogWatcher, PatternMatcher
from sloth_tui.sources.watch_process import ProcessWatcher

GOOD = """
[[watchers]]
name = "files"
path = "{home}"

[[watchers]]
name = "nginx"
kind = "process"
process = "nginx"

[[watchers]]
name = "files2"
kind = "file"
path = "{home}"
recursive = false

[[watchers]]
name = "web"
kind = "port"
port = 8080
method = "connect"
interval = 2

[[watchers]]
name = "errors"
kind = "log"
path = "{home}/app.log"
pattern = 'ERROR (?P<code>\\w+)'

[[watchers]]
name = "ssh"
kind = "log"
preset = "ssh-auth"

[[watchers]]
name = "disk"
kind = "command"
command = ["df", "-h", "/"]
timeout = 5
interval = 300

[[watchers]]
name = "unit"
kind = "service"
unit = "nginx.service"
"""


def write(home: Path, text: str) -> None:
    (home / "config.toml").write_text(text.replace("{home}", str(home)))


def test_every_kind_parses_and_file_watchers_stay_as_they_were(home: Path) -> None:
    write(home, GOOD)
    settings = load_settings(home)
    assert settings.watchers == (
        WatcherSettings(name="files", path=str(home)),
        WatcherSettings(name="files2", path=str(home), recursive=False),
    )
    assert parse_watch_kinds(settings) == (
        ProcessWatch("nginx", process="nginx"),
        PortWatch("web", port=8080, method="connect", interval=2.0),
        LogWatch("errors", path=f"{home}/app.log", pattern=r"ERROR (?P<code>\w+)"),
        LogWatch("ssh", path="/var/log/auth.log", preset="ssh-auth"),
        CommandWatch("disk", command=("df", "-h", "/"), timeout=5.0, interval=300.0),
        ServiceWatch("unit", unit="nginx.service"),
    )
    sources = build_sources(settings, SourceOptions(), kinds=("host_watchers",))
    assert [s.name for s in sources] == [
        "watcher:nginx",
        "watcher:web",
        "watcher:errors",
        "watcher:ssh",
        "watcher:disk",
        "watcher:unit",
    ]
    assert {s.health().kind for s in sources} == {"host_watchers"}
    assert host_watcher_sources(settings, SourceOptions(watchers=False)) == []


ENTRY = '[[watchers]]\nname = "w"\n'


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ('kind = "proces"\nprocess = "x"', "kind = 'proces' is not a watcher kind (file, process"),
        ("kind = 3", "kind = '3' is not a watcher kind"),
        ('kind = "process"', "a process watcher needs exactly one of process or pattern"),
        ('kind = "process"\nprocess = "a"\npattern = "b"', "needs exactly one of process"),
        ('kind = "process"\nprocess = "a"\nport = 1', "unknown setting 'port' for a process"),
        ('kind = "process"\npattern = "(x)\\\\1"', "pattern uses a backreference (\\1): RE2"),
        ('kind = "log"\npath = "/x"\npattern = "a(?!b)"', "pattern uses negative lookahead"),
        (
            'kind = "process"\npattern = "(unclosed"',
            "pattern is not a valid regular expression (RE2",
        ),
        ('kind = "process"\npattern = "\\\\pL{900}"', "pattern is too large: its compiled form"),
        ('kind = "process"\nprocess = "a"\ninterval = 0', "interval must be between 0.1 and"),
        ('kind = "process"\nprocess = "a"\ninterval = "5"', "interval must be a number"),
        ('kind = "process"\nprocess = "a"\ninterval = nan', "interval must be a number"),
        ('kind = "port"', "a port watcher needs port"),
        ('kind = "port"\nport = 70000', "port must be between 1 and 65535"),
        ('kind = "port"\nport = 80\nmethod = "ping"', "method must be one of auto, psutil"),
        ('kind = "log"\npath = "/var/log/x"', "a log watcher needs exactly one of pattern or"),
        ('kind = "log"\npath = "rel.log"\npattern = "x"', "path must be an absolute path"),
        ('kind = "log"\npreset = "nginx"', "preset must be one of ssh-auth"),
        ('kind = "log"\npattern = "x"', "a log watcher needs path"),
        ('kind = "log"\npreset = "ssh-auth"\nmax_line = 10', "max_line must be between 256"),
        ('kind = "command"\ncommand = "df -h"', "command must be a list of arguments, run without"),
        ('kind = "command"\ncommand = []', "command must be a non-empty list"),
        ('kind = "command"\ncommand = ["df", 1]', "command must hold strings only"),
        ('kind = "command"\ncommand = ["df"]\ntimeout = -1', "timeout must be between 0.1"),
        ('kind = "command"', "a command watcher needs command"),
        ('kind = "service"\nunit = "a b"', "unit must be a systemd unit name"),
        ('kind = "service"\nunit = "x"\nfrom_start = 1', "unknown setting 'from_start'"),
    ],
)
def test_bad_entries_are_one_line_naming_the_entry(home: Path, body: str, message: str) -> None:
    write(home, f'[[watchers]]\nname = "f"\npath = "{home}"\n\n' + ENTRY + body + "\n")
    with pytest.raises(ConfigError) as caught:
        parse_watch_kinds(load_settings(home))
    text = str(caught.value)
    assert "\n" not in text and message in text
    assert text.startswith(f"{home / 'config.toml'}: [[watchers]] entry 2 (w): ")


def test_nested_repeats_load_now_that_re2_runs_them(home: Path) -> None:
    # Refused by the old heuristics (Python's re backtracks on them); RE2 does not.
    body = 'kind = "log"\npath = "/x"\npattern = "(a+)+$"\n\n'
    body += '[[watchers]]\nname = "p"\nkind = "process"\npattern = "(a|aa)*b"\n'
    write(home, ENTRY + body)
    log, proc = parse_watch_kinds(load_settings(home))
    assert isinstance(log, LogWatch) and log.pattern == "(a+)+$"
    assert isinstance(proc, ProcessWatch) and proc.pattern == "(a|aa)*b"
    matcher = PatternMatcher(log)
    assert matcher.match("a" * 30 + "b", False) == []  # returns: no backtracking
    assert ProcessWatcher(proc).matches("x", ["run", "a" * 40 + "c"]) is False
    # argv from /proc may hold bytes that are not UTF-8 (surrogate escapes): still matched
    assert ProcessWatcher(proc).matches("x", ["caf\udce9", "aab"]) is True


def test_names_are_checked_and_unique_among_all_watchers(home: Path) -> None:
    write(home, ENTRY + 'kind = "port"\nport = 1\n\n' + ENTRY + 'kind = "port"\nport = 2\n')
    with pytest.raises(ConfigError, match=r"entry 2: another watcher is named 'w' already"):
        parse_watch_kinds(load_settings(home))
    write(
        home, f'[[watchers]]\nname = "w"\npath = "{home}"\n\n' + ENTRY + 'kind = "port"\nport = 1\n'
    )
    with pytest.raises(ConfigError, match="another watcher is named 'w'"):
        parse_watch_kinds(load_settings(home))
    write(home, '[[watchers]]\nname = "a b"\nkind = "port"\nport = 1\n')
    with pytest.raises(ConfigError, match=r"entry 1: name must be letters, digits"):
        parse_watch_kinds(load_settings(home))
    write(home, '[[watchers]]\nkind = "port"\nport = 1\n')
    with pytest.raises(ConfigError, match=r"entry 1: needs a name"):
        parse_watch_kinds(load_settings(home))


def test_a_file_watcher_without_a_path_is_refused_as_before(home: Path) -> None:
    write(home, '[[watchers]]\nname = "f"\nkind = "file"\n')
    with pytest.raises(ConfigError, match="entry 1 needs a name and a path"):
        load_settings(home)


async def test_a_log_watcher_from_config_feeds_a_real_engine(home: Path) -> None:
    log = home / "app.log"
    log.write_text("")
    write(
        home,
        '[[watchers]]\nname = "errors"\nkind = "log"\npath = "{home}/app.log"\n'
        'pattern = "ERROR (?P<code>\\\\w+)"\ninterval = 0.1\n\n'
        f'[[watchers]]\nname = "py"\nkind = "command"\ncommand = ["{sys.executable}", "-V"]\n',
    )
    settings = load_settings(home)
    engine = await Engine.open(settings)
    sources = build_sources(settings, SourceOptions(), kinds=("host_watchers",))
    watcher = sources[0]
    assert isinstance(watcher, LogWatcher)
    try:
        for source in sources:
            await source.start(engine)
        # The first look opens the file at its end; a line written after it is news.
        await async_wait_for(lambda: watcher.follower._file is not None, what="the open")
        with open(log, "a") as f:
            f.write("ERROR disk_full\n")
        await async_wait_for(lambda: watcher.emitted, what="the match")
        [event] = await engine.query_events(parse_filter("type:log.pattern_matched"))
        assert event.source == "watcher:errors"
        assert event.data["named"] == {"code": "disk_full"}
        assert [s.health().state for s in sources] == ["running", "running"]
    finally:
        for source in sources:
            await source.stop()
        await engine.close()


def test_every_type_a_watcher_produces_is_in_the_catalog() -> None:
    from sloth_tui import catalog
    from sloth_tui.sources.watch_command import CommandWatcher
    from sloth_tui.sources.watch_port import PortWatcher
    from sloth_tui.sources.watch_process import ProcessWatcher
    from sloth_tui.sources.watch_service import ServiceWatcher

    kinds = [ProcessWatcher, PortWatcher, LogWatcher, CommandWatcher, ServiceWatcher]
    produced = [t for cls in kinds for t in cls.produces]
    assert len(produced) == 9
    assert [t for t in produced if catalog.get(t) is None] == []
