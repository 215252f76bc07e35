"""Issue 14 item 5: the event types Sloth Runner emits beyond the seed's 86, in the catalog
as "sloth-runner extension"s, with fields, kinds and samples taken from upstream's source
(internal/hooks/types.go, internal/integration/state_hooks.go, internal/agent/event_*.go)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from hypothesis import given
from hypothesis import strategies as st

from sloth_tui import catalog
from sloth_tui.cli import main
from sloth_tui.engine.engine import Engine
from sloth_tui.engine.events import catalog_warnings, check_event

# What upstream declares or emits beyond the seed, with the data shape it sends.
UPSTREAM: dict[str, tuple[str, list[tuple[str, str]]]] = {
    "stack.snapshot_created": ("stack", [
        ("snapshot.stack_id", "scalar"), ("snapshot.version", "scalar"),
        ("snapshot.created_by", "scalar"), ("snapshot.description", "scalar"),
        ("snapshot.created_at", "scalar")]),
    "stack.rolled_back": ("stack", [
        ("rollback.stack_id", "scalar"), ("rollback.from_version", "scalar"),
        ("rollback.to_version", "scalar"), ("rollback.performed_by", "scalar"),
        ("rollback.timestamp", "scalar")]),
    "stack.rollback_failed": ("stack", [
        ("rollback.stack_id", "scalar"), ("rollback.target_version", "scalar"),
        ("rollback.performed_by", "scalar"), ("rollback.error", "scalar"),
        ("rollback.timestamp", "scalar")]),
    "stack.locked": ("stack", [
        ("lock.stack_id", "scalar"), ("lock.lock_id", "scalar"), ("lock.operation", "scalar"),
        ("lock.who", "scalar"), ("lock.duration", "scalar"), ("lock.locked_at", "scalar")]),
    "stack.unlocked": ("stack", [
        ("lock.stack_id", "scalar"), ("lock.lock_id", "scalar"), ("lock.unlocked_at", "scalar")]),
    "stack.tagged": ("stack", [
        ("tag.stack_id", "scalar"), ("tag.tag", "scalar"), ("tag.added_at", "scalar")]),
    "stack.untagged": ("stack", [
        ("tag.stack_id", "scalar"), ("tag.tag", "scalar"), ("tag.removed_at", "scalar")]),
    "resource.created": ("resource", [
        ("resource.id", "scalar"), ("resource.stack_id", "scalar"), ("resource.type", "scalar"),
        ("resource.name", "scalar"), ("resource.module", "scalar"), ("resource.state", "scalar"),
        ("resource.created_at", "scalar")]),
    "resource.updated": ("resource", [
        ("resource.id", "scalar"), ("resource.stack_id", "scalar"), ("resource.type", "scalar"),
        ("resource.name", "scalar"), ("resource.state", "scalar"),
        ("resource.updated_at", "scalar"), ("previous_state", "scalar")]),
    "resource.deleted": ("resource", [
        ("resource.id", "scalar"), ("resource.stack_id", "scalar"), ("resource.type", "scalar"),
        ("resource.name", "scalar")]),
    "resource.failed": ("resource", [
        ("resource.id", "scalar"), ("resource.stack_id", "scalar"), ("resource.type", "scalar"),
        ("resource.name", "scalar"), ("error", "scalar")]),
    "agent.health_check": ("agent", [
        ("cpu_load", "scalar"), ("cpu_cores", "scalar"), ("memory_used_mb", "scalar"),
        ("disk_used_gb", "scalar"), ("uptime_seconds", "scalar"), ("hostname", "scalar")]),
    "system.memory_high": ("system", [
        ("memory_used_percent", "scalar"), ("memory_used_bytes", "scalar"),
        ("memory_total_bytes", "scalar")]),
    "dir.changed": ("file", [
        ("path", "scalar"), ("old_file_count", "scalar"), ("new_file_count", "scalar"),
        ("watcher_id", "scalar")]),
    "process.started": ("watcher", [("process", "scalar"), ("watcher_id", "scalar")]),
    "process.stopped": ("watcher", [("process", "scalar"), ("watcher_id", "scalar")]),
    "port.opened": ("watcher", [("port", "scalar"), ("watcher_id", "scalar")]),
    "port.closed": ("watcher", [("port", "scalar"), ("watcher_id", "scalar")]),
    "service.status_changed": ("watcher", [
        ("service", "scalar"), ("old_status", "scalar"), ("new_status", "scalar"),
        ("watcher_id", "scalar")]),
    "log.pattern_matched": ("watcher", [
        ("path", "scalar"), ("pattern", "scalar"), ("line", "scalar"), ("watcher_id", "scalar")]),
    "command.output_changed": ("watcher", [
        ("command", "scalar"), ("old_output", "scalar"), ("new_output", "scalar"),
        ("watcher_id", "scalar")]),
    "cpu.high_usage": ("watcher", [
        ("cpu_percent", "scalar"), ("threshold", "scalar"), ("watcher_id", "scalar")]),
    "cpu.low_usage": ("watcher", [
        ("cpu_percent", "scalar"), ("threshold", "scalar"), ("watcher_id", "scalar")]),
    "memory.high_usage": ("watcher", [
        ("memory_percent", "scalar"), ("threshold", "scalar"), ("watcher_id", "scalar")]),
    "disk.high_usage": ("watcher", [
        ("path", "scalar"), ("used_percent", "scalar"), ("threshold", "scalar"),
        ("watcher_id", "scalar")]),
    "custom.triggered": ("watcher", [("watcher_id", "scalar")]),
}  # fmt: skip
EXTENSIONS = list(UPSTREAM)
# Values must be of the scalar's Go type, not only some scalar: a port is a number.
NUMBERS = {"snapshot.version", "rollback.from_version", "rollback.to_version", "port",
           "rollback.target_version", "cpu_percent", "threshold", "memory_percent",
           "used_percent", "old_file_count", "new_file_count", "cpu_load", "cpu_cores",
           "memory_used_mb", "disk_used_gb", "uptime_seconds", "memory_used_percent",
           "memory_used_bytes", "memory_total_bytes"}  # fmt: skip


def test_the_seed_view_is_unchanged() -> None:
    assert len(catalog.types()) == len(catalog.type_names()) == 86
    assert len(catalog.categories()) == 16
    assert not any(catalog.is_extension(t.type) for t in catalog.types())
    assert not any(t.extension for t in catalog.types())
    assert [t.type for t in catalog.types("stack")] == [
        "stack.deployed", "stack.destroyed", "stack.updated", "stack.drift_detected",
        "stack.failed"]  # fmt: skip
    with pytest.raises(KeyError, match="unknown event category 'resource'"):
        catalog.category("resource")


def test_every_upstream_extension_is_in_the_full_view() -> None:
    full = catalog.type_names(extensions=True)
    assert len(full) == len(set(full)) == 86 + len(EXTENSIONS)
    assert [n for n in full if not catalog.is_extension(n)] == catalog.type_names()
    assert sorted(n for n in full if catalog.is_extension(n)) == sorted(EXTENSIONS)
    assert [t.type for t in catalog.types(extensions=True)] == full
    names = [c.name for c in catalog.categories(extensions=True)]
    # upstream's order: resource right after stack; custom stays last
    assert names[names.index("stack") + 1] == "resource"
    assert names[-2:] == ["watcher", "custom"]
    assert [n for n in names if n not in ("resource", "watcher")] == [
        c.name for c in catalog.categories()
    ]
    stack = catalog.category("stack", extensions=True)
    assert stack.extension is None  # a seed category with extension types in it
    assert [t.type for t in stack.types][:5] == [t.type for t in catalog.types("stack")]
    for name in ("resource", "watcher"):
        cat = catalog.category(name, extensions=True)
        assert cat.extension == "sloth-runner" and cat.title and cat.description
        assert catalog.types(name, extensions=True) == list(cat.types)


@pytest.mark.parametrize("type_name", EXTENSIONS)
def test_extension_entry(type_name: str) -> None:
    category, fields = UPSTREAM[type_name]
    spec = catalog.get(type_name)
    assert spec is not None
    assert catalog.is_extension(type_name)
    assert spec.extension == "sloth-runner" and spec.origin == "sloth-runner extension"
    assert spec.category == category == catalog.category_of(type_name)
    assert spec.description
    assert [(f.name, f.kind) for f in spec.fields] == fields
    for f in spec.fields:
        if f.name in NUMBERS:
            assert isinstance(f.sample, int | float) and not isinstance(f.sample, bool), f
        elif f.kind == "scalar":
            assert isinstance(f.sample, str) and f.sample, f


@pytest.mark.parametrize("type_name", EXTENSIONS)
def test_extension_sample_validates_against_its_own_fields(type_name: str) -> None:
    sample = catalog.sample_data(type_name)
    json.dumps(sample)
    assert catalog_warnings(type_name, sample) == []
    checked = check_event(type_name, sample, strict=True)  # strict: any mismatch refuses
    assert checked.warnings == [] and checked.category == UPSTREAM[type_name][0]
    assert catalog.unknown_type_warning(type_name) is None
    # The sample holds what the fields say and nothing else.
    spec = catalog.get(type_name)
    assert spec is not None
    for f in spec.fields:
        node = sample
        for key in f.path:
            node = node[key]
        assert node == f.sample


def test_missing_field_of_an_extension_is_flagged() -> None:
    data = catalog.sample_data("stack.locked")
    del data["lock"]["who"]
    assert catalog_warnings("stack.locked", data) == ["missing field lock.who"]


def test_seed_types_are_not_extensions() -> None:
    for name in ("agent.registered", "custom", "stack.deployed", "dir.created"):
        spec = catalog.get(name)
        assert spec is not None and spec.extension is None and spec.origin == "seed"
        assert not catalog.is_extension(name)
    for name in ("", "nope.nothing", "custom.mine", "resource.exploded"):
        assert not catalog.is_extension(name)


@given(st.text(max_size=40))
def test_is_extension_agrees_with_get(text: str) -> None:
    spec = catalog.get(text)
    assert catalog.is_extension(text) == (spec is not None and spec.extension is not None)


def test_typo_warnings_around_extensions() -> None:
    warn = catalog.unknown_type_warning
    assert warn("stack.lockd") == (
        "unknown type stack.lockd: did you mean stack.locked or stack.unlocked?"
    )
    assert warn("stack.rolled_bak") == (
        "unknown type stack.rolled_bak: did you mean stack.rolled_back?"
    )
    assert warn("resource.creatd") == (
        "unknown type resource.creatd: did you mean resource.created?"
    )
    assert warn("process.startd") == "unknown type process.startd: did you mean process.started?"
    # A prefix only extensions use is not claimed: a user's own names there stay quiet.
    for own in ("log.rotated", "service.deployed", "port.scan_done", "custom.faild", "cpu.x"):
        assert warn(own) is None, own
    # The seed's own warnings are unchanged by the extra names.
    assert warn("deploy.faild") == "unknown type deploy.faild: did you mean deploy.failed?"
    assert warn("sytem.cpu_high") is None  # `sytem` is no category
    assert warn("system.cpu_hgh") == "unknown type system.cpu_hgh: did you mean system.cpu_high?"
    assert catalog.closest_types("stack.untaged")[0] == "stack.untagged"
    assert catalog.pattern_matches_catalog("resource.*")
    assert catalog.pattern_matches_catalog("process.*")


async def test_engine_stores_an_extension_event_without_warnings(engine: Engine) -> None:
    event = await engine.dispatch(
        "resource.updated", catalog.sample_data("resource.updated"), source="test", strict=True
    )
    assert event.category == "resource" and event.warnings == []
    event = await engine.dispatch(
        "port.opened", {"port": 8080, "watcher_id": "w-1"}, source="test", agent="web-01"
    )
    assert event.category == "watcher" and event.warnings == []


# -- `sloth-tui event types` ---------------------------------------------------------------


@pytest.fixture
def cli(home: Path):  # type: ignore[no-untyped-def]
    runner = CliRunner()

    def invoke(*args: str) -> Result:
        return runner.invoke(main, ["--home", str(home), *args], catch_exceptions=False)

    return invoke


def test_event_types_json_marks_extensions(cli) -> None:  # type: ignore[no-untyped-def]
    listed = json.loads(cli("event", "types", "--json").output)
    assert len(listed) == 86 + len(EXTENSIONS)
    by_type = {t["type"]: t for t in listed}
    assert by_type["stack.locked"]["extension"] == "sloth-runner"
    assert by_type["stack.locked"]["category"] == "stack"
    assert by_type["stack.deployed"]["extension"] is None
    assert by_type["port.opened"]["fields"] == [
        {"name": "port", "kind": "scalar"},
        {"name": "watcher_id", "kind": "scalar"},
    ]
    assert {t["type"] for t in listed if t["extension"]} == set(EXTENSIONS)

    resource = json.loads(cli("event", "types", "--category", "resource", "--json").output)
    assert [t["type"] for t in resource] == [
        "resource.created", "resource.updated", "resource.deleted", "resource.failed"]  # fmt: skip
    seed = json.loads(cli("event", "types", "--only", "seed", "--json").output)
    assert len(seed) == 86 and not any(t["extension"] for t in seed)
    ext = json.loads(cli("event", "types", "--only", "extensions", "--json").output)
    assert [t["type"] for t in ext] == [t["type"] for t in listed if t["extension"]]
    stack_ext = cli("event", "types", "--category", "stack", "--only", "extensions", "--json")
    assert len(json.loads(stack_ext.output)) == 7


def test_event_types_text_marks_extensions(cli) -> None:  # type: ignore[no-untyped-def]
    result = cli("event", "types", "--category", "stack")
    assert result.exit_code == 0
    lines = result.output.splitlines()
    assert lines[0].split()[-1] == "ORIGIN"
    locked = next(line for line in lines if line.startswith("stack.locked "))
    assert locked.endswith("sloth-runner extension")
    assert "lock.who" in locked
    deployed = next(line for line in lines if line.startswith("stack.deployed "))
    assert deployed.endswith("seed") and "resources[]" in deployed
    only_seed = cli("event", "types", "--only", "seed").output
    assert "sloth-runner extension" not in only_seed and "stack.deployed" in only_seed
    bad = cli("event", "types", "--only", "upstream")
    assert bad.exit_code == 2 and "--only" in bad.output


def test_every_category_has_a_colour_in_every_shipped_theme() -> None:
    from sloth_tui.tui.themes import FALLBACK_CATEGORY_COLORS, category_colors, load_themes

    shipped = load_themes()
    assert not shipped.errors and {t.name for t in shipped.themes} >= {
        "sloth-dark", "sloth-light", "sloth-contrast"}  # fmt: skip
    names = [c.name for c in catalog.categories(extensions=True)]
    assert set(FALLBACK_CATEGORY_COLORS) == set(names)
    for theme in shipped.themes:
        for name in names:
            assert f"cat-{name}" in theme.variables, (theme.name, name)
        assert category_colors(theme)["watcher"] == theme.variables["cat-watcher"]
