"""Tests for sloth_tui.catalog, checked against the seed event reference."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path

import pytest

from sloth_tui import catalog

_HERE = Path(__file__).resolve()
_SEED_REL = Path("shared") / "seed" / "event-reference.md"
# Dev tree keeps shared/ beside main/; CI copies it to ../shared relative to the repo.
_SEED_CANDIDATES = [_HERE.parents[2] / _SEED_REL, (_HERE.parents[1] / ".." / _SEED_REL).resolve()]

CATEGORY_IDS = [
    "agent", "task", "workflow", "system", "schedule", "state", "secret", "stack",
    "backup", "db", "network", "security", "file", "deploy", "health", "custom",
]  # fmt: skip
_KIND_BY_SUFFIX = {"[]": "list", "{}": "object"}
_SAMPLE_TYPES = {"scalar": (str, int, float, bool, type(None)), "list": list, "object": dict}


@dataclass
class SeedType:
    type: str
    description: str
    fields: list[tuple[str, str]]  # (name without suffix, kind)


@dataclass
class SeedSection:
    title: str
    description: str
    types: list[SeedType]


def _seed_path() -> Path:
    for path in _SEED_CANDIDATES:
        if path.is_file():
            return path
    # A fresh clone has no ../shared beside it: the catalog ships in the package and the
    # other tests check it on its own; only the comparison with the seed waits for the file.
    tried = ", ".join(dict.fromkeys(str(p) for p in _SEED_CANDIDATES))
    pytest.skip(f"seed event reference not found (tried {tried}): catalog not compared with it")


def _parse_seed(text: str) -> list[SeedSection]:
    sections: list[SeedSection] = []
    lines = text.splitlines()
    for i, line in enumerate(lines):
        if m := re.match(r"### \d+\. (.+)", line):
            sections.append(SeedSection(m[1].strip(), lines[i + 1].strip(), []))
        elif line.startswith("| `") and sections:
            name, desc, data = (c.strip() for c in line.strip().strip("|").split("|"))
            fields = []
            for raw in re.findall(r"`([^`]+)`", data):
                kind = _KIND_BY_SUFFIX.get(raw[-2:], "scalar")
                fields.append((raw[:-2] if kind != "scalar" else raw, kind))
            sections[-1].types.append(SeedType(name.strip("`"), desc, fields))
    return sections


def test_catalog_matches_seed() -> None:
    sections = _parse_seed(_seed_path().read_text(encoding="utf-8"))
    assert len(sections) == 16
    assert sum(len(s.types) for s in sections) == 86

    cats = catalog.categories()
    assert [c.name for c in cats] == CATEGORY_IDS
    assert len(catalog.types()) == 86
    for section, cat in zip(sections, cats, strict=True):
        assert cat.title == section.title
        assert cat.description == section.description
        assert [t.type for t in cat.types] == [t.type for t in section.types]
        for seed_type in section.types:
            event = catalog.get(seed_type.type)
            assert event is not None, seed_type.type
            assert event.category == cat.name
            assert catalog.category_of(seed_type.type) == cat.name
            assert event.description == seed_type.description
            assert [(f.name, f.kind) for f in event.fields] == seed_type.fields


def test_seed_order_and_names() -> None:
    names = catalog.type_names()
    assert len(names) == len(set(names)) == 86
    assert names == [t.type for t in catalog.types()]
    assert names == [t.type for c in catalog.categories() for t in c.types]
    assert names[0] == "agent.registered" and names[-1] == "custom"


def test_field_names_distinct_and_complete() -> None:
    names = catalog.field_names()
    assert len(names) == len(set(names))
    assert set(names) == {f.name for t in catalog.types() for f in t.fields}
    for expected in ("agent.name", "failed_tasks", "resources", "payload", "deploy_id"):
        assert expected in names
    assert not any(n.endswith(("[]", "{}")) for n in names)


def test_field_spec_kinds_and_paths() -> None:
    workflow_failed = catalog.get("workflow.failed")
    assert workflow_failed is not None
    failed_tasks = workflow_failed.fields[1]
    assert (failed_tasks.name, failed_tasks.kind) == ("failed_tasks", "list")
    custom = catalog.get("custom")
    assert custom is not None
    assert [(f.name, f.kind) for f in custom.fields] == [
        ("name", "scalar"),
        ("message", "scalar"),
        ("payload", "object"),
    ]
    registered = catalog.get("agent.registered")
    assert registered is not None
    assert registered.fields[0].path == ("agent", "name")
    assert failed_tasks.path == ("failed_tasks",)
    # Catalog objects are hashable even with list/dict samples.
    assert len({*catalog.types()}) == 86


@pytest.mark.parametrize("type_name", catalog.type_names())
def test_sample_data(type_name: str) -> None:
    event = catalog.get(type_name)
    assert event is not None
    data = catalog.sample_data(type_name)
    json.dumps(data)  # must be serialisable

    leaves = 0
    for spec in event.fields:
        assert isinstance(spec.sample, _SAMPLE_TYPES[spec.kind]), spec
        node = data
        for key in spec.path:
            assert isinstance(node, dict) and key in node, (spec.name, data)
            node = node[key]
        assert isinstance(node, _SAMPLE_TYPES[spec.kind]), (spec.name, node)
        assert node == spec.sample
        if spec.kind != "scalar":
            assert node, f"{spec.name}: empty {spec.kind} sample"
        leaves += 1

    def count_leaves(d: dict) -> int:
        nested = [v for k, v in d.items() if isinstance(v, dict) and k not in _object_fields]
        return len(d) - len(nested) + sum(count_leaves(v) for v in nested)

    _object_fields = {f.name for f in event.fields if f.kind == "object"}
    assert count_leaves(data) == leaves  # no extra keys


def test_sample_data_is_fresh_copy() -> None:
    first = catalog.sample_data("custom")
    first["payload"]["service"] = "mutated"
    first["name"] = "mutated"
    again = catalog.sample_data("custom")
    assert again["payload"]["service"] != "mutated" and again["name"] != "mutated"

    wf = catalog.sample_data("workflow.failed")
    wf["failed_tasks"].append("mutated")
    assert "mutated" not in catalog.sample_data("workflow.failed")["failed_tasks"]

    agent = catalog.sample_data("agent.registered")
    agent["agent"]["name"] = "mutated"
    assert catalog.sample_data("agent.registered")["agent"]["name"] != "mutated"


def test_sample_data_examples() -> None:
    assert catalog.sample_data("deploy.failed") == {
        "deploy_id": "deploy-12345",
        "service": "api-server",
        "error": "health check timed out after 30s",
        "rollback_needed": True,
    }
    agent = catalog.sample_data("agent.registered")
    assert set(agent) == {"agent"}
    assert set(agent["agent"]) == {"name", "address", "version"}
    assert set(catalog.sample_data("agent.disconnected")) == {"agent", "last_seen"}


def test_unknown_type() -> None:
    assert catalog.get("nope.nothing") is None
    assert catalog.get("") is None
    assert catalog.sample_data("nope.nothing") == {}
    assert catalog.category_of("billing.invoice_paid") == "billing"
    assert catalog.category_of("deployment_complete") == "deployment_complete"


def test_category_of_known_types() -> None:
    assert catalog.category_of("restore.started") == "backup"
    assert catalog.category_of("dir.created") == "file"
    assert catalog.category_of("db.query_slow") == "db"
    assert catalog.category_of("schedule.missed") == "schedule"
    assert catalog.category_of("health.degraded") == "health"
    assert catalog.category_of("custom") == "custom"
    assert catalog.category_of("deploy.failed") == "deploy"


def test_category_lookup() -> None:
    backup = catalog.category("backup")
    assert backup.title == "Backup Events"
    assert [t.type for t in backup.types] == [
        "backup.started",
        "backup.completed",
        "backup.failed",
        "restore.started",
        "restore.completed",
        "restore.failed",
    ]
    assert catalog.types("backup") == list(backup.types)
    assert [t.type for t in catalog.types("custom")] == ["custom"]
    assert catalog.category("db").title == "Database Events"


def test_unknown_category() -> None:
    with pytest.raises(KeyError, match=r"unknown event category 'nope'.*agent.*custom"):
        catalog.category("nope")
    with pytest.raises(KeyError, match="nope"):
        catalog.types("nope")


def test_returned_lists_are_copies() -> None:
    catalog.categories().clear()
    catalog.types().clear()
    catalog.type_names().clear()
    catalog.field_names().clear()
    assert len(catalog.categories()) == 16
    assert len(catalog.types()) == 86
    assert len(catalog.type_names()) == 86
    assert catalog.field_names()
