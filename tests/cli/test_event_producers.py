"""Issue 16's acceptance: `event types` marks which types have a producer in this install
(PRODUCER column, --produced/--unproduced, JSON "producers"), and `event producers`
prints category -> producer -> how to configure; a default install has the producers
every install has, and one configured with every kind of source covers at least 14 of
the 16 categories."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from sloth_tui import catalog
from sloth_tui.cli import main
from sloth_tui.config import load_settings
from sloth_tui.sources.options import SourceOptions
from sloth_tui.sources.producers import (
    ALWAYS,
    EXAMPLE_CONFIG,
    HOW,
    example_producers,
    install_producers,
    producers_of,
)
from sloth_tui.sources.registry import REGISTRY

ALWAYS_NAMES = {"engine", "cli:backup", "cli:secret", "cli:schedule", "secret.get", "dispatch"}
# The sources serve builds with an empty config.toml.
DEFAULT_SOURCES = {"socket", "monitor", "schedules", "secrets"}


def cli(home: Path, *args: str) -> Result:
    return CliRunner().invoke(main, ["--home", str(home), *args])


def configure(home: Path, text: str = EXAMPLE_CONFIG) -> None:
    (home / "config.toml").write_text(text, encoding="utf-8")


def test_a_default_install_has_the_always_present_producers(home: Path) -> None:
    found = install_producers(load_settings(home))
    names = {p.name for p in found.producers}
    assert names == ALWAYS_NAMES | DEFAULT_SOURCES
    assert found.for_type("system.startup") == ("engine",)
    assert found.for_type("security.unauthorized") == ("socket",)
    assert found.for_type("backup.completed") == ("cli:backup",)
    assert found.for_type("restore.failed") == ("cli:backup",)
    assert set(found.for_type("secret.expired")) == {"secrets"}
    assert found.for_type("file.created") == ()  # no watcher configured
    assert found.for_type("task.started") == ()  # no bridge configured
    assert found.for_type("state.locked") == ("engine",)
    assert found.for_type("state.created") == ()  # opt-in: state_events
    covered = set(found.produced_categories())
    assert covered >= {"system", "schedule", "secret", "backup", "security", "custom"}
    assert not covered & {"file", "task", "agent", "workflow", "stack", "deploy"}


def test_the_cli_reports_the_default_install(home: Path) -> None:
    result = cli(home, "event", "types", "--json")
    assert result.exit_code == 0, result.output
    rows = {r["type"]: r for r in json.loads(result.output)}
    assert set(rows) == set(catalog.type_names(extensions=True))
    assert rows["system.startup"]["producers"] == ["engine"]
    assert rows["file.created"]["producers"] == []
    assert rows["schedule.triggered"]["producers"] == ["schedules"]

    table = cli(home, "event", "types", "--category", "file").output.splitlines()
    assert table[0].split()[:3] == ["TYPE", "CATEGORY", "PRODUCER"]
    assert all(line.split()[2] == "-" for line in table[1:])
    configure(home)
    table = cli(home, "event", "types", "--category", "file").output.splitlines()
    assert all(line.split()[2] == "watcher:etc" for line in table[1:])


def test_every_kind_of_source_covers_fourteen_of_sixteen(home: Path) -> None:
    configure(home)
    found = install_producers(load_settings(home))
    kinds = {p.kind for p in found.producers}
    # The example has every kind the registry knows but the demo (not an install's).
    assert kinds >= set(REGISTRY) - {"demo"}
    assert set(REGISTRY) <= set(HOW), "a registry kind without its line in HOW"
    covered = found.produced_categories()
    assert len(catalog.categories()) == 16
    assert len(covered) >= 14, covered
    assert found.for_type("file.modified") == ("watcher:etc",)
    assert found.for_type("process.started") == ("watcher:nginx-up",)
    assert "watcher:ssh" in found.for_type("security.login_failed")
    assert found.for_type("task.failed") == ("sloth-runner",)
    assert found.for_type("db.connected") == ("sloth-runner",)
    assert found.for_type("state.updated") == ("engine:state_events",)
    assert found.for_type("backup.completed") == ("backup", "cli:backup")

    result = cli(home, "event", "producers")
    assert result.exit_code == 0, result.output
    last = result.output.splitlines()[-1]
    assert last == f"{len(covered)} of 16 categories have a producer here"
    assert any(
        line.startswith("file ") and "watcher:etc" in line for line in result.output.splitlines()
    )


def test_the_example_table_is_the_example_config(home: Path) -> None:
    """`event producers --example` (the closing note's table) is what a home configured
    with `--show-example`'s text reports."""
    shown = cli(home, "event", "producers", "--show-example")
    assert shown.output == EXAMPLE_CONFIG
    configure(home, shown.output)
    as_install = cli(home, "event", "producers", "--json")
    as_example = cli(home, "event", "producers", "--example", "--json")
    assert as_install.exit_code == as_example.exit_code == 0
    ours, theirs = json.loads(as_install.output), json.loads(as_example.output)
    assert ours["categories"] == theirs["categories"]
    assert len(theirs["produced_categories"]) >= 14
    assert theirs["seed_categories"] == 16
    assert example_producers().produced_categories() == theirs["produced_categories"]


@pytest.mark.parametrize("kind", [k for k in REGISTRY if k != "demo"])
def test_every_kind_declares_what_it_produces(home: Path, kind: str) -> None:
    configure(home)
    built = [p for p in producers_of(load_settings(home)) if p.kind == kind]
    assert built, f"the example config builds no {kind} source"
    for producer in built:
        assert producer.produces, f"{producer.name} declares no `produces`"
        for pattern in producer.produces:  # each pattern names catalog types
            assert catalog.pattern_matches_catalog(pattern), (producer.name, pattern)
    for producer in ALWAYS:
        for pattern in producer.produces:
            assert catalog.pattern_matches_catalog(pattern), (producer.name, pattern)


def test_the_demo_is_not_an_install_producer(home: Path) -> None:
    settings = load_settings(home)
    asked = producers_of(settings, SourceOptions(demo_rate=1.0))
    assert "demo" in {p.name for p in asked}
    assert "demo" not in {p.name for p in install_producers(settings).producers}


def test_produced_and_unproduced_split_the_catalog(home: Path) -> None:
    configure(home)

    def types(*flags: str) -> list[str]:
        result = cli(home, "event", "types", "--json", *flags)
        assert result.exit_code == 0, result.output
        return [r["type"] for r in json.loads(result.output)]

    produced, unproduced, every = types("--produced"), types("--unproduced"), types()
    assert produced and unproduced
    assert sorted(produced + unproduced) == sorted(every)
    assert "file.created" in produced and "system.warning" in unproduced
    only_file = types("--produced", "--category", "file")
    assert only_file and all(t.startswith(("file.", "dir.")) for t in only_file)


@pytest.mark.parametrize("command", [("event", "types"), ("event", "producers")])
def test_a_bad_config_is_one_line(home: Path, command: tuple[str, ...]) -> None:
    configure(home, '[[watchers]]\nname = "p"\nkind = "process"\nprocess = "x"\ninterval = -1\n')
    result = cli(home, *command)
    assert result.exit_code == 1
    lines = result.output.strip().splitlines()
    assert len(lines) == 1, result.output
    assert "config.toml" in lines[0] and "interval" in lines[0]
    assert "Traceback" not in result.output
